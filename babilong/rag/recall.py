"""Retrieval recall: did the retrieved chunks hold every supporting fact of a sample?"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from babilong.errors import BabilongError
from babilong.sample import Sample

Span = tuple[int, int]
RECALL_SCORER = "retrieval_recall"
RECALL_VERSION = "1"  # bump when the rule below changes: stored retrieval records are re-scored


@dataclass(frozen=True)
class FactRecall:
    """One sample's retrieval outcome for its supporting facts."""

    found: int
    needed: int

    @property
    def complete(self) -> bool:
        """Every supporting fact was retrieved: the sample's recall is 1, else 0."""
        return self.found == self.needed


def supporting_spans(sample: Sample) -> list[Span]:
    """Character spans of the sample's supporting facts inside ``sample.input``."""
    if not sample.fact_positions or len(sample.fact_positions) != len(sample.facts):
        raise BabilongError(f"sample {sample.key} has no fact positions: retrieval recall needs samples from 'babilong generate' (not published data)")
    spans = []
    for index in sample.supporting:
        start = sample.fact_positions[index].char
        spans.append((start, start + len(sample.facts[index])))
    return spans


def covered(fact: Span, chunks: Iterable[Span]) -> bool:
    """A fact counts as retrieved when one chunk's span holds all of it."""
    return any(start <= fact[0] and fact[1] <= end for start, end in chunks)


def fact_recall(sample: Sample, retrieved: Sequence[Span]) -> FactRecall:
    spans = supporting_spans(sample)
    return FactRecall(sum(covered(span, retrieved) for span in spans), len(spans))


def recall_verdict(retrieval: dict[str, Any]) -> dict[str, Any] | None:
    """The recall scorer over a stored retrieval record (``chunks`` and ``supporting`` spans).

    None when the record does not carry the supporting spans (published data has no fact positions).
    """
    supporting = retrieval.get("supporting")
    if supporting is None:
        return None
    chunks = [tuple(chunk) for chunk in retrieval.get("chunks") or ()]
    found = sum(covered(tuple(span), chunks) for span in supporting)
    return {"recall": float(found == len(supporting)), "facts_found": found, "facts_needed": len(supporting)}


def mean_recall(rows: Iterable[tuple[str, str, bool]]) -> dict[tuple[str, str], tuple[float, int]]:
    """``(task, length, complete)`` rows -> ``{(task, length): (mean recall, samples)}``."""
    groups: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for task, length, complete in rows:
        groups[(task, length)].append(complete)
    return {key: (sum(values) / len(values), len(values)) for key, values in groups.items()}
