"""Whether a model's answer is right. Two scorers:

``babilong`` (default) finds the answer statement the model commits to and compares the labels
it names with the target, as written in docs/scoring.md (the code follows that document, step
by step). ``reference`` reproduces the published procedure exactly, defects included, so
numbers line up with the public leaderboard.

Each verdict comes with its reasons from the same code: ``explain`` (and ``explain_reference``)
make the decision and say what it rests on; ``babilong_correct`` is ``explain(...).correct``.
Both are registered as record scorers in ``babilong.scorers``; what a task's own answers need
beyond these general rules (restated facts, paths) is the task's ``AnswerGrammar``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from babilong.tasks import all_tasks, get_task


def task_labels(task: str) -> tuple[str, ...]:
    """The labels a task's answers are made of, from the task's own module (babilong/tasks)."""
    return get_task(task).labels


class _TaskTable(Mapping[str, Any]):
    """A read-only view of one field of every task, keyed by task name (for code that wants a table)."""

    def __init__(self, field: str) -> None:
        self._field = field

    def __getitem__(self, task: str) -> Any:
        if task not in all_tasks():
            raise KeyError(task)
        return getattr(all_tasks()[task], self._field)

    def __iter__(self) -> Iterator[str]:
        return iter(all_tasks())

    def __len__(self) -> int:
        return len(all_tasks())


LABELS: Mapping[str, tuple[str, ...]] = _TaskTable("labels")
# Other spellings of a label the babilong scorer accepts (word -> label).
SYNONYMS: Mapping[str, Mapping[str, str]] = _TaskTable("synonyms")
# Several-word spellings, replaced by their label before words are read.
PHRASE_SYNONYMS: Mapping[str, Mapping[str, str]] = _TaskTable("phrase_synonyms")

# Stored verdicts carry these (babilong.scorers registers both scorers): bump a scorer's version
# whenever any of its verdicts can change.
BABILONG_VERSION = "3"
REFERENCE_VERSION = "1"


@dataclass(frozen=True)
class Explanation:
    """A scorer's verdict and what it rests on: the statement it read, the labels in it, the deciding rule."""

    correct: bool
    rule: str  # a key of RULES
    statement: str | None  # the answer statement read (None: the model gave none)
    span: tuple[int, int] | None  # where ``statement`` sits in the output
    labels: tuple[str, ...] = ()  # the labels read from the statement
    notes: tuple[str, ...] = ()  # how the statement was found and read

    @property
    def reason(self) -> str:
        return RULES[self.rule]

    def to_dict(self) -> dict[str, Any]:
        return {"correct": self.correct, "rule": self.rule, "reason": self.reason, "statement": self.statement,
                "span": list(self.span) if self.span else None, "labels": list(self.labels), "notes": list(self.notes)}


# The rules that decide a verdict, as docs/scoring.md names them (the step in brackets).
RULES: dict[str, str] = {
    "echoed_prompt": "the output opens with an echoed prompt part (Context:, <context>, Example: ...): no answer [step 1]",
    "invented_question": "the output opens with a question other than the one asked: no answer [step 1]",
    "option_list": "an option list with no pick after it: candidates, not an answer [step 2, R6]",
    "hedge": "two different labels offered (joined by 'or', or another one as a possibility next): no choice [step 2]",
    "empty": "the answer statement is empty [step 3]",
    "no_label": "the answer statement names no label [step 3]",
    "restated_fact": "a restated qa3/qa4/qa5 fact, read by the role the question asks for [step 3, R5]",
    "negation": "negated labels are not named ('not in the kitchen') [step 3]",
    "question_label": "labels the question names are ignored [step 3]",
    "labels": "the labels the answer statement names, compared with the target [step 4]",
    "story_continued": "three or more story sentences in a row open the turn and no conclusion or answer marker "
                       "follows: the context continued, no answer [R1]",
    "conclusion": "the first Therefore/So/Thus... conclusion naming a label is the answer; what comes before it is "
                  "reasoning [R2]",
    "conclusion_without_answer": "every conclusion names no label and no answer follows it in the turn [R2]",
    "reasoning_steps": "the opening statement names no label (a reasoning step): the answer is the first later "
                       "sentence of the turn that answers the question [R4]",
    "taken_back": "the next sentence takes the answer back for another label ('However, ... should be ...') [step 2]",
    "reference": "labels found as substrings before the first '.' (or <context>/<example>), minus those in the "
                 "question; right iff exactly the target (the published procedure)",
}


