"""Accuracy tables: runs' records counted into task x length cells, each with a 95% Wilson interval.

Shared by ``report`` (markdown, CSV, heatmaps), ``view`` (the page), ``agreement`` and
``depth``; 3-100 samples a cell is noisy, so every figure carries its interval.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from babilong.scorers import get_scorer, other_scorers

MEAN_TASKS = ("qa1", "qa2", "qa3", "qa4", "qa5")
MEAN_ROW = "mean qa1-qa5"
Z_95 = 1.959964  # two-sided 95% normal quantile
_UNITS = {"": 1, "k": 1_000, "m": 1_000_000}


def wilson(correct: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion, in percent; ``n`` may be fractional (an effective size)."""
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return 100.0 * max(centre - half, 0.0), 100.0 * min(centre + half, 1.0)


@dataclass
class Cell:
    """One (task, length): how many answers were right, scored, or could not be scored."""

    correct: int = 0
    scored: int = 0
    too_long: int = 0
    cut: int = 0  # answers the token budget cut before the model gave one
    errors: int = 0
    unfinished: int = 0  # samples the run asked for that have no final result yet (a shard not done)
    # other metrics (retrieval recall): scorer name -> [samples whose verdict passed, samples with a verdict]
    measures: dict[str, list[int]] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return 100.0 * self.correct / self.scored if self.scored else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.correct, self.scored) if self.scored else None

    def rate(self, scorer: str) -> float | None:
        """A scorer of another metric (retrieval recall), in %: samples whose verdict passed, of those it judged."""
        passed, judged = self.measures.get(scorer, (0, 0))
        return 100.0 * passed / judged if judged else None


@dataclass
class Table:
    """Accuracy of one run under one accuracy scorer, tasks x lengths (with the other metrics' counts per cell)."""

    title: str
    scorer: str
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return sorted({t for t, _ in self.cells}, key=task_order)

    @property
    def lengths(self) -> list[str]:
        return sorted({length for _, length in self.cells}, key=length_order)

    def accuracy(self, task: str, length: str) -> float | None:
        if task == MEAN_ROW:
            return self.mean(length)
        cell = self.cells.get((task, length))
        return cell.accuracy if cell else None

    def interval(self, task: str, length: str) -> tuple[float, float] | None:
        if task == MEAN_ROW:
            return self.mean_interval(length)
        cell = self.cells.get((task, length))
        return cell.interval if cell else None

    def mean(self, length: str) -> float | None:
        """Mean over qa1-qa5 at one length; None unless all five were scored."""
        values = [self.accuracy(task, length) for task in MEAN_TASKS]
        return None if any(v is None for v in values) else sum(values) / len(values)

    def mean_interval(self, length: str) -> tuple[float, float] | None:
        """Wilson interval of the qa1-qa5 mean, at the effective size k^2 / sum(1/n_i).

        The mean of k independent proportions with sizes n_i has the variance of one proportion
        over that many samples, so equal sizes give exactly the pooled Wilson interval.
        """
        mean = self.mean(length)
        if mean is None:
            return None
        sizes = [self.cells[(task, length)].scored for task in MEAN_TASKS]
        effective = len(sizes) ** 2 / sum(1 / n for n in sizes)
        return wilson(mean / 100.0 * effective, effective)

    def rows(self) -> list[str]:
        return self.tasks + ([MEAN_ROW] if all(t in self.tasks for t in MEAN_TASKS) else [])

    def unscored(self, task: str, length: str) -> bool:
        cell = self.cells.get((task, length))
        return cell is not None and bool(cell.too_long or cell.cut or cell.errors)

    def unfinished(self, task: str, length: str) -> bool:
        cell = self.cells.get((task, length))
        return cell is not None and bool(cell.unfinished)


def task_order(task: str) -> int:
    from babilong.tasks import get_task, is_task

    return get_task(task).number if is_task(task) else 10_000  # the mean row sorts last


def length_order(label: str) -> float:
    """Sort key for length labels: ``0k`` < ``1500`` < ``2k`` < ``1M``."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([kKmM]?)", label)
    return float(match.group(1)) * _UNITS[match.group(2).lower()] if match else float("inf")


def build_table(records: dict[str, dict[str, Any]], scorer: str, title: str, expected: set[str] | None = None) -> Table:
    """Count every record of a run into its cell; ``expected`` keys with no record count as unfinished.

    An ok record the scorer gives no verdict (it does not apply) is not counted as scored.
    """
    table = Table(title, scorer)
    verdict_of, others = get_scorer(scorer).stored, other_scorers()
    for key in sorted((expected or set()) - records.keys()):
        task, length, _ = key.split("/")
        table.cells.setdefault((task, length), Cell()).unfinished += 1
    for record in records.values():
        cell = table.cells.setdefault((record["task"], record["length"]), Cell())
        for other in others:
            if (value := other.stored(record)) is not None:
                counts = cell.measures.setdefault(other.name, [0, 0])
                counts[0] += bool(value)
                counts[1] += 1
        status = record.get("status")
        if status == "ok":
            verdict = verdict_of(record)
            cell.scored += verdict is not None
            cell.correct += bool(verdict)
        elif status == "too_long":
            cell.too_long += 1
        elif status == "cut":
            cell.cut += 1
        else:
            cell.errors += 1
    return table


def format_value(table: Table, row: str, length: str) -> str:
    """``97.0 (91.5-99.0)``: accuracy and its 95% interval; a marker where nothing was scored."""
    value = table.accuracy(row, length)
    if value is None:
        if row == MEAN_ROW:
            return "—" if length in table.lengths else ""
        cell = table.cells.get((row, length))
        if cell is None:
            return ""
        return "too long" if cell.too_long else "cut" if cell.cut else "error" if cell.errors else \
            "unfinished" if cell.unfinished else "—"
    low, high = table.interval(row, length)
    marks = ("*" if table.unscored(row, length) else "") + ("†" if table.unfinished(row, length) else "")
    return f"{value:.1f} ({low:.1f}-{high:.1f})" + marks
