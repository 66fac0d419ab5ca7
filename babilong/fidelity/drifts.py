"""The reference samples' known drifts from the released bAbI data, undone before comparing.

The reference samples come from the original generator's later rewrite, which drifts from
the released bAbI dataset that BABILong was built from. The
explicit table NORMALISATION rewrites those drifts, each rule with its reason: on the
reference side back to the released form, on our side where we produce a released-only
variant the rewrite never uses. Nothing else is adjusted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from babilong.fidelity.reference import read_reference
from babilong.rng import Rng
from babilong.tasks import Story, Task

Replacement = str | Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class Rule:
    """Rewrite ``pattern`` in one side's ``fields`` of the listed tasks, for the stated reason."""

    tasks: tuple[str, ...]
    side: str  # "reference" (rewrite -> released form) or "ours" (released-only variant -> rewrite form)
    fields: tuple[str, ...]  # any of "fact", "question", "answer"
    pattern: str
    replacement: Replacement
    reason: str


def _invert_path(match: re.Match[str]) -> str:
    flip = {"n": "s", "s": "n", "e": "w", "w": "e"}
    return ",".join(flip[step] for step in match.group(0).split(","))


def _capitalise_name(match: re.Match[str]) -> str:
    return match.group(1) + match.group(2).upper()


ROOM_TASKS = ("qa1", "qa2", "qa3", "qa6", "qa7", "qa8", "qa9", "qa11", "qa12", "qa13")
NORMALISATION: tuple[Rule, ...] = (
    Rule(("qa4", "qa19"), "reference", ("fact", "question"), r"\b(north|south|east|west) the\b", r"\1 of the",
         "rewrite drops 'of' after compass words; released: 'south of the'"),
    Rule(("qa4",), "reference", ("question",), r"^What is the (\w+) (north|south|east|west)\?$", r"What is the \1 \2 of?",
         "released: 'What is the kitchen south of?'"),
    Rule(("qa19",), "reference", ("question",), r"^What is the path from (\w+) to (\w+)\?$",
         r"How do you go from the \1 to the \2?", "released question wording"),
    Rule(("qa19",), "reference", ("answer",), r"^[nsew],[nsew]$", _invert_path,
         "rewrite's qa19 paths are inverted w.r.t. its own statements; ours are computed correctly"),
    Rule(("qa5",), "reference", ("question",), r" last\?$", "?", "released questions have no 'last'"),
    Rule(("qa5", "qa7", "qa8"), "reference", ("fact",), r"^(\w+) gave (\w+) the (\w+)\.$", r"\1 gave the \3 to \2.",
         "released: 'Mary gave the apple to Fred.'"),
    Rule(("qa5", "qa7", "qa8"), "ours", ("fact",), r"^(\w+) (?:passed|handed) ", r"\1 gave ",
         "released synonyms of 'gave' the rewrite never uses"),
    Rule(("qa5",), "reference", ("fact", "question", "answer"), r"\bJohn\b", "Bill", "released qa5 actors"),
    Rule(("qa5",), "reference", ("fact", "question", "answer"), r"\bSandra\b", "Fred", "released qa5 actors"),
    Rule(("qa5",), "reference", ("fact", "question", "answer"), r"\bDaniel\b", "Jeff", "released qa5 actors"),
    Rule(("qa7",), "reference", ("answer",), r"^zero$", "none", "released count word"),
    Rule(("qa7", "qa8"), "reference", ("question",), r"\bholding\?", "carrying?",
         "released: 'How many objects is X carrying?', 'What is X carrying?'"),
    Rule(("qa10",), "reference", ("fact",), r" or in the ", " or the ", "released: 'either in the school or the cinema'"),
    Rule(("qa11", "qa13"), "ours", ("fact",), r"^Afterwards ", "After that ",
         "released 'Afterwards she ...' the rewrite lacks (it has 'Following that')"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bJohn\b", "Bill", "released actors"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bSandra\b", "Fred", "released actors"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bDaniel\b", "Julie", "released actors"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bbathroom\b", "school", "released places"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bgarden\b", "park", "released places"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bhallway\b", "cinema", "released places"),
    Rule(ROOM_TASKS + ("qa5", "qa20"), "ours", ("fact",), r" there\.$", ".",
         "released '... the milk there.' variant the rewrite lacks"),
    Rule(ROOM_TASKS + ("qa5", "qa10", "qa14", "qa20"), "ours", ("fact",), r"\bwent back to\b", "went to",
         "released movement verb the rewrite lacks"),
    Rule(ROOM_TASKS + ("qa5", "qa20"), "ours", ("fact",), r"\bpicked up\b", "took",
         "released pick-up verb the rewrite lacks"),
    Rule(ROOM_TASKS, "ours", ("fact",), r"\b(?:discarded|left)\b", "dropped",
         "released drop verbs the rewrite lacks"),
    Rule(("qa15", "qa20"), "ours", ("question",), r"^(What is |Where will |Why did )([a-z])", _capitalise_name,
         "released questions write the name in lower case"),
    Rule(("qa18",), "reference", ("fact", "question", "answer"), r"\btreasure chest\b", "chest", "released: 'chest'"),
    Rule(("qa18",), "reference", ("question",), r"^Is the (.+) bigger than (?!the )(.+)\?$", r"Is the \1 bigger than the \2?",
         "rewrite drops the article before the second object"),
    Rule(("qa18",), "ours", ("fact",), r"^The (.+) fits inside the (.+)\.$", r"The \2 is bigger than the \1.",
         "released 'fits inside' statements the rewrite never uses"),
)

# Forms the released bAbI vocabulary has but the rewrite never produces.
RELEASED_ONLY_FORMS: dict[str, tuple[str, ...]] = {
    "qa5": ("Who gave the {OBJECT}?",),
}


def normalise(story: Story, side: str) -> Story:
    """Apply this side's rules of NORMALISATION to one story."""
    rules = [r for r in NORMALISATION if r.side == side and story.task in r.tasks]

    def fix(text: str, name: str) -> str:
        for rule in rules:
            if name in rule.fields:
                text = re.sub(rule.pattern, rule.replacement, text)
        return text

    return Story(story.task, tuple(fix(f, "fact") for f in story.facts), fix(story.question, "question"),
                 fix(story.answer, "answer"), story.supporting)


def our_stories(task: Task, count: int, seed: int) -> list[Story]:
    """``count`` stories of our generator, normalised."""
    return [normalise(task.generate(Rng(seed, "fidelity", task.name, index)), "ours") for index in range(count)]


def reference_stories(task: str, folder: Path) -> list[Story]:
    """Every question of ``task``'s reference file in ``folder``, normalised."""
    return [normalise(story, "reference") for story in read_reference(task, folder)]