def reference_correct(output: str, target: str, question: str, task: str) -> bool:
    """The published procedure (docs/scoring.md, its opening list), defects kept on purpose."""
    return explain_reference(output, target, question, task).correct


def explain_reference(output: str, target: str, question: str, task: str) -> Explanation:
    """The published procedure's verdict, with the text it read and the labels it found there."""
    labels = task_labels(task)
    text = output.lower().split(".")[0].split("<context>")[0].split("<example>")[0]
    in_question = {label for label in labels if label in question.lower()}
    found = {label for label in labels if label in text} - in_question
    target = target.lower()  # qa5 targets are names ("Fred") while labels are lowercase
    if "," in target and len(target) > 3:
        items = target.split(",")
        correct = all(item in found for item in items) and len(found) == len(items)
    else:
        correct = target in found and len(found) == 1
    return Explanation(correct, "reference", output[:len(text)], (0, len(text)), tuple(sorted(found)))


def babilong_correct(output: str, target: str, question: str, task: str) -> bool:
    """Right iff the answer statement the model commits to names exactly the target (docs/scoring.md)."""
    return explain(output, target, question, task).correct


def explain(output: str, target: str, question: str, task: str) -> Explanation:
    """The default scorer's decision (docs/scoring.md, steps 1-4 and R1-R7) and what it rests on."""
    found = _find_statement(output, question, task)
    statement = found.statement
    if statement is None:
        return Explanation(False, found.rule, None, None, (), found.notes)
    span = (statement.start, statement.start + len(statement.text))
    reading = _read_labels(statement.text, question, task)
    labels, notes = tuple(reading.labels), found.notes + reading.notes
    if found.rule == "taken_back" or is_hedge(statement, task):
        return Explanation(False, found.rule or "hedge", statement.text, span, labels, notes)
    correct = matches_target(reading.labels, target, task)
    if not reading.labels and reading.rule == "labels":
        rule = "no_label" if statement.text.strip() else "empty"
    else:
        rule = reading.rule if reading.rule != "labels" else found.rule or "labels"
    return Explanation(correct, rule, statement.text, span, labels, notes + (_comparison_note(task),))


def _comparison_note(task: str) -> str:
    grammar = get_task(task).grammar
    if grammar.matches is not None:
        return grammar.comparison
    if set(task_labels(task)) <= {"yes", "no", "maybe"}:
        return "compared by the first label word"
    return "compared as a set: exactly the target's labels, nothing else"


# ---------------------------------------------------------------------------------------------
# Steps 1 and 2: where the answer starts, and the answer statement.

@dataclass(frozen=True)
class Statement:
    """The answer statement, and the sentence after it when the statement ended at a sentence end."""

    text: str
    next_sentence: str = ""
    start: int = 0  # where ``text`` starts in the output


