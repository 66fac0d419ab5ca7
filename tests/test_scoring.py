"""Both scorers on real and real-looking model outputs; every example and category of docs/scoring.md."""

import json
from collections import Counter
from pathlib import Path

import pytest

from babilong.scorers import DEFAULT_SCORER, all_scorers, explainers, judge_answer, text_scorers
from babilong.scoring import RULES, babilong_correct, explain, reference_correct

TEXT_SCORERS = list(text_scorers())


def score(output: str, target: str, question: str, task: str) -> dict[str, bool]:
    """Every text scorer's verdict, keyed by scorer name."""
    return {name: judge_answer(output, target, question, task, name) for name in TEXT_SCORERS}

LABELLED_SETS = [Path(__file__).parent / "data" / "scoring" / name
                 for name in ("labelled.jsonl", "heldout.jsonl", "rules2.jsonl")]

# (task, question, target, output, babilong verdict, reference verdict)
CASES = [
    # qa1-qa3 locations
    ("qa1", "Where is Mary?", "kitchen", "kitchen", True, True),
    ("qa1", "Where is Mary?", "kitchen", "Kitchen.", True, True),
    ("qa1", "Where is Mary?", "kitchen", "Mary is in the kitchen.", True, True),
    ("qa1", "Where is Mary?", "kitchen", "The answer is: KITCHEN!", True, True),
    ("qa1", "Where is Mary?", "kitchen", "garden", False, False),
    ("qa1", "Where is Mary?", "kitchen", "Mary went to the garden, then the kitchen.", False, False),
    ("qa1", "Where is Mary?", "kitchen", "Let me think. Mary is in the kitchen.", True, False),
    ("qa1", "Where is Mary?", "kitchen", "", False, False),
    ("qa2", "Where is the apple?", "office", "Answer: office", True, True),
    ("qa2", "Where is the apple?", "office", "office <context> The apple is in the garden", True, True),
    ("qa3", "Where was the milk before the garden?", "hallway", "The milk was in the hallway before the garden.", True, True),
    ("qa3", "Where was the milk before the garden?", "hallway", "bathroom", False, False),
    # qa4: a label in the question is not counted against the answer
    ("qa4", "What is the kitchen south of?", "hallway", "The kitchen is south of the hallway.", True, True),
    ("qa4", "What is west of the bedroom?", "office", "office or bathroom", False, False),
    # qa5: names are capitalised in targets
    ("qa5", "Who received the football?", "Jeff", "Jeff", True, True),
    ("qa5", "Who received the football?", "Jeff", "Jeff received the football from Fred.", True, False),
    ("qa5", "What did Fred give to Jeff?", "apple", "Fred gave the apple to Jeff.", True, True),
    ("qa5", "Who did Mary give the apple to?", "Bill", "bill.", True, True),
    # yes/no: "not" is not "no"
    ("qa6", "Is Sandra in the bedroom?", "no", "No", True, True),
    ("qa6", "Is Sandra in the bedroom?", "no", "I do not know", False, True),
    ("qa6", "Is Sandra in the bedroom?", "yes", "Yes, she is.", True, True),
    ("qa6", "Is Sandra in the bedroom?", "yes", "yes or no", False, False),
    ("qa9", "Is John in the bathroom?", "no", "Nope, cannot say.", False, True),
    ("qa10", "Is Julie in the school?", "maybe", "Maybe.", True, True),
    ("qa10", "Is Julie in the school?", "maybe", "maybe not", True, False),
    # qa7: "none" contains "one"
    ("qa7", "How many objects is Daniel carrying?", "none", "none", True, False),
    ("qa7", "How many objects is Daniel carrying?", "one", "one", True, True),
    ("qa7", "How many objects is Daniel carrying?", "none", "zero", True, False),
    ("qa7", "How many objects is Daniel carrying?", "two", "Daniel is carrying two objects.", True, True),
    ("qa7", "How many objects is Daniel carrying?", "two", "one or two", False, False),
    # qa8: lists in any order, "nothing"
    ("qa8", "What is Mary carrying?", "apple,milk", "apple,milk", True, True),
    ("qa8", "What is Mary carrying?", "apple,milk", "milk, apple", True, True),
    ("qa8", "What is Mary carrying?", "apple,milk", "Mary is carrying the milk and the apple.", True, True),
    ("qa8", "What is Mary carrying?", "apple,milk", "apple", False, False),
    ("qa8", "What is Mary carrying?", "apple,milk", "apple, milk, football", False, False),
    ("qa8", "What is Mary carrying?", "nothing", "Nothing.", True, True),
    ("qa8", "What is Mary carrying?", "football", "football", True, True),
    # qa15 plurals, qa16 spellings
    ("qa15", "What is gertrude afraid of?", "wolf", "wolf", True, True),
    ("qa15", "What is gertrude afraid of?", "wolf", "Gertrude is afraid of wolves.", True, False),
    ("qa15", "What is gertrude afraid of?", "mouse", "cat", False, False),
    ("qa16", "What color is Greg?", "gray", "grey", True, False),
    ("qa16", "What color is Greg?", "white", "Greg is white.", True, True),
    # qa19: paths keep their order; "s, e" equals "s,e"
    ("qa19", "How do you go from the kitchen to the garden?", "s,e", "s,e", True, True),
    ("qa19", "How do you go from the kitchen to the garden?", "s,e", "s, e", True, False),
    ("qa19", "How do you go from the kitchen to the garden?", "s,e", "South, then east.", True, False),
    ("qa19", "How do you go from the kitchen to the garden?", "s,e", "e,s", False, False),
    ("qa19", "How do you go from the kitchen to the garden?", "s,e", "s,e,n", False, False),
    ("qa19", "How do you go from the kitchen to the garden?", "s,e", "south east. s,e", True, False),
    # qa20 and qa14
    ("qa20", "Why did yann go to the kitchen?", "hungry", "He was hungry.", True, True),
    ("qa20", "Where will sumit go?", "garden", "kitchen", False, False),
    ("qa14", "Where was Julie before the school?", "park", "Julie was in the park before the school.", True, True),
]


