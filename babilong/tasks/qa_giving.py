"""qa5, three-argument relations: who gave what to whom.

A whole story is simulated with its five questions: each hand-over made while no question
is pending gets one, asked 0-5 statements later (no hand-over in between); one question is
then picked uniformly with the facts before it.
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
MOVES = ("moved", "went", "journeyed", "travelled")
TAKES = ("got", "took", "grabbed")
GIVES = ("gave", "passed", "handed")
QUESTIONS_PER_STORY = 5
MAX_DELAY = 5  # a question comes 0..5 statements after its hand-over


def generate(rng: Rng) -> Story:
    facts: list[str] = []
    asked: list[tuple[int, str, str, int]] = []  # (facts before, question, answer, supporting)
    holder: dict[str, str] = {}
    pending: tuple[int, str, str, int] | None = None  # (due at fact count, question, answer, fact)
    while len(asked) < QUESTIONS_PER_STORY:
        if pending and len(facts) == pending[0]:
            asked.append((len(facts), *pending[1:]))
            pending = None
            continue
        event = _pick_event(rng, holder, giving_allowed=pending is None)
        if event == "give":
            obj = rng.choice(sorted(holder))
            giver = holder[obj]
            taker = rng.choice([a for a in ACTORS if a != giver])
            holder[obj] = taker
            facts.append(f"{giver} {rng.choice(GIVES)} the {obj} to {taker}.")
            question, answer = _ask(rng, giver, obj, taker)
            pending = (len(facts) + rng.randint(0, MAX_DELAY), question, answer, len(facts) - 1)
        elif event == "take":
            obj = rng.choice([o for o in OBJECTS if o not in holder])
            actor = rng.choice(ACTORS)
            holder[obj] = actor
            facts.append(f"{actor} {rng.choice(TAKES)} the {obj}.")
        else:
            facts.append(f"{rng.choice(ACTORS)} {rng.choice(MOVES)} to the {rng.choice(PLACES)}.")
    count, question, answer, support = rng.choice(asked)
    return Story("qa5", tuple(facts[:count]), question, answer, (support,))


def _pick_event(rng: Rng, holder: dict[str, str], giving_allowed: bool) -> str:
    """Moves dominate; the weights are tuned so facts-before-question matches the reference."""
    events = ["move"]
    weights = [0.69]
    if len(holder) < len(OBJECTS):
        events.append("take")
        weights.append(0.09)
    if holder and giving_allowed:
        events.append("give")
        weights.append(0.4)
    return rng.weighted(events, weights)


def _ask(rng: Rng, giver: str, obj: str, taker: str) -> tuple[str, str]:
    """One of the four question forms; a third ask for the object, as in the reference."""
    if rng.chance(1 / 3):
        return f"What did {giver} give to {taker}?", obj
    return rng.choice((
        (f"Who gave the {obj}?", giver),
        (f"Who received the {obj}?", taker),
        (f"Who did {giver} give the {obj} to?", taker),
    ))


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
