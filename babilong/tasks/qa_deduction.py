"""qa15, basic deduction: "Mice are afraid of wolves. Gertrude is a mouse." -> wolf."""

from __future__ import annotations

import re
from collections.abc import Sequence

from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.tasks.base import Story, Task

ANIMALS = ("cat", "mouse", "sheep", "wolf")
PLURAL = {"cat": "Cats", "mouse": "Mice", "sheep": "Sheep", "wolf": "Wolves"}
NAMES = ("Gertrude", "Winona", "Emily", "Jessica")


def generate(rng: Rng) -> Story:
    """Every kind fears another kind; each name is one kind; ask what one name fears."""
    fears = {kind: rng.choice([k for k in ANIMALS if k != kind]) for kind in ANIMALS}
    kinds = dict(zip(NAMES, rng.sample(ANIMALS, len(NAMES))))
    lines = [(kind, f"{PLURAL[kind]} are afraid of {PLURAL[feared].lower()}.") for kind, feared in fears.items()]
    lines += [(name, f"{name} is a {kind}.") for name, kind in kinds.items()]
    rng.shuffle(lines)
    name = rng.choice(NAMES)
    keys = [key for key, _ in lines]
    supporting = tuple(sorted((keys.index(name), keys.index(kinds[name]))))
    # The released files write the name in lower case in this question.
    question = f"What is {name.lower()} afraid of?"
    return Story("qa15", tuple(text for _, text in lines), question, fears[kinds[name]], supporting)


# --- independent checker ---

_SINGULAR = {"cats": "cat", "mice": "mouse", "sheep": "sheep", "wolves": "wolf"}


def check(facts: Sequence[str], question: str) -> str:
    is_a: dict[str, str] = {}
    afraid: dict[str, str] = {}
    for fact in facts:
        if m := re.fullmatch(r"(\w+) is an? (\w+)\.", fact):
            is_a[m.group(1).lower()] = m.group(2)
        elif m := re.fullmatch(r"(\w+) are afraid of (\w+)\.", fact):
            afraid[_SINGULAR[m.group(1).lower()]] = _SINGULAR[m.group(2).lower()]
        else:
            raise BabilongError(f"cannot read qa15 statement {fact!r}")
    m = re.fullmatch(r"What is (\w+) afraid of\?", question)
    if not m or m.group(1).lower() not in is_a:
        raise BabilongError(f"cannot answer qa15 question {question!r}")
    return afraid[is_a[m.group(1).lower()]]


TASKS = [
    Task("qa15", "basic deduction", ANIMALS, generate, check,
         answer_format="Answer with one word only: the kind of animal.",
         hint="What holds for a kind of animal holds for every member of that kind.",
         synonyms={"cats": "cat", "mice": "mouse", "wolves": "wolf", "wolfs": "wolf"}),
]