@pytest.mark.parametrize("task, question, target, output, ours, theirs", CASES)
def test_scorers_on_real_looking_outputs(task, question, target, output, ours, theirs):
    assert babilong_correct(output, target, question, task) is ours
    assert reference_correct(output, target, question, task) is theirs


def test_score_reports_every_scorer():
    assert score("none", "none", "How many objects is Mary carrying?", "qa7") == {"babilong": True, "reference": False}


def test_every_generated_answer_is_scored_right_when_given_as_is():
    from babilong.rng import Rng
    from babilong.tasks import all_tasks

    for name, task in all_tasks().items():
        for i in range(30):
            story = task.generate(Rng("scoring-test", name, i))
            assert babilong_correct(story.answer, story.answer, story.question, name), (name, story.answer)


# The examples table of docs/scoring.md, row by row: real outputs (cut where the doc cuts them)
# from the published BABILong predictions, then the five rows that illustrate other tasks.
# (task, question, target, output, babilong verdict)
DOC_EXAMPLES = [
    ("qa1", "Where is Sandra?", "bathroom",
     "Answer: The most recent location of Sandra is the bathroom.\n\nContext: Sandra moved to the kitchen", True),
    ("qa1", "Where is Daniel?", "garden",
     "Answer: The most recent location of Daniel is the stables.\n\n\nDaniel went to the garden. Mary moved", False),
    ("qa1", "Where is Sandra?", "bathroom",
     "Answer: Sandra went back to the bathroom.\n\nExample:\nDaniel journeyed to the kitchen. As", True),
    ("qa2", "Where is the apple?", "bathroom",
     "- response: Daniel took the apple there. Mary put down the milk there. Daniel travelled to the bathroom", False),
    ("qa3", "Where was the milk before the hallway?", "bedroom",
     "Question: What did John do after the hallway?\n\nQuestion: What did Mary do after the bedroom", False),
    ("qa4", "What is north of the bathroom?", "garden",
     "Answer: hallway\n\n- [Question]: What is south of the hallway?\nAnswer: garden", False),
    ("qa4", "What is north of the office?", "garden",
     "483. The Garden is North of the Office\n\nThe garden is north of the office.", True),
    ("qa5", "What did Fred give to Mary?", "apple",
     "- response: apple\n\nMary moved to the office. Jeff took the football there. Jeff passed the football", True),
    ("qa5", "Who gave the milk to Fred?", "Bill",
     "Answer: Mr. Bill\n\nQuestion: What did the girls do when they were not allowed to go on the sle", True),
    ("qa5", "Who received the football?", "Jeff", "- response: Jeff received the football from Fred.", True),
    ("qa5", "What did Fred give to Bill?", "football",
     'Answer: A football. Mary went back to the garden.\n\n\n[1] "The Sacrament of Pen', True),
    ("qa5", "Who did Mary give the football to?", "Bill",
     "Answer: Mary gave the football to Flounce, the fox-terrier.\n\nQuestion: What did", False),
    ("qa5", "Who gave the milk to Fred?", "Bill",
     "Answer: Bill\n\nQuestion: Who was the man that Mary was introduced to on the piazza?", True),
    ("qa5", "What did Mary give to Bill?", "apple", "A. An apple\nB. A book\nC. A letter\nD. A photograph\n\n-", False),
    ("qa1", "Where is Mary?", "kitchen", "kitchen or garden", False),
    ("qa7", "How many objects is Daniel carrying?", "none", "none", True),
    ("qa6", "Is Sandra in the bedroom?", "no", "I do not know", False),
    ("qa8", "What is Mary carrying?", "apple,milk", "Mary is carrying the milk and the apple.", True),
    ("qa19", "How do you go from the kitchen to the garden?", "s,e", "south, east", True),
]


