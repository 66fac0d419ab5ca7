"""bAbI qa10: indefinite knowledge ("Julie is either in the school or the cinema.")."""

from __future__ import annotations

from babilong.rng import Rng
from babilong.tasks import world_checks
from babilong.tasks.base import Story, Task
from babilong.tasks.world import ALT_ACTORS, ALT_PLACES, MOVE_VERBS, Asked, interleave, one_question, say_move

QUESTIONS_PER_STORY = 5
FACT_KINDS = ("move", "is", "either")


def generate_qa10(rng: Rng) -> Story:
    location = {actor: rng.choice(ALT_PLACES) for actor in ALT_ACTORS}
    # person -> what each fact since the last definite one says: (places it allows, fact)
    told: dict[str, list[tuple[frozenset[str], int]]] = {}
    facts: list[str] = []

    def step() -> None:
        actor = rng.choice(ALT_ACTORS)
        kind = rng.choice(FACT_KINDS)
        if kind == "either":  # true: one of the two places is where they are
            pair = [location[actor], rng.choice([p for p in ALT_PLACES if p != location[actor]])]
            rng.shuffle(pair)
            facts.append(f"{actor} is either in the {pair[0]} or the {pair[1]}.")
            told.setdefault(actor, []).append((frozenset(pair), len(facts) - 1))
            return
        if kind == "move":
            location[actor] = rng.choice([p for p in ALT_PLACES if p != location[actor]])
            facts.append(say_move(rng, actor, location[actor], MOVE_VERBS))
        else:
            location[actor] = rng.choice(ALT_PLACES)
            facts.append(f"{actor} is in the {location[actor]}.")
        told[actor] = [(frozenset([location[actor]]), len(facts) - 1)]

    def ask() -> Asked | None:
        if not told:
            return None
        actor = rng.choice(sorted(told))
        place = rng.choice(ALT_PLACES)
        statements = told[actor]
        possible = frozenset.intersection(*(allowed for allowed, _ in statements))
        if place not in possible:
            ruling_out = max(index for allowed, index in statements if place not in allowed)
            return Asked(len(facts), f"Is {actor} in the {place}?", "no", (ruling_out,))
        answer = "yes" if len(possible) == 1 else "maybe"
        return Asked(len(facts), f"Is {actor} in the {place}?", answer, tuple(i for _, i in statements))

    asked = interleave(QUESTIONS_PER_STORY, 2, step, ask, facts)
    return one_question("qa10", rng, facts, asked)


TASKS = [
    Task("qa10", "indefinite knowledge", ("yes", "no", "maybe"), generate_qa10, world_checks.is_in,
         answer_format="Answer with one word only: yes, no or maybe.",
         hint="A sentence may leave a person in one of two places; then the answer can be uncertain."),
]
