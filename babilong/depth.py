"""Accuracy by where the supporting facts sit in the haystack: depth bins x context length, per task.

A result record of ours carries ``depths``: each supporting fact's token offset as a percentage
of the input (``babilong.sample.supporting_depths``). A question resting on several facts has
two natural depths, its earliest and its latest supporting fact; both maps are offered. Bins
are 10 points wide; a bin of 10 samples has a 95% interval about 60 points wide, so sparse
bins say little: ``babilong generate/eval --depth START,END`` places every fact in one band,
and one run per band gives even coverage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BINS = 10
MODES = ("earliest", "latest")
SWEEP_HINT = ("for even coverage run one eval per band, e.g. 'babilong eval --depth 0,10 ...', "
              "'--depth 10,20', ... (each band is a run of its own)")


@dataclass
class DepthBin:
    """Samples whose facts sit in one depth band at one length, and how many were answered right."""

    correct: int = 0
    n: int = 0

    @property
    def accuracy(self) -> float | None:
        return 100.0 * self.correct / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        from babilong.tables import wilson

        return wilson(self.correct, self.n) if self.n else None


# task -> mode -> (bin, length) -> DepthBin
DepthMaps = dict[str, dict[str, dict[tuple[int, str], DepthBin]]]


def bin_of(depth: float) -> int:
    """The 10-point band a depth falls in; 100% belongs to the last one."""
    return min(max(int(depth // (100 / BINS)), 0), BINS - 1)


def bin_label(number: int) -> str:
    width = 100 // BINS
    return f"{number * width}-{(number + 1) * width}%"


def depth_of(depths: list[float], mode: str) -> float:
    return min(depths) if mode == "earliest" else max(depths)


def depth_maps(records: Iterable[dict[str, Any]], scorer: str) -> DepthMaps:
    """Every scored record that knows its fact depths, counted into its task's bins (both modes)."""
    maps: DepthMaps = {}
    for record in records:
        depths = record.get("depths")
        if record.get("status") != "ok" or not depths:
            continue
        right = bool((record.get("scores") or {}).get(scorer))
        for mode in MODES:
            cell = maps.setdefault(record["task"], {m: {} for m in MODES})[mode].setdefault(
                (bin_of(depth_of(depths, mode)), record["length"]), DepthBin())
            cell.n += 1
            cell.correct += right
    return maps


def write_png(maps: DepthMaps, title: str, path: Path) -> None:
    """One row per task, earliest and latest side by side: accuracy (colour) and n per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from babilong.tables import length_order, task_order

    tasks = sorted(maps, key=task_order)
    lengths = sorted({length for task in tasks for mode in MODES for _, length in maps[task][mode]}, key=length_order)
    figure, axes = plt.subplots(len(tasks), len(MODES), squeeze=False,
                                figsize=(2 * (1.5 + 0.7 * len(lengths)), 0.6 + 3.2 * len(tasks)))
    for row, task in enumerate(tasks):
        for column, mode in enumerate(MODES):
            cells = maps[task][mode]
            values = np.array([[np.nan if (cell := cells.get((b, n))) is None else cell.accuracy for n in lengths]
                               for b in range(BINS)], dtype=float)
            axis = axes[row][column]
            image = axis.imshow(values, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
            axis.set_xticks(range(len(lengths)), lengths, fontsize=7)
            axis.set_yticks(range(BINS), [bin_label(b) for b in range(BINS)] if column == 0 else [], fontsize=7)
            axis.set_title(f"{task}: by its {mode} supporting fact", fontsize=8)
            for (b, length), cell in cells.items():
                axis.text(lengths.index(length), b, f"{cell.accuracy:.0f}\nn={cell.n}", ha="center", va="center", fontsize=6)
    figure.suptitle(f"{title}: accuracy % by supporting-fact depth (rows) and length (columns)", fontsize=9)
    figure.colorbar(image, ax=axes.ravel().tolist(), label="accuracy %", shrink=0.6)
    figure.savefig(path, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
