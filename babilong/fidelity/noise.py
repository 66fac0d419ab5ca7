"""Story-logic and distribution metrics, ours against the reference, each with its noise level.

The noise level of a metric is the 99% quantile, over random splits of the reference stories
into halves, of the distance between a sample drawn like ours from one half and the other
half. A metric farther from the reference than that is outside the noise level.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from babilong.fidelity.drifts import our_stories, reference_stories
from babilong.fidelity.forms import bin_width, total_variation
from babilong.fidelity.logic import denominator, logic_counts, logic_metrics
from babilong.rng import Rng
from babilong.tasks import Story, Task

NOISE_SPLITS = 200
NOISE_QUANTILE = 0.99
MIN_DENOMINATOR = 30  # a share over fewer cases on either side is not compared


def whole_stories(questions: Sequence[Story]) -> list[list[int]]:
    """Group a reference file's questions (by position) into its stories: each question's
    facts extend the previous question's."""
    stories: list[list[int]] = []
    for index, question in enumerate(questions):
        previous = questions[stories[-1][-1]] if stories else None
        if previous and len(question.facts) >= len(previous.facts) and question.facts[: len(previous.facts)] == previous.facts:
            stories[-1].append(index)
        else:
            stories.append([index])
    return stories


@dataclass
class Measured:
    """Every question of one set measured once; a Side is any subset of it, summed."""

    keys: list[str]
    counts: np.ndarray  # questions x keys
    answers: list[str]
    answer_index: np.ndarray
    supporting: np.ndarray
    facts_bin: np.ndarray

    @classmethod
    def of(cls, questions: Sequence[Story], width: int, keys: Sequence[str] = ()) -> Measured:
        per_question = [logic_counts(q) for q in questions]
        keys = sorted(set(keys) | {k for c in per_question for k in c})
        answers = sorted({q.answer for q in questions})
        return cls(keys, np.array([[c[k] for k in keys] for c in per_question], dtype=float), answers,
                   np.array([answers.index(q.answer) for q in questions]),
                   np.array([len(q.supporting) for q in questions]), np.array([len(q.facts) // width for q in questions]))

    def side(self, rows: np.ndarray | None = None) -> Side:
        rows = np.arange(len(self.answer_index)) if rows is None else rows
        totals = self.counts[rows].sum(axis=0)
        return Side(Counter({k: int(v) for k, v in zip(self.keys, totals)}),
                    Counter({self.answers[i]: int(n) for i, n in enumerate(np.bincount(self.answer_index[rows])) if n}),
                    Counter({i: int(n) for i, n in enumerate(np.bincount(self.supporting[rows])) if n}),
                    Counter({i: int(n) for i, n in enumerate(np.bincount(self.facts_bin[rows])) if n}))


@dataclass
class Side:
    """Totals over one set of questions."""

    counts: Counter[str]
    answers: Counter[str]
    supporting: Counter[int]
    facts_before: Counter[int]

    def values(self) -> dict[str, float]:
        """Every metric of this side: story-logic shares, and the mean (binned) length."""
        values = logic_metrics(self.counts)
        total = sum(self.facts_before.values())
        values["mean facts before the question (binned)"] = sum(k * v for k, v in self.facts_before.items()) / total
        return values


def side_distances(a: Side, b: Side) -> dict[str, float]:
    """How far apart two sides are: absolute difference per metric, TV per distribution."""
    values_a, values_b = a.values(), b.values()
    out = {name: abs(values_a.get(name, 0.0) - values_b.get(name, 0.0)) for name in set(values_a) | set(values_b)
           if _comparable(name, a.counts, b.counts)}
    out["TV answers"] = total_variation(a.answers, b.answers)
    out["TV supporting-fact counts"] = total_variation(a.supporting, b.supporting)
    out["TV facts before the question"] = total_variation(a.facts_before, b.facts_before)
    return out


def _comparable(name: str, a: Counter[str], b: Counter[str]) -> bool:
    return name.startswith("mean ") or min(denominator(name, a), denominator(name, b)) >= MIN_DENOMINATOR


def noise_levels(reference: Measured, stories: list[list[int]], sample: int, rng: Rng,
                 splits: int = NOISE_SPLITS) -> dict[str, float]:
    """Per metric, the NOISE_QUANTILE of its distance, over ``splits`` random splits of the
    reference stories into halves, between a sample drawn like ours from one half (``sample``
    stories, one random question each, with replacement) and every question of the other half."""
    seen: dict[str, list[float]] = {}
    for _ in range(splits):
        order = list(range(len(stories)))
        rng.shuffle(order)
        half = len(order) // 2
        drawn = np.array([rng.choice(stories[rng.choice(order[:half])]) for _ in range(sample)])
        rest = np.array([q for i in order[half:] for q in stories[i]])
        for name, distance in side_distances(reference.side(drawn), reference.side(rest)).items():
            seen.setdefault(name, []).append(distance)
    return {name: sorted(values)[min(len(values) - 1, int(NOISE_QUANTILE * len(values)))] for name, values in seen.items()}


@dataclass
class Fidelity:
    """One task's story-logic and distribution metrics, ours against the reference, with noise levels."""

    task: str
    ours: Side
    reference: Side
    noise: dict[str, float]

    def rows(self) -> list[tuple[str, float | None, float | None, float, float]]:
        """(metric, ours, reference, distance, noise) for every metric measured on both sides."""
        distances = side_distances(self.ours, self.reference)
        ours, reference = self.ours.values(), self.reference.values()
        return [(name, None if name.startswith("TV") else ours.get(name, 0.0),
                 None if name.startswith("TV") else reference.get(name, 0.0), distance, self.noise.get(name, 0.0))
                for name, distance in sorted(distances.items())]

    def outside_noise(self) -> list[str]:
        return [name for name, _, _, distance, noise in self.rows() if distance > noise]


def measure_fidelity(task: Task, stories: int, seed: int, folder: Path, splits: int = NOISE_SPLITS) -> Fidelity:
    """``stories`` of our stories against the reference file in ``folder``, with noise levels over ``splits`` splits."""
    questions = reference_stories(task.name, folder)
    width = bin_width([len(q.facts) for q in questions])
    reference = Measured.of(questions, width)
    noise = noise_levels(reference, whole_stories(questions), stories, Rng(seed, "noise", task.name), splits)
    return Fidelity(task.name, Measured.of(our_stories(task, stories, seed), width).side(), reference.side(), noise)


def fidelity_table(f: Fidelity) -> str:
    """A Markdown table of one task's metrics."""
    lines = [f"**{f.task}**", "", "| metric | ours | reference | distance | noise (99%) | |", "|---|---:|---:|---:|---:|---|"]
    for name, ours, reference, distance, noise in f.rows():
        shown = ("" if ours is None else f"{ours:.3f}", "" if reference is None else f"{reference:.3f}")
        lines.append(f"| {name} | {shown[0]} | {shown[1]} | {distance:.3f} | {noise:.3f} | {'ok' if distance <= noise else 'OUT'} |")
    return "\n".join(lines)

