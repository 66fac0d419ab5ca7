"""bAbI qa14: time reasoning ("Where was Julie before the school?")."""

from __future__ import annotations

from babilong.rng import Rng
from babilong.tasks import world_checks
from babilong.tasks.base import PLACE_ANSWER, Story, Task
from babilong.tasks.world import ALT_ACTORS, ALT_PLACES, MOVE_VERBS, Asked, one_question

TIMES = ("yesterday", "this morning", "this afternoon", "this evening")
QUESTIONS_PER_STORY = 5
OPENING = 4  # statements before the first question; two statements then separate the others


def _say(rng: Rng, actor: str, place: str, when: str) -> str:
    verb = rng.choice(MOVE_VERBS)
    if rng.chance(0.5):
        return f"{when.capitalize()} {actor} {verb} to the {place}."
    return f"{actor} {verb} to the {place} {when}."


def generate_qa14(rng: Rng) -> Story:
    """Each person has four time slots and goes to a different place in each slot told.

    As in the original generator: two moves of one person (two random slots, two places)
    are told somewhere among the opening statements, so the first question has an answer;
    every other statement fills a random empty slot of a random person with a place they
    have not been to. A question picks a person with two told slots and two slots next to
    each other among those told (not necessarily adjacent in time)."""
    visits: dict[str, dict[int, tuple[str, int]]] = {actor: {} for actor in ALT_ACTORS}  # slot -> (place, fact)
    statements = OPENING + 2 * (QUESTIONS_PER_STORY - 1)
    opener = rng.choice(ALT_ACTORS)
    opening = dict(zip(rng.sample(range(OPENING), 2), zip(rng.sample(range(len(TIMES)), 2), rng.sample(ALT_PLACES, 2))))
    facts: list[str] = []
    asked: list[Asked] = []
    for position in range(statements):
        if position in opening:
            actor, (slot, place) = opener, opening[position]
        else:
            actor, slot, place = _free_visit(rng, visits, reserved=(opener, opening.values()))
        visits[actor][slot] = (place, len(facts))
        facts.append(_say(rng, actor, place, TIMES[slot]))
        if position >= OPENING - 1 and (position - OPENING + 1) % 2 == 0:
            asked.append(_question(rng, visits, len(facts)))
    return one_question("qa14", rng, facts, asked)


def _free_visit(rng: Rng, visits, reserved) -> tuple[str, int, str]:
    """A random (person, slot, place) whose slot is empty and place not yet visited by them
    (counting the opening moves not told yet)."""
    opener, opening = reserved
    while True:
        actor, slot, place = rng.choice(ALT_ACTORS), rng.below(len(TIMES)), rng.choice(ALT_PLACES)
        taken = dict(visits[actor])
        if actor == opener:
            taken.update({s: (p, -1) for s, p in opening})
        if slot not in taken and place not in {p for p, _ in taken.values()}:
            return actor, slot, place


def _question(rng: Rng, visits, told: int) -> Asked:
    while True:
        actor = rng.choice(ALT_ACTORS)
        slots = sorted(visits[actor])
        if len(slots) > 1:
            break
    i = rng.below(len(slots) - 1)
    (earlier, first), (later, second) = visits[actor][slots[i]], visits[actor][slots[i + 1]]
    return Asked(told, f"Where was {actor} before the {later}?", earlier, (first, second))


TASKS = [
    Task("qa14", "time reasoning", tuple(ALT_PLACES), generate_qa14, world_checks.where_was_person,
         answer_format=PLACE_ANSWER,
         hint="Events are placed in time (yesterday, this morning, this afternoon, this evening); order them by time, not by sentence."),
]
