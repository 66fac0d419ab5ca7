"""qa20, agent's motivations: a hungry person goes to the kitchen to get the apple."""

from __future__ import annotations

import re
from collections.abc import Sequence

from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.tasks.base import Story, Task

ACTORS = ("Sumit", "Yann", "Jason", "Antoine")
NEEDS = {  # state -> (where one goes, what one gets there)
    "hungry": ("kitchen", "apple"),
    "thirsty": ("kitchen", "milk"),
    "tired": ("bedroom", "pajamas"),
    "bored": ("garden", "football"),
}
MOVES = ("moved", "went", "journeyed", "travelled")
TAKES = ("got", "took", "grabbed")
LABELS = ("kitchen", "bedroom", "garden", *NEEDS)


def generate(rng: Rng) -> Story:
    """Each actor: a state, a trip, a pick-up, each followed by a question; lives interleaved."""
    lives = {}
    for actor, state in zip(ACTORS, rng.sample(list(NEEDS), len(ACTORS))):
        place, thing = NEEDS[state]
        # The released files write the name in lower case in these questions.
        name = actor.lower()
        lives[actor] = [
            (f"{actor} is {state}.", f"Where will {name} go?", place),
            (f"{actor} {rng.choice(MOVES)} to the {place}.", f"Why did {name} go to the {place}?", state),
            (f"{actor} {rng.choice(TAKES)} the {thing}.", f"Why did {name} get the {thing}?", state),
        ]
    facts: list[str] = []
    asked: list[Story] = []
    state_line: dict[str, int] = {}
    while lives:
        actor = rng.choice(list(lives))
        fact, question, answer = lives[actor].pop(0)
        if not lives[actor]:
            del lives[actor]
        state_line.setdefault(actor, len(facts))
        facts.append(fact)
        asked.append(Story("qa20", tuple(facts), question, answer, (state_line[actor],)))
    return rng.choice(asked)


# --- independent checker ---

_PLACE_FOR = {"hungry": "kitchen", "thirsty": "kitchen", "tired": "bedroom", "bored": "garden"}


def check(facts: Sequence[str], question: str) -> str:
    feeling: dict[str, str] = {}
    for fact in facts:
        if m := re.fullmatch(r"(\w+) is (\w+)\.", fact):
            feeling[m.group(1).lower()] = m.group(2)
    if m := re.fullmatch(r"Where will (\w+) go\?", question):
        state = feeling.get(m.group(1).lower())
        if state in _PLACE_FOR:
            return _PLACE_FOR[state]
    elif m := re.fullmatch(r"Why did (\w+) (?:go to|get) the \w+\?", question):
        if m.group(1).lower() in feeling:
            return feeling[m.group(1).lower()]
    raise BabilongError(f"cannot answer qa20 question {question!r}")


TASKS = [
    Task("qa20", "agent's motivations", LABELS, generate, check,
         answer_format="Answer with one word only: the place, or the feeling that explains the action.",
         hint="Think about why people go to places and what they want there."),
]