_IGNORE = re.IGNORECASE
_MARKUP = re.compile(r"(?:\s|\*\*|__|`|#+|[\"'“”‘’]|={2,}|-{3,}|\*{3,})+")
# Prefixes that open the model's reply (`Answer:`, `- [Response]:`, `== response ==`, `### answer`).
# The answer markers among them commit to an answer; the role words only say who speaks.
_ANSWER_WORDS = r"final\s+answer|helpful\s+answer|the\s+answer\s+is|the\s+answer|answer"
_ROLE_WORDS = r"response|reply|output|assistant|ai|solution"
_PREFIX = re.compile(
    r"[-*•]?[ \t]*[\[(#=*_ \t]*"
    r"(?:(?:(?P<answer>" + _ANSWER_WORDS + r")|(?P<role>" + _ROLE_WORDS + r"))"
    r"[ \t]*[\])#=*_ \t]*(?::+|(?=[ \t]*(?:\n|\Z))|(?<=[\])=])[ \t])"
    r"|(?P<letter>a)[ \t]*[\])]?[ \t]*:"
    r"|(?P<the_answer_is>the\s+answer\s+is)\b)",
    _IGNORE,
)
_LIST_MARKER = re.compile(r"(?:[-*•]|\d+[.)])[ \t]+")
_BULLET = re.compile(r"^[ \t]*[-*•][ \t]+(?P<text>\S.*)$")
_ECHO = r"<context>|</context>|<example>|</example>|<question>|context\s*:|example\s*:|instruction\s*:"
_ECHO_START = re.compile(r"[-*•]?[ \t]*[\[(]?[ \t]*(?:" + _ECHO + r")", _IGNORE)
_QUESTION_LEAD = r"[-*•]?[ \t]*[\[(]?[ \t]*(?:question|query|q)[ \t]*[\])]?[ \t]*:"
_INVENTED_QUESTION = re.compile(_QUESTION_LEAD, _IGNORE)
# An explicit answer marker later in the output (the exception of step 1).
_ANSWER_MARKER = re.compile(
    r"(?:final\s+answer|answer)[ \t]*[\])#=*]*[ \t]*:"
    r"|^[ \t]*[-*#\[(]*[ \t]*answer[ \t]*[\])#]*[ \t]*$"
    r"|the\s+answer\s+is\b[ \t]*(?::|(?=(?:(?:in|at)\s+)?(?:the\s+)?\w+[ \t]*(?:[.!?\n]|\Z)))",  # not "the answer is derived from"
    _IGNORE | re.MULTILINE,
)
_MARKER_BLOCKER = re.compile(_ECHO + r"|\b(?:question|query)[ \t]*[\])]?[ \t]*:", _IGNORE)
# Where an answer statement ends (step 2). Closing quotes or brackets after the mark belong to the sentence.
_SENTENCE_END = re.compile(r"(?<!\bmr)(?<!\bmrs)(?<!\bms)(?<!\bdr)(?<!\bst)[.!?][\"'”’)\]]*(?=\s|\Z)", _IGNORE)
_LINE_BREAK_STOP = re.compile(
    r"\n[ \t]*\n|\n(?=[ \t]*(?:[-*•][ \t]|\d+[.)][ \t]|\(?[a-d][.)][ \t]|(?:" + _ECHO + r")|" + _QUESTION_LEAD + r"))"
    r"|\n(?=" + _PREFIX.pattern + r")",
    _IGNORE,
)
_INLINE_STOP = re.compile(_ECHO + r"|question\s*:|answer\s*:", _IGNORE)
_OPTION = re.compile(r"^[ \t]*[*_]*\(?(?P<key>[a-d]|[1-9])[.):][ \t]+(?P<text>\S.*)$", _IGNORE)
_PREFIXED_ITEM = re.compile(r"^[ \t]*[-*•][ \t]+(?=" + _PREFIX.pattern + r")", _IGNORE | re.MULTILINE)
_VERBS = frozenset({"was", "is", "were", "are"})  # an item with one is a statement, not a bare phrase
_CUT_OFF = re.compile(r"\b(?:the|an?|of|in|at|to|from|by|with|and|or|was|is|were|are|before|after)\W*$", _IGNORE)
_OPTION_PICK = re.compile(
    r"(?:final\s+answer|answer)(?:\s+is)?[ \t]*[\])#=*]*[ \t]*:?[ \t]*(?:option[ \t]+)?\(?(?P<key>[a-d]|[1-9])(?:[.):]|[ \t]*$)",
    _IGNORE | re.MULTILINE,
)


@dataclass(frozen=True)
class _Found:
    """Steps 1-2: the answer statement, or the rule that says there is none."""

    statement: Statement | None
    rule: str = ""
    notes: tuple[str, ...] = ()


def answer_statement(output: str, question: str, task: str) -> Statement | None:
    """The answer statement the model commits to (steps 1-2), or None when it gives none."""
    return _find_statement(output, question, task).statement


def _find_statement(output: str, question: str, task: str) -> _Found:
    options = _option_list(output, question, task)
    if options is not None:
        picked = _picked_option(output, options)
        if picked is None:
            return _Found(None, "option_list")
        return _Found(picked, notes=("an option list; the answer is the option picked after it",))
    start, _ = _skip_opening(output, 0, question)
    rest = output[start:]
    if non_answer := _non_answer(rest):
        return _Found(None, non_answer)
    sentences = _sentences(output, start, _turn_end(output, start, question), question)
    if not sentences:
        return _Found(_cut_statement(rest, start))
    return _answer_in_turn(sentences, question, task)


