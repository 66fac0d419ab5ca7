"""qa4 (two-argument relations) and qa19 (path finding): places laid out on a compass grid.

A statement "The A is north of the B." means A lies one step north of B, so going from
B to A is "n". (The rewrite's qa19 samples invert this; we follow the natural reading.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.tasks.base import PLACE_ANSWER, AnswerGrammar, Story, Task

PLACES = ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")
STEP = {"north": (0, 1), "south": (0, -1), "east": (1, 0), "west": (-1, 0)}


def free_cell_beside(rng: Rng, position: dict[str, tuple[int, int]], anchors: Sequence[str],
                     steps: dict[str, tuple[int, int]]) -> tuple[str, str, tuple[int, int]]:
    """A random anchor, a random step from it, and the grid cell it reaches, which is free."""
    while True:
        anchor = rng.choice(anchors)
        direction = rng.choice(tuple(steps))
        dx, dy = steps[direction]
        cell = (position[anchor][0] + dx, position[anchor][1] + dy)
        if cell not in position.values():
            return anchor, direction, cell
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}
PATHS = tuple(
    f"{a[0]},{b[0]}" for a in STEP for b in STEP if b != OPPOSITE[a]
)

Edge = tuple[str, str, str]  # (a, direction, b): a lies one step in ``direction`` from b


def _render(edge: Edge, rng: Rng) -> str:
    """State an edge from either end: "The a is d of the b." or "The b is opposite(d) of the a."."""
    a, direction, b = edge
    if rng.chance(0.5):
        return f"The {a} is {direction} of the {b}."
    return f"The {b} is {OPPOSITE[direction]} of the {a}."


def generate_qa4(rng: Rng) -> Story:
    """Three places in a line; ask for the neighbour named in one statement."""
    first, middle, last = rng.sample(PLACES, 3)
    direction = rng.choice(tuple(STEP))
    edges = [(middle, direction, first), (last, direction, middle)]
    rng.shuffle(edges)
    facts = tuple(_render(edge, rng) for edge in edges)
    target = rng.below(2)
    a, relation, b = re.fullmatch(r"The (\w+) is (\w+) of the (\w+)\.", facts[target]).groups()
    # Four ways to ask about "a is relation of b": (question, answer).
    asks = (
        (f"What is the {a} {relation} of?", b),
        (f"What is the {b} {OPPOSITE[relation]} of?", a),
        (f"What is {relation} of the {b}?", a),
        (f"What is {OPPOSITE[relation]} of the {a}?", b),
    )
    question, answer = rng.choice(asks)
    return Story("qa4", facts, question, answer, (target,))


def generate_qa19(rng: Rng) -> Story:
    """Five places grown into a tree on a grid; ask for a two-step route along it."""
    names = rng.sample(PLACES, 5)
    position = {names[0]: (0, 0)}
    edges: list[Edge] = []
    for name in names[1:]:
        anchor, direction, cell = free_cell_beside(rng, position, list(position), STEP)
        position[name] = cell
        edges.append((name, direction, anchor))
    routes = [
        (i, j) for i in range(len(edges)) for j in range(len(edges))
        if i != j and set(edges[i][::2]) & set(edges[j][::2])
    ]
    first, second = rng.choice(routes)
    middle = (set(edges[first][::2]) & set(edges[second][::2])).pop()
    start = next(p for p in edges[first][::2] if p != middle)
    end = next(p for p in edges[second][::2] if p != middle)
    answer = f"{_heading(edges[first], start)[0]},{_heading(edges[second], middle)[0]}"
    order = list(range(len(edges)))
    rng.shuffle(order)
    facts = tuple(_render(edges[i], rng) for i in order)
    supporting = tuple(sorted((order.index(first), order.index(second))))
    question = f"How do you go from the {start} to the {end}?"
    return Story("qa19", facts, question, answer, supporting)


def _heading(edge: Edge, origin: str) -> str:
    """The direction travelled along ``edge`` when leaving ``origin``."""
    a, direction, b = edge
    return direction if origin == b else OPPOSITE[direction]


# --- independent checkers: they read only the sentences ---

_RELATION = re.compile(r"The (\w+) is (north|south|east|west) of the (\w+)\.")
_FLIP = {"north": "south", "south": "north", "east": "west", "west": "east"}


def _moves(facts: Sequence[str]) -> dict[tuple[str, str], str]:
    """(from, to) -> compass word, for both directions of every statement."""
    moves: dict[tuple[str, str], str] = {}
    for fact in facts:
        match = _RELATION.fullmatch(fact)
        if not match:
            raise BabilongError(f"cannot read direction statement {fact!r}")
        there, word, here = match.groups()
        moves[(here, there)] = word
        moves[(there, here)] = _FLIP[word]
    return moves


def check_qa4(facts: Sequence[str], question: str) -> str:
    moves = _moves(facts)
    if match := re.fullmatch(r"What is the (\w+) (\w+) of\?", question):
        place, word = match.groups()  # place lies `word` of the answer: answer -> place is `word`
        found = [a for (a, b), w in moves.items() if b == place and w == word]
    elif match := re.fullmatch(r"What is (\w+) of the (\w+)\?", question):
        word, place = match.groups()
        found = [b for (a, b), w in moves.items() if a == place and w == word]
    else:
        raise BabilongError(f"cannot read qa4 question {question!r}")
    if len(found) != 1:
        raise BabilongError(f"qa4 question {question!r} has {len(found)} answers")
    return found[0]


def check_qa19(facts: Sequence[str], question: str) -> str:
    match = re.fullmatch(r"How do you go from the (\w+) to the (\w+)\?", question)
    if not match:
        raise BabilongError(f"cannot read qa19 question {question!r}")
    start, end = match.groups()
    moves = _moves(facts)
    routes = [
        f"{w1[0]},{w2[0]}"
        for (a, mid), w1 in moves.items() if a == start
        for (b, c), w2 in moves.items() if b == mid and c == end and c != start
    ]
    if len(routes) != 1:
        raise BabilongError(f"qa19 question {question!r} has {len(routes)} two-step routes")
    return routes[0]


# ---- how the default scorer reads qa4 and qa19 answers (docs/scoring.md, R5 and step 4) ----

_QA4_FACT = re.compile(r"\b(?:the\s+)?(\w+)\s+is\s+(?:to\s+the\s+)?(north|south|east|west)\s+of\s+(?:the\s+)?(\w+)")
_QA4_WHAT_IS_A_DIR_OF = re.compile(r"what\s+is\s+the\s+(\w+)\s+(north|south|east|west)\s+of")
_QA4_WHAT_IS_DIR_OF_A = re.compile(r"what\s+is\s+(north|south|east|west)\s+of\s+the\s+(\w+)")


def restated_qa4(text: str, question: str, labels: tuple[str, ...]) -> list[str] | None:
    """R5: for a restated `A is DIR of B`, the place the question asks for, stated either way round."""
    fact = _QA4_FACT.search(text)
    if fact is None or not {fact.group(1), fact.group(3)} <= set(labels):
        return None
    first, direction, second = fact.groups()
    if asked := _QA4_WHAT_IS_A_DIR_OF.search(question):  # What is the A DIR of? -> the place A is DIR of
        place, asked_direction = asked.groups()
        answer = _other_place(first, direction, second, place, asked_direction)
    elif asked := _QA4_WHAT_IS_DIR_OF_A.search(question):  # What is DIR of the A? -> the place DIR of A
        asked_direction, place = asked.groups()
        answer = _other_place(second, OPPOSITE[direction], first, place, OPPOSITE[asked_direction])
    else:
        return None
    return [answer] if answer else []


def _other_place(first: str, direction: str, second: str, place: str, asked_direction: str) -> str | None:
    """For `first is direction of second`: the place that `place` is `asked_direction` of, stated either way round."""
    if first == place and direction == asked_direction:
        return second
    if second == place and direction == OPPOSITE[asked_direction]:
        return first
    return None


def is_path(said: list[str], path: list[str]) -> bool:
    """``said`` is ``path`` once, or repeated whole (an answer restated: 'south, east: s,e')."""
    if len(said) % len(path):
        return False
    return all(said[i:i + len(path)] == path for i in range(0, len(said), len(path)))


PATH_GRAMMAR = AnswerGrammar(matches=is_path, keeps_every_label=True,
                             comparison="compared as a path: the directions in order, the whole path once or repeated")

# Every two-step path the scorers recognise, turning back included (``PATHS`` are those we generate).
PATH_LABELS = tuple(f"{a[0]},{b[0]}" for a in STEP for b in STEP)

TASKS = [
    Task("qa4", "two argument relations", PLACES, generate_qa4, check_qa4,
         answer_format=PLACE_ANSWER,
         hint="The facts say how rooms lie relative to each other; read the direction carefully.",
         grammar=AnswerGrammar(restated_fact=restated_qa4)),
    Task("qa19", "path finding", PATH_LABELS, generate_qa19, check_qa19,
         answer_format="Answer with the two steps of the way as direction letters n, s, e or w, separated by a comma (e.g. n,w).",
         hint="The facts say how places lie relative to each other; find the way between two of them.",
         synonyms={"north": "n", "south": "s", "east": "e", "west": "w"}, grammar=PATH_GRAMMAR),
]
