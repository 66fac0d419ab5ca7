"""Seeded randomness that is byte-identical on every machine and Python version.

Only ``random.Random.random()`` with an integer seed is guaranteed stable across Python
versions, so every helper here is built on it alone.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def derive_seed(*keys: object) -> int:
    """A 64-bit seed from any keys, e.g. ``derive_seed(seed, "qa1", "4k", index)``."""
    text = "\x1f".join(repr(key) for key in keys)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class Rng:
    """A small random source with the choices task generators need."""

    def __init__(self, *keys: object) -> None:
        self._random = random.Random(derive_seed(*keys))

    def random(self) -> float:
        return self._random.random()

    def below(self, n: int) -> int:
        """Uniform integer in ``[0, n)``."""
        if n <= 0:
            raise ValueError("below() needs n > 0")
        return min(int(self._random.random() * n), n - 1)

    def randint(self, low: int, high: int) -> int:
        """Uniform integer in ``[low, high]`` (both ends included)."""
        return low + self.below(high - low + 1)

    def chance(self, p: float) -> bool:
        return self._random.random() < p

    def choice(self, items: Sequence[T]) -> T:
        return items[self.below(len(items))]

    def weighted(self, items: Sequence[T], weights: Sequence[float]) -> T:
        total = float(sum(weights))
        point = self._random.random() * total
        for item, weight in zip(items, weights):
            point -= weight
            if point < 0:
                return item
        return items[-1]

    def shuffle(self, items: list[T]) -> None:
        """Shuffle in place (Fisher-Yates)."""
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]

    def sample(self, items: Sequence[T], k: int) -> list[T]:
        """``k`` distinct items in random order."""
        pool = list(items)
        self.shuffle(pool)
        return pool[:k]
