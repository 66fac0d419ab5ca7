"""What every bAbI task is: a seeded story generator plus an independent answer checker."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from babilong.rng import Rng


@dataclass(frozen=True)
class Story:
    """One question over a list of facts, as BABILong hides it in a haystack."""

    task: str  # "qa1" ... "qa20"
    facts: tuple[str, ...]  # sentences, each ending in "."
    question: str  # ends in "?"
    answer: str  # one label; lists and paths comma-joined ("apple,milk", "s,e")
    supporting: tuple[int, ...]  # 0-based indices into ``facts``, ascending


@dataclass(frozen=True)
class Task:
    """A bAbI task: ``generate(rng)`` makes a story; ``check(facts, question)`` answers it.

    ``check`` reads only the text of the facts and the question and tracks the state
    itself, sharing no code with ``generate``, so a generator bug cannot label silently.
    """

    name: str
    title: str
    labels: tuple[str, ...]  # every answer (or list item) this task can give
    generate: Callable[[Rng], Story]
    check: Callable[[Sequence[str], str], str]

    @property
    def number(self) -> int:
        return int(self.name[2:])
