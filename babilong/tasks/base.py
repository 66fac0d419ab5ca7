"""What every bAbI task is: a seeded story generator, an independent answer checker, and
everything else the toolkit needs to know about the task (its labels, how its answers may be
spelled, how the prompt asks for them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from babilong.rng import Rng

# Answer formats (post-prompts) several tasks share.
PLACE_ANSWER = "Answer with one word only: the name of the place."
YES_NO_ANSWER = "Answer with one word only: yes or no."


@dataclass(frozen=True)
class Story:
    """One question over a list of facts, as BABILong hides it in a haystack."""

    task: str  # "qa1" ... "qa20"
    facts: tuple[str, ...]  # sentences, each ending in "."
    question: str  # ends in "?"
    answer: str  # one label; lists and paths comma-joined ("apple,milk", "s,e")
    supporting: tuple[int, ...]  # 0-based indices into ``facts``, ascending


@dataclass(frozen=True)
class AnswerGrammar:
    """How the default scorer reads one task's answers where its general rules do not fit (docs/scoring.md).

    ``restated_fact(statement, question, labels)``: when the answer statement restates one of the
    task's facts (both texts lower case), the labels in the role the question asks for (R5; ``[]``
    when that role holds no label), else None: the statement's words are read as usual.
    ``matches(named, wanted)``: the comparison of the labels named, in order, with the target's
    items (step 4), described by ``comparison``; None keeps the general one (the same set, or the
    first word of a yes/no answer). ``keeps_every_label``: the answer is a sequence (a path), so no
    label is dropped as negated or as named by the question.
    """

    restated_fact: Callable[[str, str, tuple[str, ...]], list[str] | None] | None = None
    matches: Callable[[list[str], list[str]], bool] | None = None
    comparison: str = ""
    keeps_every_label: bool = False


@dataclass(frozen=True)
class Task:
    """A bAbI task: ``generate(rng)`` makes a story; ``check(facts, question)`` answers it.

    ``check`` reads only the text of the facts and the question and tracks the state
    itself, sharing no code with ``generate``, so a generator bug cannot label silently.
    The other fields are this task's part of scoring (``labels``, ``synonyms``,
    ``phrase_synonyms``, ``grammar``) and of the prompt (``answer_format``, ``hint``).
    """

    name: str
    title: str
    # Every answer the scorers recognise, lower case; a list or path answer is its items
    # comma-joined, so an answer's items (``"apple,milk"`` -> apple, milk) are labels too.
    labels: tuple[str, ...]
    generate: Callable[[Rng], Story]
    check: Callable[[Sequence[str], str], str]
    answer_format: str  # the post-prompt: how the model should write its answer
    hint: str  # added to the instruction: what to mind when reading this task's facts
    # Other spellings of a label the default scorer accepts: a word, or several words, -> label.
    synonyms: Mapping[str, str] = field(default_factory=dict, hash=False)
    phrase_synonyms: Mapping[str, str] = field(default_factory=dict, hash=False)
    grammar: AnswerGrammar = field(default_factory=AnswerGrammar)  # what reading its answers needs beyond the general rules

    @property
    def number(self) -> int:
        return int(self.name[2:])
