"""The bAbI actor world: people move between places and carry objects; facts narrate it.

Only generators use this module. The answer checkers (``world_checks``) read the
sentences back without it, so a phrasing or simulation bug shows up as a disagreement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from babilong.rng import Rng
from babilong.tasks.base import Story

ACTORS = ("Daniel", "John", "Mary", "Sandra")
PLACES = ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office")
LOCATION_LABELS = tuple(sorted(PLACES))
# Where each object lies before the story starts (never stated); its order is the
# order in which a carried list is written ("football,apple,milk").
OBJECT_HOMES = {"football": "garden", "apple": "kitchen", "milk": "kitchen"}
OBJECTS = tuple(OBJECT_HOMES)
# Where people stand before the story starts (never stated), as in the reference
# generator's world: John shares the kitchen with the apple and milk, Sandra the garden with
# the football, so early pick-ups come from people the story has not placed yet, and nobody's
# first move is to where they already are.
ACTOR_HOMES = {"Daniel": "hallway", "John": "kitchen", "Mary": "bedroom", "Sandra": "garden"}
# qa10 and qa14 use another cast and other places in the released dataset.
ALT_ACTORS = ("Bill", "Fred", "Julie", "Mary")
ALT_PLACES = ("bedroom", "cinema", "kitchen", "office", "park", "school")

PRONOUNS = {"Daniel": "he", "John": "he", "Mary": "she", "Sandra": "she", "Bill": "he", "Fred": "he", "Julie": "she"}
MOVE_VERBS = ("moved", "went", "journeyed", "travelled", "went back")
PLAIN_MOVE_VERBS = ("moved", "went", "journeyed", "travelled")
PICK_VERBS = ("got", "took", "grabbed", "picked up")
# The original generator's three drop wordings, equally likely; the released dataset also
# says "discarded" and "left" where the original says "dropped".
DROP_WORDINGS = ("dropped", "put down", "let go of")
DROPPED_VARIANTS = ("dropped", "discarded", "left")
GIVE_VERBS = ("gave", "passed", "handed")
SEQUELS = ("After that", "Following that", "Then")
NUMBER_WORDS = ("none", "one", "two", "three")

# The reference generator draws an action kind, then up to this many uniform (person, thing)
# combinations until one is valid; if none is, it draws a kind again.
SAMPLE_TRIES = 100
MAX_STORY_FACTS = 400  # a story that needs more is a generator bug, not bad luck


# --- phrasing -------------------------------------------------------------------------


def say_move(rng: Rng, actor: str, place: str, verbs: Sequence[str] = MOVE_VERBS) -> str:
    return f"{actor} {rng.choice(verbs)} to the {place}."


def say_pick(rng: Rng, actor: str, obj: str) -> str:
    there = " there" if rng.chance(0.5) else ""
    return f"{actor} {rng.choice(PICK_VERBS)} the {obj}{there}."


def say_drop(rng: Rng, actor: str, obj: str) -> str:
    """One of the original three drop wordings; "dropped" also as its released variants."""
    verb = rng.choice(DROP_WORDINGS)
    if verb == "dropped":
        verb = rng.choice(DROPPED_VARIANTS)
    there = " there" if rng.chance(0.5) else ""
    return f"{actor} {verb} the {obj}{there}."


def say_give(rng: Rng, giver: str, obj: str, receiver: str) -> str:
    return f"{giver} {rng.choice(GIVE_VERBS)} the {obj} to {receiver}."


def say_pronoun_move(rng: Rng, pronoun: str, place: str) -> str:
    """A move told by pronoun, its adverb form drawn uniformly as the original does:
    "After that she ..." (also the released "Afterwards"), "Following that ...", "Then ...",
    or, for one person, "She then ..."."""
    verb = rng.choice(MOVE_VERBS)
    forms = SEQUELS if pronoun == "they" else (*SEQUELS, "{} then")
    form = rng.choice(forms)
    if form == "After that" and rng.chance(0.5):
        form = "Afterwards"
    if form == "{} then":
        return f"{pronoun.capitalize()} then {verb} to the {place}."
    return f"{form} {pronoun} {verb} to the {place}."


def draw_move(rng: Rng, location: Mapping[str, str], places: Sequence[str]) -> tuple[str, str]:
    """Anyone goes anywhere but where they are: a uniform (person, place) draw, repeated while
    the person is already there (how the reference generator samples a valid move)."""
    people = list(location)
    while True:
        actor, place = rng.choice(people), rng.choice(places)
        if place != location[actor]:
            return actor, place


# --- story assembly -------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """A question asked after the first ``n_facts`` facts of a simulated story."""

    n_facts: int
    question: str
    answer: str
    supporting: tuple[int, ...]


def one_question(task: str, rng: Rng, facts: Sequence[str], asked: Sequence[Asked]) -> Story:
    """BABILong keeps one of a story's questions, with every fact told before it."""
    pick = rng.choice(asked)
    return Story(task, tuple(facts[: pick.n_facts]), pick.question, pick.answer, tuple(sorted(pick.supporting)))