@pytest.mark.parametrize("task, question, target, output, verdict", DOC_EXAMPLES)
def test_every_example_in_the_rule_document(task, question, target, output, verdict):
    assert babilong_correct(output, target, question, task) is verdict


# The patterns issue 8 lists (real outputs): (task, question, target, output, babilong, reference).
ISSUE_PATTERNS = [
    # the answer, then echoed text that starts with `Context:` (no angle brackets)
    ("qa1", "Where is Sandra? ", "bathroom",
     "Answer: The most recent location of Sandra is the bathroom.\n\nContext: Sandra moved to the kitchen", True, True),
    # the text after the *last* `Answer:` answers an invented question
    ("qa4", "What is north of the bathroom?", "garden",
     "Answer: hallway\n\n- [Question]: What is south of the hallway?\nAnswer: garden", False, False),
    # a non-label answer followed by the target in echoed text
    ("qa1", "Where is Daniel? ", "garden",
     "The most recent location of Daniel is the stables.\n\n\nDaniel went to the garden.", False, False),
    # an option list (the old default read every line and found `apple`; the reference stops at `A.`)
    ("qa5", "What did Mary give to Bill? ", "apple", "A. An apple\nB. A book\nC. A letter", False, False),
    # the default right, the reference wrong: it reads on to the first period and finds `mary`
    ("qa5", "Who gave the milk to Fred? ", "Bill",
     "Answer: Bill\n\nQuestion: Who was the man that Mary was introduced to on the piazza?", True, False),
]


@pytest.mark.parametrize("task, question, target, output, ours, theirs", ISSUE_PATTERNS)
def test_patterns_listed_in_the_issue(task, question, target, output, ours, theirs):
    assert babilong_correct(output, target, question, task) is ours
    assert reference_correct(output, target, question, task) is theirs