def _skip_opening(text: str, position: int, question: str) -> tuple[int, bool]:
    """Skip what comes before the answer (step 1); also say whether an answer marker was among it."""
    asked = _repeated_question(question)
    opened_with_answer = False
    while True:
        before = position
        if markup := _MARKUP.match(text, position):
            position = markup.end()
        if (prefix := _PREFIX.match(text, position)) and prefix.end() > position:
            opened_with_answer = opened_with_answer or not prefix.group("role")
            position = prefix.end()
        elif (marker := _LIST_MARKER.match(text, position)) and marker.end() > position:
            position = marker.end()
        elif asked and (repeat := asked.match(text, position)):
            position = repeat.end()
        if position == before:
            return position, opened_with_answer


@lru_cache(maxsize=4096)
def _repeated_question(question: str) -> re.Pattern[str] | None:
    """A pattern for the asked question repeated by the model, with or without `Question:`."""
    words = question.strip().rstrip("?").split()
    if not words:
        return None
    body = r"\s+".join(re.escape(word) for word in words)
    return re.compile(r"(?:" + _QUESTION_LEAD + r"[ \t]*)?" + body + r"[ \t]*\?", _IGNORE)


def _non_answer(text: str) -> str | None:
    """The rule that applies when the text opens with an echoed prompt part or a question other than the one asked."""
    if _ECHO_START.match(text):
        return "echoed_prompt"
    if _INVENTED_QUESTION.match(text) or text[:_statement_end(text) + 1].rstrip().endswith("?"):
        return "invented_question"
    return None


# ---------------------------------------------------------------------------------------------
# The turn and the sentences in it (R1-R4): which sentence is the answer statement.

# A line that opens a new speaker's turn (`# response`, `- [Response]:`, `- ai: Fred`).
_ROLE_LINE = re.compile(
    r"\n[ \t]*[-*•]?[ \t]*[\[(#=*_ \t]*(?:" + _ROLE_WORDS + r")[ \t]*[\])#=*_ \t]*(?::|(?=[ \t]*(?:\n|\Z)))", _IGNORE)
_CONCLUSION = re.compile(r"(?:therefore|so|thus|hence|consequently|in\s+conclusion|this\s+means)\b|now\s*,", _IGNORE)
_TAKE_BACK = re.compile(r"(?:however|actually|wait|correction)\b", _IGNORE)  # not `But`: often more detail
# A story fact: a name, a story verb and its place, object or receiver (`Mary put down the apple there`), or a qa4 fact.
_STORY_ACT = (r"(?:moved|went|journeyed|travell?ed)(?:\s+back)?\s+to\s+the\s+\w+"
              r"|(?:got|took|picked\s+up|grabbed|put\s+down|dropped|discarded|left|received)\s+the\s+\w+"
              r"|(?:gave|passed|handed)\s+(?:the\s+\w+\s+to\s+\w+|\w+\s+the\s+\w+)")
_STORY_SENTENCE = re.compile(
    r"(?!(?:The|It|He|She|They|This|That|There|Then|Answer|Therefore)\b)[A-Z][a-z]+\s+(?:" + _STORY_ACT + r")\b"
    r"|the\s+\w+\s+is\s+(?:north|south|east|west)\s+of\s+the\s+\w+")
_LINE_END_COLON = re.compile(r":[ \t*_#]*(?=\n)")
_ASKED = (  # the question -> who or what it asks about
    re.compile(r"^where\s+(?:is|was)\s+(?:the\s+)?(\w+)"),  # qa1 person, qa2 and qa3 object
    re.compile(r"^what\s+is\s+(\w+)\s+carrying"),  # qa8 person
    re.compile(r"^what\s+is\s+the\s+(\w+)\s+(?:north|south|east|west)\s+of"),  # qa4 place
)
_PLACED = re.compile(r"\b(?:is|was)\s+(?:(?:in|at|inside)\s+)?(?:the\s+)?[\w-]+$")
_ABOUT = r"(?:the\s+)?(?:(?:most\s+recent|current|last|final|latest)\s+)?(?:location|place|position)\s+of\s+(?:the\s+)?"


