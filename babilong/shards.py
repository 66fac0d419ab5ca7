"""Shards of a run for batch schedulers: ``--shard K/N`` takes the sample keys whose shard is K.

A key's shard is a hash of the key alone, so asking for more samples never moves a key to
another shard, and every task and length spreads over all shards. Each shard runs as its own
job (a GPU, a Slurm array task, a Kubernetes indexed pod) into its own run folder;
``babilong merge`` joins the folders into one run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from babilong.errors import BabilongError


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based, as Slurm array and Kubernetes job indices are)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, key: str) -> bool:
        return shard_of(key, self.count) == self.index

    def to_dict(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}


WHOLE = Shard(0, 1)


def shard_of(key: str, count: int) -> int:
    """The shard (0 to count-1) a sample key belongs to: a pure function of the key."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def parse_shard(text: str) -> Shard:
    """``"3/8"`` -> ``Shard(3, 8)``; anything else is a one-line error."""
    index, slash, count = text.strip().partition("/")
    try:
        shard = Shard(int(index), int(count))
    except ValueError:
        shard = None
    if not slash or shard is None or shard.count < 1 or not 0 <= shard.index < shard.count:
        raise BabilongError(f"--shard {text!r}: give K/N with 0 <= K < N, e.g. --shard 0/8 "
                            "(Slurm: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)")
    return shard


def shard_from_dict(value: object) -> Shard:
    """The shard a run manifest records (the whole run when it records none)."""
    if value is None:
        return WHOLE
    if not isinstance(value, dict) or not isinstance(value.get("index"), int) or not isinstance(value.get("count"), int):
        raise BabilongError(f"a run manifest records the shard {value!r}: expected {{'index': K, 'count': N}}")
    return Shard(value["index"], value["count"])


def keys_of_groups(groups: dict[str, int], shard: Shard = WHOLE) -> Iterator[str]:
    """The sample keys ``task/length/index`` a plan's groups (``"task/length" -> samples``) hold in ``shard``."""
    for group, count in groups.items():
        for index in range(count):
            key = f"{group}/{index}"
            if shard.holds(key):
                yield key


def select(items: Iterable, shard: Shard) -> Iterator:
    """The items (anything with a ``key``) that belong to ``shard``."""
    if shard.count == 1:
        yield from items
        return
    for item in items:
        if shard.holds(item.key):
            yield item