# One or more cases per category of the rule, in the document's order.
# (category, task, question, target, output, babilong verdict)
RULE_CATEGORIES = [
    # step 1: markup, quotes and prefixes are skipped, in any case
    ("markup", "qa1", "Where is Mary?", "kitchen", "**kitchen**", True),
    ("markup", "qa1", "Where is Mary?", "kitchen", '"Mary is in the kitchen."', True),
    ("markup", "qa1", "Where is Mary?", "kitchen", "“kitchen”", True),
    ("markup", "qa1", "Where is Mary?", "kitchen", "# kitchen", True),
    ("prefix", "qa1", "Where is Mary?", "kitchen", "Final answer: kitchen", True),
    ("prefix", "qa1", "Where is Mary?", "kitchen", "A: kitchen", True),
    ("prefix", "qa1", "Where is Mary?", "kitchen", "Output: kitchen", True),
    ("prefix", "qa1", "Where is Mary?", "kitchen", "- [Response]: kitchen", True),
    ("prefix", "qa1", "Where is Mary?", "kitchen", "== response ==\nkitchen", True),
    ("prefix", "qa1", "Where is Mary?", "kitchen", "### response: kitchen", True),
    ("prefix", "qa1", "Where is Mary?", "kitchen", "ANSWER: KITCHEN", True),
    ("prefix", "qa5", "Who gave the milk to Fred?", "Jeff", "- ai: Jeff", True),
    ("list marker", "qa1", "Where is Mary?", "kitchen", "- kitchen", True),
    ("list marker", "qa1", "Where is Mary?", "kitchen", "1. Mary is in the kitchen.", True),
    ("repeated question", "qa1", "Where is Mary?", "kitchen", "Question: Where is Mary?\nAnswer: kitchen", True),
    ("repeated question", "qa1", "Where is Mary? ", "kitchen", "Where is Mary? Mary is in the kitchen.", True),
    # step 1: an echoed prompt part or an invented question first: no answer
    ("echo first", "qa1", "Where is Mary?", "kitchen", "Context: Mary went to the kitchen.", False),
    ("echo first", "qa1", "Where is Mary?", "kitchen", "<context> Mary went to the kitchen.", False),
    ("echo first", "qa1", "Where is Mary?", "kitchen", "<example> Mary is in the kitchen.", False),
    ("echo first", "qa1", "Where is Mary?", "kitchen", "Example: Mary is in the kitchen.", False),
    ("echo first", "qa1", "Where is Mary?", "kitchen", "Instruction: answer with the kitchen", False),
    ("invented question", "qa1", "Where is Mary?", "kitchen", "- [Query]: Where is John?\nkitchen", False),
    ("invented question", "qa2", "Where is the football?", "kitchen",
     "Where is the apple?\n\nAnswer: The football is in the kitchen.", False),
    # step 1, the exception: a preface or reasoning, then an explicit answer marker
    ("exception: preface", "qa1", "Where is Mary?", "kitchen", "Based on the facts provided:\n\nAnswer: kitchen", True),
    ("exception: preface", "qa1", "Where is Mary?", "kitchen", "Here is the answer:\nThe answer is: the kitchen.", True),
    ("exception: reasoning", "qa2", "Where is the apple?", "bedroom",
     "Daniel put down the apple.\n\nAnswer: The apple is in the bedroom.", True),
    ("exception: after a role word", "qa2", "Where is the milk?", "office",
     "- response: John took the milk there.\n\nAnswer: The milk is in the office.", True),
    ("exception: not after an answer marker", "qa2", "Where is the milk?", "bedroom",
     "Answer: Mary discarded the milk.\n\n\n\n# response\n\nThe milk is in the bedroom.", False),
    ("exception: not after an answer", "qa4", "What is the bedroom south of?", "garden",
     "- Answer: kitchen\n\n- Answer: garden\n\n- Answer: garden", False),
    ("exception: not after an artifact", "qa5", "Who did Jeff give the apple to?", "Bill",
     "[Decoration]\n\n\nAnswer: Bill\n\n\nQuestion: Who did Mary get the football", False),
    ("exception: not after an invented question", "qa4", "What is north of the bathroom?", "garden",
     "Let me see.\n\nQuestion: What is south of the hallway?\nAnswer: garden", False),
    ("exception: not commentary", "qa1", "Where is Daniel?", "office",
     "Daniel moved.\n\nThe answer is derived from the office records.", False),
    ("R4: reasoning, then a sentence about the asked person", "qa1", "Where is Mary?", "kitchen",
     "Let me think. Mary is in the kitchen.", True),
    ("R4: reasoning, then a sentence about someone else", "qa1", "Where is Mary?", "garden",
     "Let me think. John is in the garden.", False),
    # step 2: where the statement ends
    ("sentence end", "qa1", "Where is Mary?", "kitchen", "Mary is in the kitchen! She went to the garden.", True),
    ("sentence end", "qa1", "Where is Mary?", "kitchen", 'Mary said "I am in the kitchen." She left for the garden.', True),
    ("not a sentence end", "qa5", "Who gave the milk to Fred?", "Bill", "Dr. Bill", True),
    ("not a sentence end", "qa1", "Where is Mary?", "kitchen", "After 2.5 hours Mary is in the kitchen.", True),
    ("blank line", "qa1", "Where is Mary?", "kitchen", "kitchen\n\ngarden", True),
    ("line break and list item", "qa1", "Where is Mary?", "kitchen", "Mary is in the kitchen\n- Mary went to the garden", True),
    ("line break and role prefix", "qa1", "Where is Mary?", "kitchen", "kitchen\nResponse: garden", True),
    ("line break and echo", "qa1", "Where is Mary?", "kitchen", "kitchen\nContext: Mary went to the garden", True),
    ("echo inside the line", "qa1", "Where is Mary?", "kitchen", "kitchen Context: Mary went to the garden", True),
    ("echo inside the line", "qa1", "Where is Mary?", "kitchen", "kitchen </context> garden", True),
    ("echo inside the line", "qa1", "Where is Mary?", "kitchen", "kitchen Question: Where is John? garden", True),
    ("second answer inside the line", "qa1", "Where is Mary?", "kitchen", "kitchen Answer: garden", True),
    ("phrase without punctuation", "qa8", "What is Mary carrying?", "apple,milk", "apple, milk", True),
    # step 2: option lists and hedges
    ("option list", "qa1", "Where is Mary?", "office", "A: Mary is in the office.\nB: Mary is in the hallway.", False),
    ("option list", "qa3", "Where was the milk before the bathroom?", "hallway",
     "Options:\n\nA. hallway\n\nB. kitchen\n\nC. office", False),
    ("option list", "qa5", "Who gave the apple to Fred?", "Jeff", "Options:\n(A) Mary\n(B) Jeff\n(C) Bill", False),
    ("option list: dash items", "qa5", "Who gave the milk?", "Mary", "- Mary\n- Bill\n- Jeff\n- Fred", False),
    ("option list picked", "qa5", "What did Mary give to Bill?", "apple", "A. An apple\nB. A book\n\nAnswer: A", True),
    ("option list picked", "qa5", "What did Mary give to Bill?", "apple", "A. An apple\nB. A book\n\nAnswer: B", False),
    ("option list picked by text", "qa5", "Who gave the milk?", "Mary", "- Mary\n- Bill\n- Jeff\n\n- Answer: Mary", True),
    ("not an option list", "qa1", "Where is Mary?", "hallway",
     "- Answer: The most recent location of Mary is the hallway.\n- Answer: The most recent location", True),
    ("hedge: or", "qa6", "Is Sandra in the bedroom?", "yes", "yes or no", False),
    ("hedge: or", "qa8", "What is Mary carrying?", "apple,milk", "the apple or the milk", False),
    ("hedge: maybe", "qa1", "Where is Mary?", "kitchen", "Kitchen. Maybe the garden.", False),
    ("hedge: possibly", "qa1", "Where is Mary?", "kitchen", "Mary is in the kitchen, or possibly the office.", False),
    ("not a hedge", "qa1", "Where is Mary?", "kitchen", "Kitchen. Mary went there last.", True),
    # step 3: whole words, synonyms
    ("whole words", "qa7", "How many objects is Daniel carrying?", "one", "none", False),
    ("whole words", "qa6", "Is Sandra in the bedroom?", "no", "Sandra is not there", False),
    ("whole words", "qa6", "Is Sandra in the bedroom?", "no", "nothing", False),
    ("whole words", "qa5", "Who did Mary give the football to?", "Fred", "Freddie", False),
    ("synonym qa7", "qa7", "How many objects is Daniel carrying?", "none", "0", True),
    ("synonym qa7", "qa7", "How many objects is Daniel carrying?", "none", "nothing", True),
    ("synonym qa7", "qa7", "How many objects is Daniel carrying?", "none", "Daniel is carrying no objects.", True),
    ("synonym qa7", "qa7", "How many objects is Daniel carrying?", "none", "Daniel is not carrying anything.", True),
    ("synonym qa7", "qa7", "How many objects is Daniel carrying?", "three", "3", True),
    ("synonym qa8", "qa8", "What is Mary carrying?", "nothing", "none", True),
    ("synonym qa8", "qa8", "What is Mary carrying?", "nothing", "Mary is not carrying anything.", True),
    ("synonym qa15", "qa15", "What is emily afraid of?", "mouse", "mice", True),
    ("synonym qa16", "qa16", "What color is Greg?", "gray", "Greg is grey.", True),
    ("synonym qa19", "qa19", "How do you go from the office to the hallway?", "w,s", "west, south", True),
    # step 3: the question's labels, negation, restated facts
    ("question label", "qa3", "Where was the apple before the office?", "kitchen",
     "The apple was in the kitchen before the office.", True),
    ("negation", "qa1", "Where is Mary?", "garden", "Mary is not in the kitchen, she is in the garden.", True),
    ("negation", "qa2", "Where is the apple?", "kitchen", "The apple is no longer in the kitchen.", False),
    ("negation", "qa1", "Where is Mary?", "garden", "Not the kitchen: the garden", True),
    ("negation", "qa1", "Where is Mary?", "garden", "Mary isn't in the kitchen, she is in the garden", True),
    ("qa5 fact: giver", "qa5", "Who gave the apple?", "Fred", "Fred handed the apple to Jeff.", True),
    ("qa5 fact: giver", "qa5", "Who gave the apple to Jeff?", "Fred", "Jeff received the apple from Fred.", True),
    ("qa5 fact: receiver", "qa5", "Who did Jeff give the milk to?", "Fred", "Fred handed the milk to Jeff.", False),
    ("qa5 fact: object", "qa5", "What did Fred give to Jeff?", "apple", "Fred gave the apple to Jeff.", True),
    ("qa5 fact: object with a measure", "qa5", "What did Mary give to Fred?", "milk", "Mary gave Fred a glass of milk.", True),
    ("qa5 fact: passive", "qa5", "Who gave the milk to Fred?", "Bill", "The milk was given to Fred by Bill.", True),
    ("qa5 fact: passive", "qa5", "Who received the football?", "Jeff", "The football was received by Jeff.", True),
    ("qa5 fact: surname", "qa5", "Who received the football?", "Fred", "Fred Shackelford received the football.", True),
    ("qa5 fact: unnamed role", "qa5", "Who gave the football to Jeff?", "Fred",
     "The person who gave the football to Jeff was Fred.", True),
    ("qa4 fact: What is the A DIR of?", "qa4", "What is the kitchen south of?", "hallway",
     "The kitchen is south of the hallway.", True),
    ("qa4 fact: What is DIR of the A?", "qa4", "What is north of the office?", "garden", "The garden is north of the office.", True),
    ("qa4 fact: inverted", "qa4", "What is north of the office?", "garden", "The office is north of the garden.", False),
    ("qa4 fact: inverted", "qa4", "What is the office south of?", "kitchen", "The kitchen is south of the office.", False),
    ("qa4 fact: the other way round", "qa4", "What is north of the office?", "garden", "The office is south of the garden.", True),
    # step 4: the comparison
    ("one target", "qa1", "Where is Mary?", "kitchen", "Mary went to the garden and then the kitchen", False),
    ("list target", "qa8", "What is Mary carrying?", "apple,milk", "milk, apple and milk", True),
    ("list target", "qa8", "What is Mary carrying?", "apple,milk", "apple", False),
    ("path", "qa19", "How do you go from the kitchen to the garden?", "s,e", "s e", True),
    ("path", "qa19", "How do you go from the kitchen to the garden?", "s,e", "south, east: s,e", True),
    ("path", "qa19", "How do you go from the kitchen to the garden?", "s,e", "east, south", False),
    ("yes/no: first label", "qa6", "Is Sandra in the bedroom?", "yes", "Yes, she is. No doubt.", True),
    ("yes/no: first label", "qa6", "Is Sandra in the bedroom?", "no", "No.", True),
    ("qa10 maybe", "qa10", "Is Julie in the school?", "maybe", "Maybe.", True),
    ("empty", "qa1", "Where is Mary?", "kitchen", "", False),
    ("empty", "qa1", "Where is Mary?", "kitchen", "Answer:", False),
    ("no label, then a label in echoed text", "qa2", "Where is the apple?", "kitchen",
     "Daniel took the apple there.\n\nContext: The apple is in the kitchen.", False),
    ("no label, then a non-label answer", "qa1", "Where is Daniel?", "garden",
     "Answer: The most recent location of Daniel is the stables.\n\n\nDaniel went to the garden.", False),
    ("only the question's label", "qa5", "What did Mary give to Fred?", "apple",
     "- response: Fred\n\n- support: Mary gave an apple to Fred.", False),
]