_STORY_NOTE = "{} story sentences first (the context continued): the answer is the conclusion or marked answer after them"
_REASONING_NOTE = ("the opening names no label (a preface or reasoning step): the answer is the first later sentence "
                   "that answers the question")


@dataclass(frozen=True)
class _Sentence:
    """One sentence of the turn, and whether it opened with an answer marker (`Answer:`, `The answer is`)."""

    statement: Statement
    marked: bool


def _turn_end(output: str, start: int, question: str) -> int:
    """Where the model's turn ends: an echoed prompt part, a question other than the one asked, a role line."""
    end = len(output)
    asked = _repeated_question(question)
    for blocker in _MARKER_BLOCKER.finditer(output, start):
        if blocker.group(0).lower().startswith("q") and asked and asked.match(output, blocker.start()):
            continue  # the asked question, repeated: not an invented one
        end = blocker.start()
        break
    if role := _ROLE_LINE.search(output, start, end):
        end = role.start()
    return end


def _sentences(output: str, start: int, end: int, question: str) -> list[_Sentence]:
    """The turn cut into statements (step 2's ends, a line ending in a colon, an answer marker inside a line)."""
    sentences: list[_Sentence] = []
    position, marked = start, False
    while position < end:
        if sentences:
            before = position
            position, _ = _skip_opening(output, position, question)
            if position >= end:
                break
            marker = _ANSWER_MARKER.search(output, before, position + 200)  # room for what follows the marker
            marked = marker is not None and marker.start() < position
        text = output[position:end]
        stop = natural = _statement_end(text)
        if colon := _LINE_END_COLON.search(text, 0, stop):
            stop = colon.end()
        if marker := _ANSWER_MARKER.search(text, 1, stop):
            stop = marker.start()
        statement = _cut_statement(text if stop == natural else text[:stop], position)
        sentences.append(_Sentence(statement, marked))
        after = position + len(statement.text)
        if closing := _SENTENCE_END.match(output, after):
            after = closing.end()
        position = max(after, position + 1)
    return sentences


def _answer_in_turn(sentences: list[_Sentence], question: str, task: str) -> _Found:
    """R1-R4: the story continued, a conclusion, the opening statement, or the answer after reasoning steps."""
    story = 0
    while story < len(sentences) and _is_story_sentence(sentences[story].statement.text):
        story += 1
    if story >= 3:
        after = next((i for i in range(story, len(sentences)) if sentences[i].marked
                      or _is_conclusion(sentences[i].statement.text)), None)
        if after is None:
            return _Found(None, "story_continued")
        found = _answer_in_turn(sentences[after:], question, task)
        return _Found(found.statement, found.rule, (_STORY_NOTE.format(story),) + found.notes)
    concluding = next((i for i, sentence in enumerate(sentences) if _is_conclusion(sentence.statement.text)), None)
    if concluding is not None:
        return _after_conclusion(sentences, concluding, question, task)
    first = sentences[0].statement
    if (_is_artifact(first.text) or labels_named(first.text, question, task)
            or _is_unlabelled_answer(first.text, question, task)):
        return _taken_back(sentences, 0, question, task, "")
    for i, sentence in enumerate(sentences[1:], start=1):
        if sentence.marked or _answers_question(sentence.statement.text, question, task):
            found = _taken_back(sentences, i, question, task, "reasoning_steps")
            return _Found(found.statement, found.rule, (_REASONING_NOTE,))
    return _Found(first)


def _after_conclusion(sentences: list[_Sentence], concluding: int, question: str, task: str) -> _Found:
    """R2: the first conclusion naming a label; a conclusion naming none is reasoning, and the answer may follow."""
    for i in range(concluding, len(sentences)):
        text = sentences[i].statement.text
        if _is_conclusion(text):
            if labels_named(text, question, task):
                return _taken_back(sentences, i, question, task, "conclusion")
        elif sentences[i].marked or _answers_question(text, question, task):
            return _taken_back(sentences, i, question, task, "conclusion")
    return _Found(None, "conclusion_without_answer")


