"""Independent answer checkers for the actor-world tasks (qa1-3, qa6-14).

They read the fact sentences with regular expressions, track what the text says, and
answer the question. They share no code with the generators on purpose: the constants
below restate the released bAbI vocabulary instead of importing it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_MOVE = r"(?:moved|went back|went|journeyed|travelled)"
_NAMED_MOVE = re.compile(rf"^(\w+)(?: and (\w+))? {_MOVE} to the (\w+)\.$")
_PRONOUN_MOVE = re.compile(
    rf"^(?:(?:After that|Afterwards|Following that|Then) (he|she|they)|(He|She) then) {_MOVE} to the (\w+)\.$"
)
_PICK = re.compile(r"^(\w+) (?:got|took|grabbed|picked up) the (\w+)(?: there)?\.$")
_DROP = re.compile(r"^(\w+) (?:dropped|discarded|put down|left|let go of) the (\w+)(?: there)?\.$")
_GIVE = re.compile(r"^(\w+) (?:gave|passed|handed) the (\w+) to (\w+)\.$")
_IS_IN = re.compile(r"^(\w+) is in the (\w+)\.$")
_NOT_IN = re.compile(r"^(\w+) is (?:not|no longer) in the (\w+)\.$")
_EITHER = re.compile(r"^(\w+) is either in the (\w+) or the (\w+)\.$")
_TIMES = ("yesterday", "this morning", "this afternoon", "this evening")
_TIMED_AFTER = re.compile(rf"^(\w+) {_MOVE} to the (\w+) ({'|'.join(_TIMES)})\.$")
_TIMED_BEFORE = re.compile(rf"^({'|'.join(t.capitalize() for t in _TIMES)}) (\w+) {_MOVE} to the (\w+)\.$")

# Released bAbI writes a carried list in this order.
_LIST_ORDER = ("football", "apple", "milk")
_COUNTS = ("none", "one", "two", "three")


class Unanswerable(ValueError):
    """The facts do not determine the answer (or a sentence is not in the task's forms)."""


@dataclass
class _Reader:
    """What the facts say so far about people and objects."""

    place: dict[str, str] = field(default_factory=dict)  # person -> known place
    possible: dict[str, set[str]] = field(default_factory=dict)  # person -> places still open
    excluded: dict[str, set[str]] = field(default_factory=dict)  # person -> places ruled out
    holder: dict[str, str | None] = field(default_factory=dict)  # object -> who holds it
    object_place: dict[str, str | None] = field(default_factory=dict)  # object -> known place
    object_trail: dict[str, list[str | None]] = field(default_factory=dict)  # object -> places in order
    timeline: dict[str, dict[int, str]] = field(default_factory=dict)  # person -> time slot -> place
    last_subjects: list[str] = field(default_factory=list)

    def read(self, sentence: str) -> None:
        for parse in (self._move, self._pick, self._drop, self._give, self._state, self._timed):
            if parse(sentence):
                return
        raise Unanswerable(f"sentence not understood: {sentence!r}")

    def _arrive(self, person: str, place: str) -> None:
        came_from = self.place.get(person)
        self.place[person] = place
        self.possible[person] = {place}
        self.excluded[person] = set()
        for obj, who in self.holder.items():
            if who == person:
                self._carry(obj, came_from, place)

    def _carry(self, obj: str, came_from: str | None, place: str) -> None:
        """A carried object went from ``came_from`` (None: not told) to ``place``."""
        trail = self.object_trail.setdefault(obj, [])
        if not trail or trail[-1] != came_from:
            trail.append(came_from)
        trail.append(place)
        self.object_place[obj] = place

    def _handled_at(self, obj: str, person: str) -> None:
        """Picking up or dropping leaves the object where the person is (if that is told)."""
        if (place := self.place.get(person)) is not None:
            self.object_place[obj] = place
            trail = self.object_trail.setdefault(obj, [])
            if not trail or trail[-1] != place:
                trail.append(place)

    def _move(self, sentence: str) -> bool:
        if m := _NAMED_MOVE.match(sentence):
            people = [name for name in (m[1], m[2]) if name]
            place = m[3]
        elif m := _PRONOUN_MOVE.match(sentence):
            if not self.last_subjects:
                raise Unanswerable(f"pronoun with nobody to refer to: {sentence!r}")
            people, place = self.last_subjects, m[3]
        else:
            return False
        for person in people:
            self._arrive(person, place)
        self.last_subjects = people
        return True

    def _pick(self, sentence: str) -> bool:
        if not (m := _PICK.match(sentence)):
            return False
        person, obj = m[1], m[2]
        self.holder[obj] = person
        self._handled_at(obj, person)
        self.last_subjects = [person]
        return True

    def _drop(self, sentence: str) -> bool:
        if not (m := _DROP.match(sentence)):
            return False
        person, obj = m[1], m[2]
        self.holder[obj] = None
        self._handled_at(obj, person)
        self.last_subjects = [person]
        return True

    def _give(self, sentence: str) -> bool:
        if not (m := _GIVE.match(sentence)):
            return False
        self.holder[m[2]] = m[3]
        self.last_subjects = [m[1]]
        return True

    def _state(self, sentence: str) -> bool:
        if m := _IS_IN.match(sentence):
            self._arrive(m[1], m[2])
        elif m := _NOT_IN.match(sentence):
            person = m[1]
            self.place.pop(person, None)
            if person in self.possible:
                self.possible[person] = self.possible[person] - {m[2]}
            self.excluded.setdefault(person, set()).add(m[2])
            if "no longer" in sentence:  # they left: what was known about them is stale
                self.possible.pop(person, None)
                self.excluded[person] = {m[2]}
        elif m := _EITHER.match(sentence):
            person, pair = m[1], {m[2], m[3]}
            known = self.possible.get(person)
            narrowed = (known & pair) if known is not None else pair - self.excluded.get(person, set())
            # A pair that contradicts what was known is news: they have gone to one of the two.
            self.possible[person] = narrowed or pair
            self.place.pop(person, None)
        else:
            return False
        self.last_subjects = [m[1]]
        return True

    def _timed(self, sentence: str) -> bool:
        if m := _TIMED_AFTER.match(sentence):
            person, place, when = m[1], m[2], m[3]
        elif m := _TIMED_BEFORE.match(sentence):
            when, person, place = m[1].lower(), m[2], m[3]
        else:
            return False
        self.timeline.setdefault(person, {})[_TIMES.index(when)] = place
        self.last_subjects = [person]
        return True


def _read(facts: Sequence[str]) -> _Reader:
    reader = _Reader()
    for fact in facts:
        reader.read(fact)
    return reader


def _known(value: str | None, question: str) -> str:
    if value is None:
        raise Unanswerable(f"the facts do not answer {question!r}")
    return value


def where_is(facts: Sequence[str], question: str) -> str:
    """qa1, qa2, qa11-13: "Where is Mary?" or "Where is the milk?"."""
    reader = _read(facts)
    if m := re.fullmatch(r"Where is the (\w+)\?", question):
        return _known(reader.object_place.get(m[1]), question)
    if m := re.fullmatch(r"Where is (\w+)\?", question):
        return _known(reader.place.get(m[1]), question)
    raise Unanswerable(f"question not understood: {question!r}")


def where_was_object(facts: Sequence[str], question: str) -> str:
    """qa3: "Where was the milk before the office?" (the place before its last arrival there)."""
    if not (m := re.fullmatch(r"Where was the (\w+) before the (\w+)\?", question)):
        raise Unanswerable(f"question not understood: {question!r}")
    trail = _read(facts).object_trail.get(m[1], [])
    arrivals = [i for i, place in enumerate(trail) if place == m[2] and i > 0]
    return _known(trail[arrivals[-1] - 1] if arrivals else None, question)


def is_in(facts: Sequence[str], question: str) -> str:
    """qa6, qa9, qa10: "Is Mary in the office?" -> yes / no / maybe."""
    if not (m := re.fullmatch(r"Is (\w+) in the (\w+)\?", question)):
        raise Unanswerable(f"question not understood: {question!r}")
    reader = _read(facts)
    person, place = m[1], m[2]
    possible = reader.possible.get(person)
    if possible is None:
        if place in reader.excluded.get(person, set()):
            return "no"
        raise Unanswerable(f"the facts do not answer {question!r}")
    if place not in possible:
        return "no"
    return "yes" if len(possible) == 1 else "maybe"


def _carried(facts: Sequence[str], question: str, pattern: str) -> list[str]:
    if not (m := re.fullmatch(pattern, question)):
        raise Unanswerable(f"question not understood: {question!r}")
    holder = _read(facts).holder
    return [obj for obj in _LIST_ORDER if holder.get(obj) == m[1]]


def count_carried(facts: Sequence[str], question: str) -> str:
    """qa7: "How many objects is Mary carrying?" -> none / one / two / three."""
    return _COUNTS[len(_carried(facts, question, r"How many objects is (\w+) carrying\?"))]


def list_carried(facts: Sequence[str], question: str) -> str:
    """qa8: "What is Mary carrying?" -> nothing / apple / apple,milk ..."""
    return ",".join(_carried(facts, question, r"What is (\w+) carrying\?")) or "nothing"


def where_was_person(facts: Sequence[str], question: str) -> str:
    """qa14: "Where was Julie before the school?" (the latest told time slot before it)."""
    if not (m := re.fullmatch(r"Where was (\w+) before the (\w+)\?", question)):
        raise Unanswerable(f"question not understood: {question!r}")
    timeline = _read(facts).timeline.get(m[1], {})
    slots = [slot for slot, place in timeline.items() if place == m[2]]
    earlier = [slot for slot in timeline if slots and slot < max(slots)]
    return _known(timeline[max(earlier)] if earlier else None, question)
