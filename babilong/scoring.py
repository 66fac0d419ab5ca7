"""Whether a model's answer is right. Two scorers:

``babilong`` (default) reads whole words, the whole answer, lists in any order, and is strict
otherwise: naming two different labels is wrong. ``reference`` reproduces the published
procedure exactly, defects included, so numbers line up with the public leaderboard.
"""

from __future__ import annotations

import re
from collections.abc import Callable

LOCATIONS = ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")
OBJECTS = ("apple", "football", "milk")
PLACES = ("bedroom", "cinema", "kitchen", "office", "park", "school")
YES_NO = ("yes", "no")
DIRECTIONS = ("n", "s", "e", "w")

LABELS: dict[str, tuple[str, ...]] = {
    **{task: LOCATIONS for task in ("qa1", "qa2", "qa3", "qa4", "qa11", "qa12", "qa13")},
    "qa5": ("bill", "fred", "jeff", "mary", *OBJECTS),
    **{task: YES_NO for task in ("qa6", "qa9", "qa17", "qa18")},
    "qa7": ("none", "one", "two", "three"),
    "qa8": (*OBJECTS, "nothing"),
    "qa10": ("yes", "no", "maybe"),
    "qa14": PLACES,
    "qa15": ("cat", "mouse", "sheep", "wolf"),
    "qa16": ("gray", "green", "white", "yellow"),
    "qa19": tuple(f"{a},{b}" for a in DIRECTIONS for b in DIRECTIONS),
    "qa20": ("bedroom", "bored", "garden", "hungry", "kitchen", "thirsty", "tired"),
}

# Other spellings of a label the babilong scorer accepts (word -> label).
SYNONYMS: dict[str, dict[str, str]] = {
    "qa7": {"zero": "none", "0": "none", "1": "one", "2": "two", "3": "three"},
    "qa15": {"cats": "cat", "mice": "mouse", "wolves": "wolf", "wolfs": "wolf"},
    "qa16": {"grey": "gray"},
    "qa19": {"north": "n", "south": "s", "east": "e", "west": "w"},
}
_STOP_MARKERS = ("<context>", "<example>", "</example>", "\nquestion:")
_WORD = re.compile(r"[a-z0-9]+")
_ANSWER_MARKER = "answer:"


def reference_correct(output: str, target: str, question: str, task: str) -> bool:
    """The published procedure (reference.md section 4), defects kept on purpose."""
    labels = LABELS[task]
    text = output.lower().split(".")[0].split("<context>")[0].split("<example>")[0]
    in_question = {label for label in labels if label in question.lower()}
    found = {label for label in labels if label in text} - in_question
    target = target.lower()  # qa5 targets are names ("Fred") while labels are lowercase
    if "," in target and len(target) > 3:
        items = target.split(",")
        return all(item in found for item in items) and len(found) == len(items)
    return target in found and len(found) == 1


def babilong_correct(output: str, target: str, question: str, task: str) -> bool:
    """Right iff the answer names exactly the target's labels (as whole words) and nothing else."""
    text = _answer_text(output)
    if task == "qa19":
        return _is_repeats(_directions(text), [part.strip() for part in target.lower().split(",")])
    named = _labels_named(text, task) - _labels_named(question.lower(), task)
    wanted = {part.strip() for part in target.lower().split(",") if part.strip()}
    return bool(wanted) and named == wanted


def _answer_text(output: str) -> str:
    """The part of the output that is the answer: before any echoed prompt, after 'Answer:'."""
    text = output.lower()
    for marker in _STOP_MARKERS:
        text = text.split(marker)[0]
    if _ANSWER_MARKER in text:
        text = text.rsplit(_ANSWER_MARKER, 1)[1]
    return text


def _is_repeats(said: list[str], path: list[str]) -> bool:
    """``said`` is ``path`` once, or repeated whole (an answer restated: 'south, east: s,e')."""
    if not said or not path or len(said) % len(path):
        return False
    return all(said[i:i + len(path)] == path for i in range(0, len(said), len(path)))


def _labels_named(text: str, task: str) -> set[str]:
    labels = set(LABELS[task])
    synonyms = SYNONYMS.get(task, {})
    named = set()
    for word in _WORD.findall(text):
        word = synonyms.get(word, word)
        if word in labels:
            named.add(word)
    return named


def _directions(text: str) -> list[str]:
    """Direction words and letters in order: 's, e', 'south east' and 's,e' all give ['s', 'e']."""
    synonyms = SYNONYMS["qa19"]
    return [synonyms.get(word, word) for word in _WORD.findall(text) if synonyms.get(word, word) in DIRECTIONS]


SCORERS: dict[str, Callable[[str, str, str, str], bool]] = {
    "babilong": babilong_correct,
    "reference": reference_correct,
}
DEFAULT_SCORER = "babilong"


def score(output: str, target: str, question: str, task: str) -> dict[str, bool]:
    """Every scorer's verdict, keyed by scorer name."""
    return {name: scorer(output, target, question, task) for name, scorer in SCORERS.items()}