def _taken_back(sentences: list[_Sentence], chosen: int, question: str, task: str, rule: str) -> _Found:
    """The chosen statement, unless the next sentence takes it back for another label."""
    statement = sentences[chosen].statement
    if chosen + 1 < len(sentences):
        following = sentences[chosen + 1].statement.text
        if _TAKE_BACK.match(following):
            said = set(labels_named(statement.text, question, task))
            if set(labels_named(following, question, task)) - said:
                return _Found(statement, "taken_back")
    return _Found(statement, rule)


def _is_conclusion(text: str) -> bool:
    return bool(_CONCLUSION.match(text))


def _is_story_sentence(text: str) -> bool:
    return bool(_STORY_SENTENCE.match(text.lstrip(" \t*_")))


def _is_artifact(text: str) -> bool:
    """A book artifact in brackets (`[Decoration]`, `[Illustration: ...`): neither a preface nor reasoning."""
    return text.lstrip().startswith("[")


def _is_unlabelled_answer(text: str, question: str, task: str) -> bool:
    """An answer naming no label, not a reasoning step: only the question's labels (`Fred` for `What did Mary give
    to Fred?`), or the thing asked about placed somewhere else (`The most recent location of Daniel is the stables`)."""
    lowered = text.lower().strip(" \t*_\"'“”.!")
    if not lowered or _CUT_OFF.search(lowered):
        return False
    words = [word for word in _words(lowered, task) if word not in {"the", "a", "an"}]
    if words and all(word in _label_words(task) for word in words):
        return True
    asked = _asked_about(question)
    return bool(asked and asked.match(lowered) and _PLACED.search(lowered))


@lru_cache(maxsize=4096)
def _asked_about(question: str) -> re.Pattern[str] | None:
    """A sentence opening about what the question asks about: the person or object, or a pronoun for it."""
    asked = _asked_thing(question)
    if asked is None:
        return None
    pronoun = r"(?:he|she)" if re.search(r"\b" + asked.capitalize() + r"\b", question) else r"it"
    opening = r"(?:[\w' -]{1,60},\s*)?"  # an opening phrase before the subject: `In the garden, the football ...`
    return re.compile(r"(?:" + opening + r"(?:" + _ABOUT + r")?(?:the\s+)?" + re.escape(asked) + r"|" + pronoun + r")\b")


@lru_cache(maxsize=4096)
def _asked_thing(question: str) -> str | None:
    """The person or object the question asks about (`Mary`, `milk`), lowercase."""
    lowered = question.lower().strip()
    return next((found.group(1) for pattern in _ASKED if (found := pattern.search(lowered))), None)


def _answers_question(text: str, question: str, task: str) -> bool:
    """R4: a sentence about what the question asks about, or a restated fact whose roles answer it."""
    lowered = text.lower().strip(" \t*_\"'“”")
    if _restated_fact(lowered, question.lower().strip(), task) is not None:
        return True
    asked = _asked_about(question)
    return bool(asked and asked.match(lowered))


def _statement_end(text: str) -> int:
    """Index of the first character after the answer statement.

    The stops are looked for in a window that doubles until one is found, so cutting a long output into
    sentences costs time in proportion to its length, not its square (the window's margin covers what a
    stop's lookahead reads).
    """
    window = 256
    while True:
        limit = min(len(text), window + 256)
        whole = limit == len(text)
        starts = [found.start() for pattern in (_LINE_BREAK_STOP, _INLINE_STOP, _SENTENCE_END)
                  if (found := pattern.search(text, 0, limit)) and (whole or found.start() < window)]
        if starts or whole:
            return min(starts, default=len(text))
        window *= 2


def _cut_statement(text: str, start: int = 0) -> Statement:
    """The statement up to where the model moves on, plus the next sentence when it ended at a sentence end.

    ``start`` is where ``text`` sits in the output (kept for showing the statement there).
    """
    end = _statement_end(text)
    next_sentence = ""
    if sentence_end := _SENTENCE_END.match(text, end):
        following = text[sentence_end.end():]
        if not re.match(r"[ \t]*\n[ \t]*\n", following):
            next_sentence = following[:_statement_end(following)]
    return Statement(text[:end], next_sentence, start)