# The rules R1-R7 of docs/scoring.md, on the real outputs the document quotes (P3 = Phi-3-mini-128k-instruct).
ISSUE_20_RULES = [
    # R1: three story sentences in a row open the turn: the context continued
    ("R1", "qa3", "Where was the apple before the bedroom?", "kitchen",
     "Mary journeyed to the kitchen. Daniel journeyed to the office. Mary went to the bedroom. Mary went to the", False),
    ("R1", "qa5", "Who received the apple?", "Jeff", "Jeff took the apple. Bill got the apple. Jeff dropped the apple.", False),
    ("R1", "qa2", "Where is the milk?", "bedroom",
     "- response: Daniel got the milk there. Daniel put down the milk. Mary moved to the garden. Mary got", False),
    ("R1: unless a conclusion follows", "qa2", "Where is the milk?", "garden",
     "Daniel got the milk there. Daniel put down the milk. Mary moved to the garden. So, the milk is in the garden.", True),
    ("R1: two story sentences are not a story", "qa2", "Where is the football?", "bathroom",
     "- response: Daniel journeyed to the bathroom. Sandra went to the bathroom. John went back", True),
    # R2: conclusions
    ("R2", "qa2", "Where is the milk?", "office", "Answer: John took the milk there. So, the milk is at the office.", True),
    ("R2", "qa2", "Where is the football?", "kitchen",
     "- response: John took the football there. John went to the kitchen. Therefore, the football is in the kitchen", True),
    ("R2: cut off", "qa2", "Where is the apple?", "bedroom",
     "- response: Daniel got the apple there. Daniel moved to the bedroom. Therefore, the apple is in the", False),
    ("R2: only a negated place", "qa2", "Where is the apple?", "kitchen",
     "- response: Daniel discarded the apple. Therefore, the apple is no longer in the kitchen with Daniel.", False),
    ("R2: a conclusion naming no place, then the answer", "qa2", "Where is the milk?", "bedroom",
     ("Based on the context provided, the milk was first obtained by Daniel in the bedroom. Therefore, the milk remains "
      "in the location where it was left.\n\nThe milk is in the bedroom."), True),
    ("R2: not inside a sentence", "qa2", "Where is the milk?", "office", "The milk is in the office and so is Mary.", True),
    # R4: reasoning steps before the answer
    ("R4", "qa2", "Where is the apple?", "hallway", "- response: Mary put down the apple there.\n\nThe apple is in the hallway.", True),
    ("R4", "qa2", "Where is the milk?", "bathroom", "Answer: John grabbed the milk there.\n\nThe milk is in the bathroom.", True),
    ("R4: a pronoun", "qa2", "Where is the milk?", "bathroom", "Answer: Mary dropped the milk. It was in the kitchen.", False),
    ("R4: a pronoun", "qa2", "Where is the milk?", "kitchen", "Answer: Mary dropped the milk. It was in the kitchen.", True),
    ("R4: a single * item", "qa2", "Where is the apple?", "kitchen",
     "Daniel picked up the apple.\n\n     * The apple is in the kitchen. Daniel moved to the kitchen. *", True),
    ("R4: the turn ends at an invented question", "qa2", "Where is the milk?", "hallway",
     "Answer: Mary discarded the milk.\n\nQuestion: What did Alfred do with the hallway?", False),
    ("R4: about someone else", "qa2", "Where is the milk?", "garden", "Daniel took the milk. Mary moved to the garden.", False),
    # R5: qa3, the place the object was in
    ("R5", "qa3", "Where was the football before the bedroom?", "office",
     "- response: The football was in the bedroom before it was moved to the office by John.", False),
    ("R5", "qa3", "Where was the football before the hallway?", "bathroom",
     "Answer: The football was in the hallway before the hallway.", False),
    ("R5", "qa3", "Where was the football before the garden?", "hallway",
     "Answer: The football was in the hallway before it went to the garden.", True),
    ("R5", "qa3", "Where was the apple before the office?", "bathroom", "Before the office, the apple was in the bathroom.", True),
    # R6: - and * lists
    ("R6", "qa2", "Where is the milk?", "garden", "- The milk is in the garden.\n\n- The milk is in the kitchen.\n\n- The milk", False),
    ("R6: one candidate", "qa3", "Where was the milk before the hallway?", "kitchen",
     "- The milk was in the kitchen before the hallway.\n\n- Daniel left the apple in the garden.", True),
    ("R6: a pick after the list", "qa5", "Who gave the apple to Jeff?", "Mary", "- Mary\n\n- Tom\n\n- Fred\n\n- Jeff\n\n- Answer: Mary", True),
    ("R6: a label and a non-label", "qa4", "What is north of the bedroom?", "kitchen", "- The kitchen\n- The street\n- The river", False),
    ("R6: a cut-off item", "qa3", "Where was the apple before the bathroom?", "hallway",
     "- Before the bathroom, the apple was in the hallway.\n- Before the bathroom, the apple", True),
    # R7: closed sentence ends
    ("R7", "qa1", "Where is Sandra?", "kitchen", '[Illustration: "A LITTLE \'NEW WOMAN." Sandra moved to the kitchen.', False),
    ("R7", "qa5", "Who received the football?", "Bill",
     'Solution:\n\nThe text states that "Fred handed the football to Bill." This clearly indicates that', True),
    # an answer taken back
    ("taken back", "qa4", "What is north of the office?", "garden",
     '- assistant: garden\n\nHowever, based on the context provided, the correct answer should be "bedroom."', False),
]


