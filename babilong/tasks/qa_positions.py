"""qa17, positional reasoning: three shapes on a grid, yes/no about where one is."""

from __future__ import annotations

import re
from collections.abc import Sequence

from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.tasks.base import YES_NO_ANSWER, Story, Task
from babilong.tasks.qa_directions import free_cell_beside

SHAPES = (
    "red square", "blue square", "pink rectangle", "red sphere",
    "blue triangle", "yellow square", "triangle",
)
STEP = {"above": (0, 1), "below": (0, -1), "to the left of": (-1, 0), "to the right of": (1, 0)}
OPPOSITE = {"above": "below", "below": "above", "to the left of": "to the right of",
            "to the right of": "to the left of"}


def generate(rng: Rng) -> Story:
    """Two statements place three shapes one step apart; ask about any pair of them."""
    first, second, third = rng.sample(SHAPES, 3)
    relation = rng.choice(tuple(STEP))
    position = {second: (0, 0), first: STEP[relation]}
    facts = [f"The {first} is {relation} the {second}."]
    anchor, relation, cell = free_cell_beside(rng, position, (first, second), STEP)
    position[third] = cell
    if rng.chance(0.5):
        facts.append(f"The {third} is {relation} the {anchor}.")
    else:
        facts.append(f"The {anchor} is {OPPOSITE[relation]} the {third}.")
    a, b = rng.sample(rng.choice(((first, second), (first, third), (second, third))), 2)
    true_relations = [
        r for r, (dx, dy) in STEP.items()
        if (position[a][0] - position[b][0]) * dx > 0 or (position[a][1] - position[b][1]) * dy > 0
    ]
    relation = rng.choice(true_relations)
    answer = "yes" if rng.chance(0.5) else "no"
    asked = relation if answer == "yes" else OPPOSITE[relation]
    return Story("qa17", tuple(facts), f"Is the {a} {asked} the {b}?", answer, (0, 1))


# --- independent checker: lay the shapes out from the statements, compare coordinates ---

_WORDS = r"(above|below|to the left of|to the right of)"
_OFFSET = {"above": (0, 1), "below": (0, -1), "to the left of": (-1, 0), "to the right of": (1, 0)}


def check(facts: Sequence[str], question: str) -> str:
    place: dict[str, tuple[int, int]] = {}
    pending = [re.fullmatch(rf"The (.+?) is {_WORDS} the (.+)\.", f) for f in facts]
    if not all(pending):
        raise BabilongError(f"cannot read qa17 statements {list(facts)!r}")
    links = [m.groups() for m in pending]
    place[links[0][2]] = (0, 0)
    while links:
        progress = False
        for link in list(links):
            subject, word, reference = link
            dx, dy = _OFFSET[word]
            if reference in place:
                place[subject] = (place[reference][0] + dx, place[reference][1] + dy)
            elif subject in place:
                place[reference] = (place[subject][0] - dx, place[subject][1] - dy)
            else:
                continue
            links.remove(link)
            progress = True
        if not progress:
            raise BabilongError("qa17 statements do not connect all shapes")
    m = re.fullmatch(rf"Is the (.+?) {_WORDS} the (.+)\?", question)
    if not m or m.group(1) not in place or m.group(3) not in place:
        raise BabilongError(f"cannot answer qa17 question {question!r}")
    (ax, ay), (bx, by) = place[m.group(1)], place[m.group(3)]
    dx, dy = _OFFSET[m.group(2)]
    return "yes" if (ax - bx) * dx + (ay - by) * dy > 0 else "no"


TASKS = [
    Task("qa17", "positional reasoning", ("yes", "no"), generate, check,
         answer_format=YES_NO_ANSWER,
         hint="The facts place shapes relative to each other; combine them."),
]
