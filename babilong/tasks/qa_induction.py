"""qa16, basic induction: Greg is a swan; swans seen are yellow; so Greg is yellow."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.tasks.base import Story, Task

NAMES = ("Lily", "Bernhard", "Greg", "Julius", "Brian")
ANIMALS = ("frog", "lion", "swan", "rhino")
COLOURS = ("gray", "green", "white", "yellow")


def generate(rng: Rng) -> Story:
    """Five people of random kinds, one colour per kind; everyone's colour is told except the
    asked one's, whose kind is drawn again until someone else shares it (the original's way
    of making sure the colour can be induced)."""
    colour_of = dict(zip(ANIMALS, rng.sample(COLOURS, len(COLOURS))))
    asked, *others = rng.sample(NAMES, len(NAMES))
    kind = {name: rng.choice(ANIMALS) for name in others}
    kind[asked] = rng.choice(ANIMALS)
    while kind[asked] not in (kind[name] for name in others):
        kind[asked] = rng.choice(ANIMALS)
    lines = [((n, "kind"), f"{n} is a {kind[n]}.") for n in NAMES]
    lines += [((n, "colour"), f"{n} is {colour_of[kind[n]]}.") for n in others]
    rng.shuffle(lines)
    witnesses = {n for n in others if kind[n] == kind[asked]}
    supporting = tuple(
        i for i, ((n, what), _) in enumerate(lines)
        if n in witnesses or (n == asked and what == "kind")
    )
    facts = tuple(text for _, text in lines)
    return Story("qa16", facts, f"What color is {asked}?", colour_of[kind[asked]], supporting)


# --- independent checker ---

def check(facts: Sequence[str], question: str) -> str:
    kinds: dict[str, str] = {}
    colours: dict[str, str] = {}
    for fact in facts:
        if m := re.fullmatch(r"(\w+) is an? (\w+)\.", fact):
            kinds[m.group(1)] = m.group(2)
        elif m := re.fullmatch(r"(\w+) is (\w+)\.", fact):
            colours[m.group(1)] = m.group(2)
        else:
            raise BabilongError(f"cannot read qa16 statement {fact!r}")
    m = re.fullmatch(r"What colou?r is (\w+)\?", question)
    if not m or m.group(1) not in kinds:
        raise BabilongError(f"cannot answer qa16 question {question!r}")
    seen = Counter(c for n, c in colours.items() if kinds.get(n) == kinds[m.group(1)])
    if not seen:
        raise BabilongError(f"qa16 question {question!r}: no one of the same kind has a known colour")
    return seen.most_common(1)[0][0]


TASKS = [
    Task("qa16", "basic induction", COLOURS, generate, check,
         answer_format="Answer with one word only: the colour.",
         hint="Animals of the same kind tend to share a colour.",
         synonyms={"grey": "gray"}),
]