@pytest.mark.parametrize("category, task, question, target, output, verdict", RULE_CATEGORIES,
                         ids=[f"{case[0]}: {case[4][:30]}" for case in RULE_CATEGORIES])
def test_every_category_of_the_rule(category, task, question, target, output, verdict):
    assert babilong_correct(output, target, question, task) is verdict


@pytest.mark.parametrize("rule, task, question, target, output, verdict", ISSUE_20_RULES,
                         ids=[f"{case[0]}: {case[4][:30]}" for case in ISSUE_20_RULES])
def test_the_rules_of_issue_20(rule, task, question, target, output, verdict):
    assert babilong_correct(output, target, question, task) is verdict


def test_scorers_are_versioned():
    assert TEXT_SCORERS == ["babilong", "reference"] and DEFAULT_SCORER in TEXT_SCORERS
    assert all(scorer.version for scorer in all_scorers().values())
    assert set(explainers()) == set(TEXT_SCORERS)


@pytest.mark.parametrize("labelled", LABELLED_SETS, ids=lambda path: path.name)
def test_default_scorer_meets_the_bar_on_the_labelled_sets(labelled):
    """>= 99% agreement with the hand labels, and better than `reference`, in each stratum.

    A set drawn by kind of output (rules2.jsonl: 40 rows a kind, each row's `stratum` its kind) is held to
    99% as a whole, since 99% of a 40-row kind would be all of it; `babilong` still beats `reference` in each kind.
    """
    agreed: Counter[tuple[str, str]] = Counter()
    counted: Counter[str] = Counter()
    for line in labelled.read_text().splitlines():
        row = json.loads(line)
        if row["label"] == "ambiguous":
            continue
        counted[row["stratum"]] += 1
        verdicts = score(row["output"], row["target"], row["question"], row["task"])
        for name, verdict in verdicts.items():
            agreed[row["stratum"], name] += verdict == (row["label"] == "correct")
    assert counted, "the labelled set has no non-ambiguous rows"
    by_kind = not set(counted) <= {"disagree", "agree"}
    if by_kind:
        ours = sum(agreed[stratum, DEFAULT_SCORER] for stratum in counted)
        assert ours >= 0.99 * counted.total(), f"{DEFAULT_SCORER} agrees on {ours}/{counted.total()}"
    for stratum, total in counted.items():
        ours, theirs = agreed[stratum, DEFAULT_SCORER], agreed[stratum, "reference"]
        if not by_kind:
            assert ours >= 0.99 * total, f"{stratum}: {DEFAULT_SCORER} agrees on {ours}/{total}"
        assert ours > theirs, f"{stratum}: {DEFAULT_SCORER} {ours} vs reference {theirs} of {total}"