def interleave(
    n_questions: int, min_gap: int, step: Callable[[], object], ask: Callable[[], Asked | None], facts: list[str]
) -> list[Asked]:
    """Tell at least ``min_gap`` facts before each question, more until ``ask`` finds one."""
    asked: list[Asked] = []
    for _ in range(n_questions):
        for _ in range(min_gap):
            step()
        while (question := ask()) is None:
            if len(facts) > MAX_STORY_FACTS:
                raise RuntimeError("bAbI world story found no answerable question; generator bug")
            step()
        asked.append(question)
    return asked


# --- the simulated world --------------------------------------------------------------


@dataclass
class World:
    """True state of people and objects, and which facts told where each person is."""

    rng: Rng
    location: dict[str, str]  # every person's true place; unstated until they move
    holder: dict[str, str | None] = field(default_factory=dict)
    object_place: dict[str, str] = field(default_factory=dict)  # for objects nobody holds
    facts: list[str] = field(default_factory=list)
    seen_at: dict[str, int] = field(default_factory=dict)  # person -> fact that put them where they are
    handled: dict[str, int] = field(default_factory=dict)  # object -> its last pick/drop/give fact
    deeds: dict[str, list[int]] = field(default_factory=dict)  # person -> facts where they picked, dropped or gave

    @classmethod
    def start(
        cls, rng: Rng, actors: Sequence[str] = ACTORS, places: Sequence[str] = PLACES, homes: Mapping[str, str] | None = None
    ) -> World:
        """A world with everyone at ``homes`` (random places if None) and the objects at theirs."""
        start = dict(homes) if homes is not None else {actor: rng.choice(places) for actor in actors}
        world = cls(rng, start)
        world.holder = {obj: None for obj in OBJECTS}
        world.object_place = dict(OBJECT_HOMES)
        world.deeds = {actor: [] for actor in actors}
        return world

    def tell(self, sentence: str) -> int:
        self.facts.append(sentence)
        return len(self.facts) - 1

    def carried(self, actor: str) -> list[str]:
        return [obj for obj in OBJECTS if self.holder[obj] == actor]

    # actions ------------------------------------------------------------------------

    def move(self, actor: str, place: str, sentence: str) -> None:
        index = self.tell(sentence)
        self.location[actor] = place
        self.seen_at[actor] = index

    def pick(self, actor: str, obj: str) -> None:
        self.holder[obj] = actor
        self.handled[obj] = self.tell(say_pick(self.rng, actor, obj))
        self.deeds[actor].append(self.handled[obj])

    def drop(self, actor: str, obj: str) -> None:
        self.holder[obj] = None
        self.object_place[obj] = self.location[actor]
        self.handled[obj] = self.tell(say_drop(self.rng, actor, obj))
        self.deeds[actor].append(self.handled[obj])

    def give(self, giver: str, obj: str, receiver: str) -> None:
        self.holder[obj] = receiver
        self.handled[obj] = self.tell(say_give(self.rng, giver, obj, receiver))
        self.deeds[giver].append(self.handled[obj])

    # random valid actions -----------------------------------------------------------

    def valid(self, kind: str, args: tuple[str, ...]) -> bool:
        """The preconditions of each action."""
        actor = args[0]
        if kind == "move":
            return self.location[actor] != args[1]
        if kind == "pick":
            return self.holder[args[1]] is None and self.object_place[args[1]] == self.location[actor]
        if kind == "drop":
            return self.holder[args[1]] == actor
        if kind == "give":
            receiver = args[2]
            return self.holder[args[1]] == actor and receiver != actor and self.location[receiver] == self.location[actor]
        raise ValueError(kind)

    def sample_valid(self, kinds: Sequence[str]) -> tuple[str, tuple[str, ...]] | None:
        """Up to SAMPLE_TRIES uniform draws of an action of ``kinds`` with any people, places and
        objects as arguments; the first valid one, or None."""
        people = list(self.location)
        for _ in range(SAMPLE_TRIES):
            kind = self.rng.choice(kinds)
            if kind == "move":
                args = (self.rng.choice(people), self.rng.choice(PLACES))
            elif kind == "give":
                args = (self.rng.choice(people), self.rng.choice(OBJECTS), self.rng.choice(people))
            else:
                args = (self.rng.choice(people), self.rng.choice(OBJECTS))
            if self.valid(kind, args):
                return kind, args
        return None

    def random_action(self, weights: Mapping[tuple[str, ...], float]) -> tuple[str, tuple[str, ...]]:
        """Pick a group of action kinds by weight, then an action of the group by
        ``sample_valid`` (the reference generator's draw; a group it finds nothing in is drawn
        again); act it out, tell it, and return it."""
        groups = list(weights)
        while True:
            group = self.rng.weighted(groups, [weights[g] for g in groups])
            if (drawn := self.sample_valid(group)) is not None:
                break
        kind, args = drawn
        if kind == "move":
            self.move(args[0], args[1], say_move(self.rng, args[0], args[1]))
        elif kind == "pick":
            self.pick(*args)
        elif kind == "drop":
            self.drop(*args)
        else:
            self.give(*args)
        return kind, args

    # what the told facts establish --------------------------------------------------

    def carried_known(self, obj: str) -> tuple[str, tuple[int, ...]] | None:
        """Where a carried ``obj`` is and the two facts that show it (None if not carried or not told)."""
        carrier = self.holder[obj]
        if carrier is None or carrier not in self.seen_at:
            return None
        return self.location[carrier], (self.seen_at[carrier], self.handled[obj])
