"""bAbI tasks where people are named once and then referred to: qa11, qa12, qa13."""

from __future__ import annotations

from babilong.rng import Rng
from babilong.tasks import world_checks
from babilong.tasks.base import PLACE_ANSWER, Story, Task
from babilong.tasks.world import (
    ACTOR_HOMES,
    ACTORS,
    LOCATION_LABELS,
    MOVE_VERBS,
    PLACES,
    PRONOUNS,
    Asked,
    one_question,
    say_move,
    say_pronoun_move,
)

BLOCKS_PER_STORY = 5  # each block: two facts, then a question


def _elsewhere(rng: Rng, place: str | None) -> str:
    return rng.choice([p for p in PLACES if p != place])


def _group_move(rng: Rng, people: list[str], place: str) -> str:
    return f"{people[0]} and {people[1]} {rng.choice(MOVE_VERBS)} to the {place}."


def generate_qa11(rng: Rng) -> Story:
    """Five times: someone moves, then moves again told by pronoun; where are they?"""
    location = dict(ACTOR_HOMES)
    facts: list[str] = []
    asked: list[Asked] = []
    for _ in range(BLOCKS_PER_STORY):
        actor = rng.choice(ACTORS)
        first = _elsewhere(rng, location.get(actor))
        location[actor] = _elsewhere(rng, first)
        facts += [say_move(rng, actor, first), say_pronoun_move(rng, PRONOUNS[actor], location[actor])]
        asked.append(Asked(len(facts), f"Where is {actor}?", location[actor], (len(facts) - 2, len(facts) - 1)))
    return one_question("qa11", rng, facts, asked)


def generate_qa12(rng: Rng) -> Story:
    """Five times: two random pairs go to two different random places (anyone may already be
    there, and the pairs may share a person, as in the original); where is one of the four?"""
    told: dict[str, int] = {}
    location: dict[str, str] = {}
    facts: list[str] = []
    asked: list[Asked] = []
    for _ in range(BLOCKS_PER_STORY):
        pairs = [rng.sample(ACTORS, 2), rng.sample(ACTORS, 2)]
        for people, place in zip(pairs, rng.sample(PLACES, 2)):
            facts.append(_group_move(rng, people, place))
            for person in people:
                location[person], told[person] = place, len(facts) - 1
        actor = rng.choice(pairs[0] + pairs[1])
        asked.append(Asked(len(facts), f"Where is {actor}?", location[actor], (told[actor],)))
    return one_question("qa12", rng, facts, asked)


def generate_qa13(rng: Rng) -> Story:
    facts: list[str] = []
    asked: list[Asked] = []
    for _ in range(BLOCKS_PER_STORY):
        # Two random people, two different random places; where they stand is not checked.
        people = rng.sample(ACTORS, 2)
        first, then = rng.sample(PLACES, 2)
        facts += [_group_move(rng, people, first), say_pronoun_move(rng, "they", then)]
        actor = rng.choice(people)
        asked.append(Asked(len(facts), f"Where is {actor}?", then, (len(facts) - 2, len(facts) - 1)))
    return one_question("qa13", rng, facts, asked)



TASKS = [
    Task("qa11", "basic coreference", LOCATION_LABELS, generate_qa11, world_checks.where_is,
         answer_format=PLACE_ANSWER, hint="'He' or 'she' refers to the person named just before."),
    Task("qa12", "conjunction", LOCATION_LABELS, generate_qa12, world_checks.where_is,
         answer_format=PLACE_ANSWER, hint="A sentence may move two people together."),
    Task("qa13", "compound coreference", LOCATION_LABELS, generate_qa13, world_checks.where_is,
         answer_format=PLACE_ANSWER, hint="'They' refers to the people named just before."),
]