# ---- explanations: the same code makes the verdict and says why ----

EXPLAINED = [  # (task, question, target, output, verdict, rule, statement, labels)
    ("qa1", "Where is Mary?", "kitchen", "Answer: Mary is in the kitchen.\n\nContext: ...", True, "labels",
     "Mary is in the kitchen", ("kitchen",)),
    ("qa1", "Where is Mary?", "kitchen", "kitchen or garden", False, "hedge", "kitchen or garden", ("kitchen", "garden")),
    ("qa1", "Where is Mary?", "garden", "Mary is not in the kitchen, she is in the garden.", True, "negation",
     "Mary is not in the kitchen, she is in the garden", ("garden",)),
    ("qa1", "Where is Mary?", "kitchen", "Context: Mary went to the kitchen.", False, "echoed_prompt", None, ()),
    ("qa3", "Where was the milk before the hallway?", "bedroom", "Question: What did John do after the hallway?",
     False, "invented_question", None, ()),
    ("qa5", "What did Mary give to Bill?", "apple", "A. An apple\nB. A book\nC. A letter", False, "option_list", None, ()),
    ("qa5", "What did Mary give to Bill?", "apple", "A. An apple\nB. A book\nAnswer: A", True, "labels", "An apple", ("apple",)),
    ("qa5", "Who received the football?", "Jeff", "- response: Jeff received the football from Fred.", True,
     "restated_fact", "Jeff received the football from Fred", ("jeff",)),
    ("qa4", "What is the kitchen south of?", "hallway", "The kitchen is south of the hallway.", True, "restated_fact",
     "The kitchen is south of the hallway", ("hallway",)),
    ("qa3", "Where was the milk before the garden?", "hallway", "The milk was in the hallway, then the garden", True,
     "restated_fact", "The milk was in the hallway, then the garden", ("hallway",)),
    ("qa3", "Where was the milk before the garden?", "hallway", "The milk was in the garden before the hallway", False,
     "restated_fact", "The milk was in the garden before the hallway", ("garden",)),
    ("qa4", "What is the kitchen south of?", "hallway", "The kitchen and the hallway", True,
     "question_label", "The kitchen and the hallway", ("hallway",)),
    ("qa2", "Where is the apple?", "bathroom", "- response: Daniel took the apple there. Mary put down the milk there.",
     False, "no_label", "Daniel took the apple there", ()),
    ("qa1", "Where is Mary?", "kitchen", "", False, "empty", "", ()),
    ("qa2", "Where is the apple?", "bedroom", "Daniel put down the apple.\nAnswer: The apple is in the bedroom.", True,
     "reasoning_steps", "The apple is in the bedroom", ("bedroom",)),
    ("qa2", "Where is the apple?", "kitchen", "Daniel took the apple. Therefore, the apple is in the kitchen.", True,
     "conclusion", "Therefore, the apple is in the kitchen", ("kitchen",)),
    ("qa2", "Where is the apple?", "kitchen", "Daniel took the apple. Therefore, the apple is in the", False,
     "conclusion_without_answer", None, ()),
    ("qa2", "Where is the milk?", "bedroom", "Daniel got the milk. Daniel put down the milk. Mary moved to the garden.",
     False, "story_continued", None, ()),
    ("qa4", "What is north of the office?", "garden", "garden\n\nHowever, the correct answer should be bedroom.", False,
     "taken_back", "garden", ("garden",)),
]


