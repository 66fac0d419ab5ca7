"""bAbI qa14: time reasoning ("Where was Julie before the school?")."""

from __future__ import annotations

from babilong.rng import Rng
from babilong.tasks import world_checks
from babilong.tasks.base import Story, Task
from babilong.tasks.world import ALT_ACTORS, ALT_PLACES, MOVE_VERBS, Asked, one_question

TIMES = ("yesterday", "this morning", "this afternoon", "this evening")
FIRST_QUESTION_AFTER = 4
FACTS_BETWEEN_QUESTIONS = 2
QUESTIONS_PER_STORY = 5


def _say(rng: Rng, actor: str, place: str, when: str) -> str:
    verb = rng.choice(MOVE_VERBS)
    if rng.chance(0.5):
        return f"{when.capitalize()} {actor} {verb} to the {place}."
    return f"{actor} {verb} to the {place} {when}."


def _questions(told: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """(person, time slot) pairs whose slot and the one before it are both told."""
    return [(actor, slot) for actor, slot in told if slot > 0 and (actor, slot - 1) in told]


def generate_qa14(rng: Rng) -> Story:
    # Each person visits distinct places, so "before the school" names one moment.
    timelines = {actor: rng.sample(ALT_PLACES, len(TIMES)) for actor in ALT_ACTORS}
    checkpoints = [FIRST_QUESTION_AFTER + FACTS_BETWEEN_QUESTIONS * i for i in range(QUESTIONS_PER_STORY)]
    moments = [(actor, slot) for actor in ALT_ACTORS for slot in range(len(TIMES))]
    while True:  # reveal the moments in an order that gives a question at every checkpoint
        rng.shuffle(moments)
        if all(_questions(moments[:n]) for n in checkpoints):
            break
    facts = [_say(rng, actor, timelines[actor][slot], TIMES[slot]) for actor, slot in moments[: checkpoints[-1]]]
    asked = []
    for n in checkpoints:
        actor, slot = rng.choice(_questions(moments[:n]))
        question = f"Where was {actor} before the {timelines[actor][slot]}?"
        support = (moments.index((actor, slot)), moments.index((actor, slot - 1)))
        asked.append(Asked(n, question, timelines[actor][slot - 1], support))
    return one_question("qa14", rng, facts, asked)


TASKS = [
    Task("qa14", "time reasoning", tuple(ALT_PLACES), generate_qa14, world_checks.where_was_person,
         answer_format="Answer with one word only: the name of the place.",
         hint="Events are placed in time (yesterday, this morning, this afternoon, this evening); order them by time, not by sentence."),
]