def _option_list(text: str, question: str, task: str) -> dict[str, str] | None:
    """Candidates one per line at the start (after an optional preface line ending in a colon), else None."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if lines and lines[0].rstrip().endswith(":") and not _OPTION.match(lines[0]):
        lines = lines[1:]
    return _lettered_options(lines) or _bulleted_options(lines, question, task)


def _lettered_options(lines: list[str]) -> dict[str, str] | None:
    """`A. An apple` / `(B) milk` / `C: ...` (or 1., 2., ...), consecutive keys from the first line on."""
    options: dict[str, str] = {}
    for line in lines:
        option = _OPTION.match(line)
        if not option:
            break
        key = option.group("key").lower()
        if options and key != chr(ord(next(iter(options))) + len(options)):
            break
        options[key] = option.group("text")
    return options if len(options) >= 2 else None


def _bulleted_options(lines: list[str], question: str, task: str) -> dict[str, str] | None:
    """R6: `- Mary` / `- Tom`: dash or star items of which two or more give different answers."""
    items = []
    for line in lines:
        bullet = _BULLET.match(line)
        if not bullet or _PREFIX.match(line):
            break  # an item with a prefix is an answer, not an option
        items.append(bullet.group("text"))
    if len(items) < 2:
        return None
    answers = {answer for item in items if (answer := _candidate_answer(item, question, task)) is not None}
    return {chr(ord("a") + i): item for i, item in enumerate(items)} if len(answers) >= 2 else None


def _candidate_answer(item: str, question: str, task: str) -> frozenset[str] | str | None:
    """The answer a list item gives (its labels, or a non-label phrase); None when it is no candidate.

    A candidate is a bare label or phrase, or a statement answering the question; a fact about someone or
    something else, or an item cut off before it names its answer, is not one.
    """
    text = item.strip(" \t*_.!?\"'“”")
    if not text or _CUT_OFF.search(text):
        return None
    words = [word for word in _WORD.findall(text.lower()) if word not in {"the", "a", "an"}]
    asked = _asked_thing(question)
    names_asked = asked is not None and asked in words
    if names_asked and words[-1] == asked:
        return None  # cut off after the thing asked about (`- The milk`, `- Before the bathroom, the apple`)
    bare = len(words) <= 3 and not names_asked and not _VERBS & set(words)  # `The kitchen`, `In the garden`
    if not bare and not _answers_question(text, question, task):
        return None
    labels = labels_named(text, question, task)
    return frozenset(labels) if labels else " ".join(words)


def _picked_option(text: str, options: dict[str, str]) -> Statement | None:
    """The option the model picks after listing them (`Answer: A`, `Answer: the apple`, `- reply: hallway`), else None."""
    last_option = text.lower().rfind(list(options.values())[-1].lower())
    after = text[last_option:]
    picks = []
    if (pick := _OPTION_PICK.search(after)) and pick.group("key").lower() in options:
        option = options[pick.group("key").lower()]
        picks.append((pick.start(), _cut_statement(option, text.find(option))))
    if marker := _ANSWER_MARKER.search(after):
        rest = after[marker.end():]
        skipped = _MARKUP.match(rest).end() if _MARKUP.match(rest) else 0
        if rest[skipped:].strip():
            picks.append((marker.start(), _cut_statement(rest[skipped:], last_option + marker.end() + skipped)))
    if item := _PREFIXED_ITEM.search(after):
        start, _ = _skip_opening(text, last_option + item.start(), "")
        if text[start:].strip():
            picks.append((item.start(), _cut_statement(text[start:], start)))
    return min(picks, key=lambda pick: pick[0])[1] if picks else None


def is_hedge(statement: Statement, task: str) -> bool:
    """Two different labels joined by `or`, or a next sentence offering another label as a possibility."""
    words, label_words = _words(statement.text.lower(), task), _label_words(task)
    labels_at = [i for i, word in enumerate(words) if word in label_words]
    for first, second in zip(labels_at, labels_at[1:]):
        if words[first] != words[second] and "or" in words[first:second]:
            return True
    following = statement.next_sentence.lower()
    if re.search(r"\b(?:maybe|perhaps|possibly|or)\b", following):
        said = {words[i] for i in labels_at}
        offered = {word for word in _words(following, task) if word in label_words and word != "maybe"}
        return bool(offered - said)
    return False


# ---------------------------------------------------------------------------------------------
# Step 3: the labels the statement names.

_WORD = re.compile(r"[a-z0-9]+")
_POSSESSIVE = re.compile(r"[’']s\b")
_NEGATION = r"(?:\bnot|\bno\s+longer|n[’']t|\bnever)\s+(?:(?:in|at|inside|to|carrying|holding)\s+)?(?:the\s+)?"


@dataclass(frozen=True)
class _Reading:
    """Step 3: the labels a statement names, and the reading rule that shaped them."""

    labels: list[str]
    rule: str = "labels"
    notes: tuple[str, ...] = ()


def labels_named(statement: str, question: str, task: str) -> list[str]:
    """The labels the statement names, in order (step 3): synonyms, negation, question labels, restated facts."""
    return _read_labels(statement, question, task).labels


def _read_labels(statement: str, question: str, task: str) -> _Reading:
    text = statement.lower()
    for phrase, label in get_task(task).phrase_synonyms.items():
        text = re.sub(r"\b" + re.escape(phrase) + r"\b", label, text)
    restated = _restated_fact(text, question.lower().strip(), task)
    if restated is not None:
        held = restated[0] if restated else "no label"
        return _Reading(restated, "restated_fact", (f"a restated {task} fact: the asked role holds {held}",))
    label_words = _label_words(task)
    if get_task(task).grammar.keeps_every_label:
        return _Reading([word for word in _words(text, task) if word in label_words])
    negated: list[str] = []
    if set(task_labels(task)) - {"yes", "no", "maybe"}:
        text, negated = _drop_negated(text, task)
    in_question = set(_words(question.lower(), task))
    named = [word for word in _words(text, task) if word in label_words]
    ignored = sorted({word for word in named if word in in_question})
    notes = ((f"negated, so not named: {', '.join(negated)}",) if negated else ()) + \
        ((f"named by the question, so ignored: {', '.join(ignored)}",) if ignored else ())
    rule = "negation" if negated else "question_label" if ignored else "labels"
    return _Reading([word for word in named if word not in in_question], rule, notes)


def _words(text: str, task: str) -> list[str]:
    """Whole words, each synonym replaced by its label (a possessive `'s` is not the direction `s`)."""
    synonyms = get_task(task).synonyms
    text = _POSSESSIVE.sub("", text)
    return [synonyms.get(word, word) for word in _WORD.findall(text)]


def _label_words(task: str) -> frozenset[str]:
    """The words a task's labels are made of: the path label ``n,e`` gives the directions ``n`` and ``e``."""
    return _words_of(task_labels(task))