@pytest.mark.parametrize("task, question, target, output, verdict, rule, statement, labels", EXPLAINED)
def test_explain_names_the_rule_the_statement_and_the_labels(task, question, target, output, verdict, rule, statement, labels):
    explanation = explain(output, target, question, task)
    assert (explanation.correct, explanation.rule, explanation.statement, explanation.labels) == (
        verdict, rule, statement, labels)
    assert explanation.reason == RULES[rule]
    if statement is not None:
        start, end = explanation.span
        assert output[start:end] == statement  # the span points at the statement inside the raw output


def test_explain_says_when_the_answer_came_after_a_preface():
    explanation = explain("Daniel put down the apple.\nAnswer: The apple is in the bedroom.", "bedroom",
                          "Where is the apple?", "qa2")
    assert any("preface or reasoning" in note for note in explanation.notes)


@pytest.mark.parametrize("labelled", LABELLED_SETS, ids=lambda path: path.name)
def test_every_explanation_agrees_with_its_verdict_and_points_into_the_output(labelled):
    for line in labelled.read_text().splitlines():
        row = json.loads(line)
        args = (row["output"], row["target"], row["question"], row["task"])
        for name, explainer in explainers().items():
            explanation = explainer(*args)
            assert explanation.correct is judge_answer(*args, name)
            assert explanation.rule in RULES
            if explanation.span is not None and name == DEFAULT_SCORER:
                assert row["output"][slice(*explanation.span)] == explanation.statement, row["id"]
