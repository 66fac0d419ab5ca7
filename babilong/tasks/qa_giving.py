"""qa5, three-argument relations: who gave what to whom.

Told as the original generator tells it: people start at its homes and the objects at
theirs; each statement is, equally often, a move, a pick-up or a hand-over (to someone in
the same place), drawn as that generator draws actions. A hand-over that comes at least
second since the last question gets a question, but first, so that the asked hand-over is
not always the latest statement, zero to five more statements (uniformly many) are drawn
from the world as it stands: none about the asked object, none a hand-over between the same
two people, so the text still answers with the asked hand-over. As in the original these
extra statements are told but not acted out: they are distractors, and a later statement
may repeat one. One of the five questions is kept, with the facts before it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.tasks.base import AnswerGrammar, Story, Task

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
MAX_DISTRACTORS = 5  # statements told between the asked hand-over and its question: 0 to this
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

    def draw_any(self, rng: Rng) -> tuple[str, tuple[str, ...]]:
        """A kind drawn uniformly, then its arguments; a kind with nothing valid is drawn again."""
        while True:
            kind = rng.choice(KINDS)
            if (args := self.draw(rng, kind)) is not None:
                return kind, args

    def act(self, kind: str, args: tuple[str, ...]) -> None:
        if kind == "move":
            self.location[args[0]] = args[1]
        elif kind == "take":
            self.holder[args[1]] = args[0]
        else:
            self.holder[args[1]] = args[2]


def _say(rng: Rng, kind: str, args: tuple[str, ...]) -> str:
    if kind == "move":
        return f"{args[0]} {rng.choice(MOVES)} to the {args[1]}."
    if kind == "take":
        return f"{args[0]} {rng.choice(TAKES)} the {args[1]}."
    giver, obj, receiver = args
    return f"{giver} {rng.choice(GIVES)} the {obj} to {receiver}."


def _draw_distractor(rng: Rng, world: _World, asked: Handover) -> tuple[str, tuple[str, ...]]:
    """A statement drawn from the world as it stands, drawn again while it is about the asked
    object or is another hand-over between the same two people (moves always qualify)."""
    giver, obj, receiver = asked
    while True:
        kind, args = world.draw_any(rng)
        about_object = kind != "move" and args[1] == obj
        same_pair = kind == "give" and (args[0], args[2]) == (giver, receiver)
        if not (about_object or same_pair):
            return kind, args


def generate(rng: Rng) -> Story:
    world = _World()
    facts: list[str] = []
    asked: list[tuple[int, str, str, int]] = []  # (facts before, question, answer, supporting)
    since_question = 0
    while len(asked) < QUESTIONS_PER_STORY:
        kind, args = world.draw_any(rng)
        world.act(kind, args)
        facts.append(_say(rng, kind, args))
        since_question += 1
        if kind != "give" or since_question < 2:
            continue
        told_at, handover = len(facts) - 1, args
        for _ in range(rng.randint(0, MAX_DISTRACTORS)):  # told, not acted out
            facts.append(_say(rng, *_draw_distractor(rng, world, handover)))
        question, answer = _ask(rng, *handover)
        asked.append((len(facts), question, answer, told_at))
        since_question = 0
    count, question, answer, support = rng.choice(asked)
    return Story("qa5", tuple(facts[:count]), question, answer, (support,))


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


# ---- how the default scorer reads a qa5 answer that restates a hand-over (docs/scoring.md, R5) ----

_ARTICLE = r"(?:(?:the|an?)\s+)?"
# A role filler: a name, or a name and surname ("Fred Shackelford", "Brindle Bill").
_SLOT = r"(\w+(?:\s+(?!(?:by|from|to|and|but|was|is|in|at|with|then|after|before|because|who)\b)\w+)?)"
_THING = _ARTICLE + r"(?:\w+\s+of\s+(?:the\s+)?)?(\w+)"  # "the milk", "a glass of milk"
# Words that stand for someone without naming them: a fact with one in the asked role is not read by roles.
_UNNAMED = {"who", "whom", "that", "which", "he", "she", "it", "they", "someone", "somebody", "person"}
_GIVE = r"(?:gave|passed|handed)"
# qa5 facts restated, each with the roles its groups fill, in order.
_FACTS = (
    (re.compile(_SLOT + r"\s+" + _GIVE + r"\s+" + _THING + r"\s+to\s+" + _SLOT), ("giver", "object", "receiver")),
    (re.compile(_SLOT + r"\s+" + _GIVE + r"\s+(\w+)\s+(?=the\s|an?\s)" + _THING), ("giver", "receiver", "object")),
    (re.compile(r"(\w+)\s+(?:was|were)\s+" + _GIVE.replace("gave", "given") + r"\s+to\s+" + _SLOT + r"(?:\s+by\s+" + _SLOT + r")?"),
     ("object", "receiver", "giver")),
    (re.compile(r"(\w+)\s+(?:was|were)\s+received\s+by\s+" + _SLOT + r"(?:\s+from\s+" + _SLOT + r")?"), ("object", "receiver", "giver")),
    (re.compile(_SLOT + r"\s+received\s+" + _THING + r"(?:\s+from\s+" + _SLOT + r")?"), ("receiver", "object", "giver")),
)
_ROLES = (  # question -> the role it asks for
    (re.compile(r"^who\s+gave\b"), "giver"),
    (re.compile(r"^who\s+received\b"), "receiver"),
    (re.compile(r"^who\s+did\s+\w+\s+give\b"), "receiver"),
    (re.compile(r"^what\s+did\s+\w+\s+give\b"), "object"),
)


def restated_qa5(text: str, question: str, labels: tuple[str, ...]) -> list[str] | None:
    """R5: the label in the asked role of a restated transfer; None when no fact with label roles is restated."""
    asked = next((role for pattern, role in _ROLES if pattern.search(question)), None)
    if asked is None:
        return None
    for pattern, roles in _FACTS:
        fact = pattern.search(text)
        if fact is None:
            continue
        slots = {role: slot for role, slot in zip(roles, fact.groups()) if slot is not None}
        if asked in slots and _UNNAMED & set(slots[asked].split()):
            return None
        fillers = {role: _label_in(slot, labels) for role, slot in slots.items()}
        if all(fillers[role] for role in fillers if role != asked):
            return [fillers[asked]] if fillers.get(asked) else []
    return None


def _label_in(slot: str, labels: tuple[str, ...]) -> str | None:
    """The one qa5 label among a role filler's words ("fred shackelford" -> fred), else None."""
    found = [word for word in slot.split() if word in labels]
    return found[0] if len(found) == 1 else None


TASKS = [
    Task("qa5", "three argument relations", tuple(actor.lower() for actor in ACTORS) + OBJECTS, generate, check,
         answer_format="Answer with one word only: the name of the person or of the object.",
         hint="The facts say who handed which object to whom; mind the giver, the receiver and the object.",
         grammar=AnswerGrammar(restated_fact=restated_qa5)),
]
