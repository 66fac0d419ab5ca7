"""qa18, size reasoning: containers bigger than / fitting inside each other."""

from __future__ import annotations

import re
from collections.abc import Sequence

from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.tasks.base import YES_NO_ANSWER, Story, Task

THINGS = ("chocolate", "box of chocolates", "box", "chest", "container", "suitcase")
MOST_QUESTIONS = 11  # at most 15 pairs minus the 4 stated ones can be asked in one story
FIRST_CHAIN = 2  # statements of the opening chain; questions ask about pairs two statements apart
MOST_EXTRA = 7  # further statements: a uniform count from FIRST_CHAIN to this, as in the original
TRIES = 100  # draws for one further statement before it is given up


def generate(rng: Rng) -> Story:
    """Told as the original generator tells it: a chain of two statements over three random
    things (so a question exists), then 2-7 further random statements, each kept only if
    some pair is still exactly two statements apart (given up after 100 draws); the
    statements are shuffled and every pair two statements apart is a question.

    The reference lists every question of a story; one is kept here, and a story is
    accepted with chance (its questions / MOST_QUESTIONS) so stories weigh as there.
    """
    while True:
        ranked = rng.sample(THINGS, len(THINGS))  # biggest first
        chain = sorted(rng.sample(range(len(ranked)), FIRST_CHAIN + 1))
        stated = [(ranked[a], ranked[b]) for a, b in zip(chain, chain[1:])]  # (bigger, smaller)
        for _ in range(rng.randint(FIRST_CHAIN, MOST_EXTRA)):
            _add_statement(rng, ranked, stated)
        rng.shuffle(stated)
        chains = _chains(stated)
        if rng.chance(len(chains) / MOST_QUESTIONS):
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


def _add_statement(rng: Rng, ranked: list[str], stated: list[tuple[str, str]]) -> None:
    """One more random true statement that keeps a pair two statements apart, if found."""
    for _ in range(TRIES):
        i, j = sorted(rng.sample(range(len(ranked)), 2))
        pair = (ranked[i], ranked[j])
        if pair in stated:
            continue
        if _chains([*stated, pair]):
            stated.append(pair)
            return


def _chains(stated: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """Pairs whose shortest link is two statements (bigger, smaller), with their middles."""
    said = set(stated)
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
         answer_format=YES_NO_ANSWER,
         hint="The facts compare sizes; a bigger thing can hold a smaller one, and size order carries over."),
]