@lru_cache(maxsize=None)
def _words_of(labels: tuple[str, ...]) -> frozenset[str]:
    return frozenset(word for label in labels for word in label.split(","))


def _drop_negated(text: str, task: str) -> tuple[str, list[str]]:
    """Remove the labels the statement negates (`not in the kitchen`, `no longer in the kitchen`); also say which."""
    spec = get_task(task)
    negated: list[str] = []

    def drop(match: re.Match[str]) -> str:
        negated.extend(_words(match.group(1), task))
        return " "

    return _negated_labels(spec.labels, tuple(spec.synonyms)).sub(drop, text), negated


@lru_cache(maxsize=None)
def _negated_labels(labels: tuple[str, ...], synonyms: tuple[str, ...]) -> re.Pattern[str]:
    spellings = set(labels) | set(synonyms)
    return re.compile(_NEGATION + r"(" + "|".join(sorted(map(re.escape, spellings), key=len, reverse=True)) + r")\b")


def _restated_fact(text: str, question: str, task: str) -> list[str] | None:
    """R5: the label in the asked role when the statement restates one of the task's facts (the task's own
    grammar reads it), else None (read the statement's words instead)."""
    spec = get_task(task)
    read = spec.grammar.restated_fact
    return None if read is None else read(text, question, spec.labels)


# ---------------------------------------------------------------------------------------------
# Step 4: the comparison.

def matches_target(named: list[str], target: str, task: str) -> bool:
    """Compare the labels named with the target (step 4)."""
    wanted = [part.strip() for part in target.lower().split(",") if part.strip()]
    if not named or not wanted:
        return False
    matches = get_task(task).grammar.matches
    if matches is not None:
        return matches(named, wanted)
    if set(task_labels(task)) <= {"yes", "no", "maybe"}:
        return named[0] == wanted[0]
    return set(named) == set(wanted)

