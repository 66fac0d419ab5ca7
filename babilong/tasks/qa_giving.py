"""qa5, three-argument relations: who gave what to whom.

Told as the original generator tells it: people start at its homes and the objects at
theirs; each statement is, equally often, a move, a pick-up or a hand-over (to someone in
the same place), drawn as that generator draws actions. A hand-over made after at least two
other statements since the last question gets a question; the statements since the last
question are told in shuffled order. One of the five questions is kept, with the facts
before it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.tasks.base import Story, Task

ACTORS = ("Bill", "Fred", "Jeff", "Mary")
PLACES = ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")
OBJECTS = ("apple", "football", "milk")
# The reference world's homes under qa5's released names (John -> Bill, Sandra -> Fred,
# Daniel -> Jeff); the apple and milk start in the kitchen, the football in the garden.
HOMES = {"Bill": "kitchen", "Fred": "garden", "Jeff": "hallway", "Mary": "bedroom"}
OBJECT_HOMES = {"apple": "kitchen", "football": "garden", "milk": "kitchen"}
MOVES = ("moved", "went", "journeyed", "travelled")
TAKES = ("got", "took", "grabbed")
GIVES = ("gave", "passed", "handed")
QUESTIONS_PER_STORY = 5
SAMPLE_TRIES = 100  # uniform draws per action kind before another kind is drawn
KINDS = ("take", "give", "move")

Handover = tuple[str, str, str]  # (giver, object, receiver)


class _World:
    """Where people are and who holds what."""

    def __init__(self) -> None:
        self.location = dict(HOMES)
        self.holder: dict[str, str | None] = {obj: None for obj in OBJECTS}
        self.object_place = dict(OBJECT_HOMES)

    def draw(self, rng: Rng, kind: str) -> tuple[str, ...] | None:
        """Up to SAMPLE_TRIES uniform draws of the kind's arguments; the first valid one."""
        for _ in range(SAMPLE_TRIES):
            actor = rng.choice(ACTORS)
            if kind == "move":
                place = rng.choice(PLACES)
                if place != self.location[actor]:
                    return actor, place
            elif kind == "take":
                obj = rng.choice(OBJECTS)
                if self.holder[obj] is None and self.object_place[obj] == self.location[actor]:
                    return actor, obj
            else:
                obj, receiver = rng.choice(OBJECTS), rng.choice(ACTORS)
                if self.holder[obj] == actor and receiver != actor and self.location[receiver] == self.location[actor]:
                    return actor, obj, receiver
        return None

    def act(self, rng: Rng, kind: str, args: tuple[str, ...]) -> str:
        """Change the world and say what happened."""
        if kind == "move":
            actor, place = args
            self.location[actor] = place
            return f"{actor} {rng.choice(MOVES)} to the {place}."
        if kind == "take":
            actor, obj = args
            self.holder[obj] = actor
            return f"{actor} {rng.choice(TAKES)} the {obj}."
        giver, obj, receiver = args
        self.holder[obj] = receiver
        return f"{giver} {rng.choice(GIVES)} the {obj} to {receiver}."


def generate(rng: Rng) -> Story:
    world = _World()
    facts: list[str] = []
    asked: list[tuple[int, str, str, int]] = []  # (facts before, question, answer, supporting)
    segment: list[tuple[str, Handover | None]] = []  # statements since the last question
    while len(asked) < QUESTIONS_PER_STORY:
        kind = rng.choice(KINDS)
        if (args := world.draw(rng, kind)) is None:
            continue
        segment.append((world.act(rng, kind, args), args if kind == "give" else None))
        if kind == "give" and len(segment) > 2:
            handover = segment[-1][1]
            order = _shuffled(rng, segment)
            facts += [segment[i][0] for i in order]
            question, answer = _ask(rng, *handover)
            asked.append((len(facts), question, answer, len(facts) - len(order) + order.index(len(segment) - 1)))
            segment = []
    count, question, answer, support = rng.choice(asked)
    return Story("qa5", tuple(facts[:count]), question, answer, (support,))


def _shuffled(rng: Rng, segment: list[tuple[str, Handover | None]]) -> list[int]:
    """Positions of the segment in random order, drawn again while another hand-over of the
    asked object, or between the asked two people, would be told after the asked one (the
    text would then answer with it)."""
    giver, obj, receiver = segment[-1][1]
    while True:
        order = list(range(len(segment)))
        rng.shuffle(order)
        later = [segment[i][1] for i in order[order.index(len(segment) - 1) + 1:]]
        if not any(h and (h[1] == obj or (h[0], h[2]) == (giver, receiver)) for h in later):
            return order


def _ask(rng: Rng, giver: str, obj: str, receiver: str) -> tuple[str, str]:
    """The original's three question forms, equally often; the object-side one ("Who received
    the X?") is asked half the time from the giver's side, as the released data also does."""
    form = rng.below(3)
    if form == 0:
        return f"What did {giver} give to {receiver}?", obj
    if form == 1:
        return f"Who did {giver} give the {obj} to?", receiver
    if rng.chance(0.5):
        return f"Who received the {obj}?", receiver
    return f"Who gave the {obj}?", giver


# --- independent checker: reads the hand-over sentences, latest one wins ---

_HANDOVER = re.compile(r"(\w+) (?:gave|passed|handed) the (\w+) to (\w+)\.")


def check(facts: Sequence[str], question: str) -> str:
    handovers = [m.groups() for m in map(_HANDOVER.fullmatch, facts) if m]
    patterns = (
        (r"Who gave the (\w+)\?", lambda o, g, t, q: o == q[0], 0),
        (r"Who received the (\w+)\?", lambda o, g, t, q: o == q[0], 2),
        (r"What did (\w+) give to (\w+)\?", lambda o, g, t, q: (g, t) == q, 1),
        (r"Who did (\w+) give the (\w+) to\?", lambda o, g, t, q: (g, o) == q, 2),
    )
    for pattern, matches, field in patterns:
        if found := re.fullmatch(pattern, question):
            hits = [(g, o, t) for g, o, t in handovers if matches(o, g, t, found.groups())]
            if not hits:
                raise BabilongError(f"qa5 question {question!r} is about no hand-over in the story")
            return hits[-1][field]
    raise BabilongError(f"cannot read qa5 question {question!r}")


TASKS = [
    Task("qa5", "three argument relations", tuple(actor.lower() for actor in ACTORS) + OBJECTS, generate, check,
         answer_format="Answer with one word only: the name of the person or of the object.",
         hint="The facts say who handed which object to whom; mind the giver, the receiver and the object."),
]
