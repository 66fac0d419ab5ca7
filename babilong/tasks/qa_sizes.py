"""qa18, size reasoning: containers bigger than / fitting inside each other."""

from __future__ import annotations

import re
from collections.abc import Sequence

from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.tasks.base import Story, Task

THINGS = ("chocolate", "box of chocolates", "box", "chest", "container", "suitcase")
MOST_QUESTIONS = 11  # at most 15 pairs minus the 4 stated ones can be asked in one story


def generate(rng: Rng) -> Story:
    """4-9 size statements, then one question about a pair linked by exactly two of them.

    The reference asks about every such pair, so stories with more of them give more
    samples; accepting a story with chance (pairs / MOST_QUESTIONS) keeps that weighting.
    """
    while True:
        order = rng.sample(THINGS, len(THINGS))  # smallest first
        pairs = [(order[j], order[i]) for i in range(len(order)) for j in range(i + 1, len(order))]
        stated = rng.sample(pairs, rng.randint(4, 9))  # (bigger, smaller)
        chains = _chains(stated)
        if chains and rng.chance(len(chains) / MOST_QUESTIONS):
            break
    (big, small), middles = rng.choice(sorted(chains.items()))
    middle = rng.choice(middles)
    facts = tuple(_say(pair, rng) for pair in stated)
    supporting = tuple(sorted((stated.index((big, middle)), stated.index((middle, small)))))
    answer = "yes" if rng.chance(0.5) else "no"
    first, second = (big, small) if answer == "yes" else (small, big)
    if rng.chance(0.5):
        question = f"Is the {first} bigger than the {second}?"
    else:
        question = f"Does the {second} fit in the {first}?"
    return Story("qa18", facts, question, answer, supporting)


def _chains(stated: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """Unstated (bigger, smaller) pairs joined by two statements, with their middles."""
    said = set(stated) | {(b, a) for a, b in stated}
    chains: dict[tuple[str, str], list[str]] = {}
    for big, middle in stated:
        for upper, small in stated:
            if upper == middle and (big, small) not in said:
                chains.setdefault((big, small), []).append(middle)
    return chains


def _say(pair: tuple[str, str], rng: Rng) -> str:
    big, small = pair
    if rng.chance(0.5):
        return f"The {big} is bigger than the {small}."
    return f"The {small} fits inside the {big}."


# --- independent checker: transitive closure of "bigger than" ---

def check(facts: Sequence[str], question: str) -> str:
    larger: set[tuple[str, str]] = set()
    for fact in facts:
        if m := re.fullmatch(r"The (.+) is bigger than the (.+)\.", fact):
            larger.add((m.group(1), m.group(2)))
        elif m := re.fullmatch(r"The (.+) fits inside the (.+)\.", fact):
            larger.add((m.group(2), m.group(1)))
        else:
            raise BabilongError(f"cannot read qa18 statement {fact!r}")
    grew = True
    while grew:
        extra = {(a, d) for a, b in larger for c, d in larger if b == c} - larger
        larger |= extra
        grew = bool(extra)
    if m := re.fullmatch(r"Is the (.+) bigger than (?:the )?(.+)\?", question):
        big, small = m.groups()
    elif m := re.fullmatch(r"Does the (.+) fit in the (.+)\?", question):
        small, big = m.groups()
    else:
        raise BabilongError(f"cannot read qa18 question {question!r}")
    if (big, small) in larger:
        return "yes"
    if (small, big) in larger:
        return "no"
    raise BabilongError(f"qa18 question {question!r} is not decided by the statements")


TASKS = [
    Task("qa18", "size reasoning", ("yes", "no"), generate, check,
         answer_format="Answer with one word only: yes or no.",
         hint="The facts compare sizes; a bigger thing can hold a smaller one, and size order carries over."),
]
