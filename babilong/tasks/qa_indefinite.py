"""bAbI qa10: indefinite knowledge ("Julie is either in the school or the cinema.")."""

from __future__ import annotations

from babilong.rng import Rng
from babilong.tasks import world_checks
from babilong.tasks.base import Story, Task
from babilong.tasks.world import (
    ALT_ACTORS,
    ALT_PLACES,
    MOVE_VERBS,
    Asked,
    draw_move,
    interleave,
    one_question,
    say_move,
)

QUESTIONS_PER_STORY = 5
FACT_KINDS = ("move", "is", "either")
# Where the released cast starts (never stated): the reference world's John, Mary, Sandra
# and Daniel homes under qa10's names (kitchen, bedroom, garden -> park, hallway -> cinema).
HOMES = {"Bill": "kitchen", "Mary": "bedroom", "Fred": "park", "Julie": "cinema"}


def generate_qa10(rng: Rng) -> Story:
    """Two statements, then a question, five times. A statement is, equally often, a move, a
    statement of where someone is, or an "either" pair of two random places. A pair that
    fits what was told narrows it; one that does not is news: the person has gone to one of
    the two. The question asks about a mentioned person and any place."""
    location = dict(HOMES)
    # person -> the statements since they were last somewhere new: (places each allows, fact)
    told: dict[str, list[tuple[frozenset[str], int]]] = {}
    facts: list[str] = []

    def step() -> None:
        kind = rng.choice(FACT_KINDS)
        if kind == "move":
            actor, place = draw_move(rng, location, ALT_PLACES)
            location[actor] = place
            facts.append(say_move(rng, actor, place, MOVE_VERBS))
            told[actor] = [(frozenset([place]), len(facts) - 1)]
        elif kind == "is":
            actor = rng.choice(ALT_ACTORS)
            facts.append(f"{actor} is in the {location[actor]}.")
            told[actor] = [(frozenset([location[actor]]), len(facts) - 1)]
        else:
            actor = rng.choice(ALT_ACTORS)
            first, second = rng.sample(ALT_PLACES, 2)
            facts.append(f"{actor} is either in the {first} or the {second}.")
            pair = frozenset([first, second])
            statements = told.get(actor, [])
            if statements and _possible(statements) & pair:
                statements.append((pair, len(facts) - 1))
            else:
                told[actor] = [(pair, len(facts) - 1)]

    def ask() -> Asked | None:
        if not told:
            return None
        actor = rng.choice(sorted(told))
        place = rng.choice(ALT_PLACES)
        statements = told[actor]
        possible = _possible(statements)
        everything = tuple(index for _, index in statements)
        if place not in possible:
            latest, index = statements[-1]
            # Ruled out by the latest statement alone, or only by the statements together.
            return Asked(len(facts), f"Is {actor} in the {place}?", "no", (index,) if place not in latest else everything)
        answer = "yes" if len(possible) == 1 else "maybe"
        return Asked(len(facts), f"Is {actor} in the {place}?", answer, everything)

    asked = interleave(QUESTIONS_PER_STORY, 2, step, ask, facts)
    return one_question("qa10", rng, facts, asked)


def _possible(statements: list[tuple[frozenset[str], int]]) -> frozenset[str]:
    return frozenset.intersection(*(allowed for allowed, _ in statements))


TASKS = [
    Task("qa10", "indefinite knowledge", ("yes", "no", "maybe"), generate_qa10, world_checks.is_in,
         answer_format="Answer with one word only: yes, no or maybe.",
         hint="A sentence may leave a person in one of two places; then the answer can be uncertain."),
]
