"""Accuracy tables, CSV, heatmaps and leaderboard-layout exports from run directories."""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babilong import arguments
from babilong.errors import BabilongError
from babilong.scoring import SCORERS

HELP = "Tables, CSV, heatmaps and leaderboard exports from one or more eval runs"
MEAN_TASKS = ("qa1", "qa2", "qa3", "qa4", "qa5")
MEAN_ROW = "mean qa1-qa5"
_UNITS = {"": 1, "k": 1_000, "m": 1_000_000}


@dataclass
class Cell:
    """One (task, length): how many answers were right, scored, or could not be scored."""

    correct: int = 0
    scored: int = 0
    too_long: int = 0
    errors: int = 0
    retrieved: int = 0  # samples whose retrieval held every supporting fact (RAG runs)
    with_recall: int = 0

    @property
    def accuracy(self) -> float | None:
        return 100.0 * self.correct / self.scored if self.scored else None

    @property
    def recall(self) -> float | None:
        """Retrieval recall %: samples whose retrieved chunks held every supporting fact."""
        return 100.0 * self.retrieved / self.with_recall if self.with_recall else None


@dataclass
class Table:
    """Accuracy of one run under one scorer, tasks x lengths."""

    title: str
    scorer: str
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return sorted({t for t, _ in self.cells}, key=lambda t: int(t[2:]))

    @property
    def lengths(self) -> list[str]:
        return sorted({length for _, length in self.cells}, key=length_order)

    def accuracy(self, task: str, length: str) -> float | None:
        if task == MEAN_ROW:
            return self.mean(length)
        cell = self.cells.get((task, length))
        return cell.accuracy if cell else None

    def mean(self, length: str) -> float | None:
        """Mean over qa1-qa5 at one length; None unless all five were scored."""
        values = [self.accuracy(task, length) for task in MEAN_TASKS]
        return None if any(v is None for v in values) else sum(values) / len(values)

    def rows(self) -> list[str]:
        return self.tasks + ([MEAN_ROW] if all(t in self.tasks for t in MEAN_TASKS) else [])


def length_order(label: str) -> float:
    """Sort key for length labels: ``0k`` < ``1500`` < ``2k`` < ``1M``."""
    match = re.fullmatch(r"([0-9.]+)([kKmM]?)", label)
    return float(match.group(1)) * _UNITS[match.group(2).lower()] if match else float("inf")


def build_table(records: dict[str, dict[str, Any]], scorer: str, title: str) -> Table:
    """Count every record of a run into its cell."""
    table = Table(title, scorer)
    for record in records.values():
        cell = table.cells.setdefault((record["task"], record["length"]), Cell())
        recall = (record.get("retrieval") or {}).get("recall")
        if recall is not None:
            cell.with_recall += 1
            cell.retrieved += bool(recall)
        status = record.get("status")
        if status == "ok":
            cell.scored += 1
            cell.correct += bool((record.get("scores") or {}).get(scorer))
        elif status == "too_long":
            cell.too_long += 1
        else:
            cell.errors += 1
    return table


def markdown(table: Table) -> str:
    """The accuracy table and, below it, how many samples each cell rests on."""
    lengths = table.lengths
    head = ["| task | " + " | ".join(lengths) + " |", "|---|" + "---:|" * len(lengths)]
    accuracy = [f"| {row} | " + " | ".join(_format(table, row, n) for n in lengths) + " |" for row in table.rows()]
    counts = [f"| {task} | " + " | ".join(_count(table.cells.get((task, n))) for n in lengths) + " |" for task in table.tasks]
    notes = []
    if any(c.too_long or c.errors for c in table.cells.values()):
        notes.append("\n`*` some samples of this cell were not scored (too_long: the prompt exceeds the model's "
                     "context window; error: the model failed); accuracy is over the scored ones.")
    recall = [f"| {task} | " + " | ".join(_recall(table.cells.get((task, n))) for n in lengths) + " |" for task in table.tasks]
    if any(c.with_recall for c in table.cells.values()):
        notes.append("\nRetrieval recall % (top-k chunks held every supporting fact):\n\n" + "\n".join([*head, *recall]))
    return "\n".join([f"### {table.title} — accuracy %, scorer `{table.scorer}`", "", *head, *accuracy, "",
                      "Samples scored (not scored):", "", *head, *counts, *notes])


def _recall(cell: Cell | None) -> str:
    return "" if cell is None or cell.recall is None else f"{cell.recall:.1f}"


def _format(table: Table, row: str, length: str) -> str:
    value = table.accuracy(row, length)
    if row == MEAN_ROW:
        return "—" if value is None else f"{value:.1f}"
    cell = table.cells.get((row, length))
    if cell is None:
        return ""
    if value is None:
        return "too long" if cell.too_long else "error"
    return f"{value:.1f}" + ("*" if cell.too_long or cell.errors else "")


def _count(cell: Cell | None) -> str:
    if cell is None:
        return ""
    missing = [f"{cell.too_long} too_long"] * bool(cell.too_long) + [f"{cell.errors} error"] * bool(cell.errors)
    return f"{cell.scored}" + (f" ({', '.join(missing)})" if missing else "")


def write_csv(tables: list[Table], path: Path) -> None:
    """One row per (run, scorer, task, length)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run", "scorer", "task", "length", "accuracy", "correct", "scored", "too_long", "errors"])
        for table in tables:
            for (task, length), cell in sorted(table.cells.items(), key=lambda i: (int(i[0][0][2:]), length_order(i[0][1]))):
                accuracy = "" if cell.accuracy is None else f"{cell.accuracy:.2f}"
                writer.writerow([table.title, table.scorer, task, length, accuracy, cell.correct, cell.scored,
                                 cell.too_long, cell.errors])


def heatmap(tables: list[Table], path: Path) -> None:
    """Tasks x lengths, 0-100, red to green, each cell annotated; several runs side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    width = sum(1.2 + 0.7 * len(t.lengths) for t in tables)
    height = 1.2 + 0.45 * max(len(t.rows()) for t in tables)
    figure, axes = plt.subplots(1, len(tables), figsize=(max(width, 4), height), squeeze=False)
    for axis, table in zip(axes[0], tables):
        rows, lengths = table.rows(), table.lengths
        values = np.array([[np.nan if (v := table.accuracy(r, n)) is None else v for n in lengths] for r in rows])
        image = axis.imshow(values, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
        axis.set_xticks(range(len(lengths)), lengths)
        axis.set_yticks(range(len(rows)), rows)
        axis.set_title(table.title, fontsize=9)
        for i in range(len(rows)):
            for j in range(len(lengths)):
                text = "—" if np.isnan(values[i, j]) else f"{values[i, j]:.0f}"
                cell = table.cells.get((rows[i], lengths[j]))
                if cell is not None and cell.recall is not None:
                    text += f"\nr{cell.recall:.0f}"  # retrieval recall under the accuracy
                axis.text(j, i, text, ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axes[0].tolist(), label="accuracy %")
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def export_predictions(manifest: dict[str, Any], records: dict[str, dict[str, Any]], root: Path) -> Path:
    """The public leaderboard layout: ``root/{org}/{model}/{task}_{length}_{prompt}.csv`` plus a ``.json``."""
    config = manifest["config"]
    org, model = _org_and_model(config)
    prompt = config["prompt"]
    folder = root / org / model
    folder.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records.values():
        groups.setdefault((record["task"], record["length"]), []).append(record)
    settings = {"prompt": prompt, "generation": {"max_new_tokens": config["max_new_tokens"], "do_sample": False},
                "model": config["model"], "model_settings": config["model_settings"], "config_hash": manifest["config_hash"]}
    for (task, length), group in groups.items():
        stem = folder / f"{task}_{length}_{prompt['name']}"
        with stem.with_suffix(".csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["", "target", "output", "question"])
            for record in sorted(group, key=lambda r: r["index"]):
                writer.writerow([record["index"], record["target"], _export_output(record), record["question"]])
        stem.with_suffix(".json").write_text(json.dumps(settings, indent=2, default=str) + "\n")
    return folder


def _export_output(record: dict[str, Any]) -> str:
    return record["output"] if record.get("status") == "ok" else f"[{record.get('status')}]"


def _org_and_model(config: dict[str, Any]) -> tuple[str, str]:
    settings = config.get("model_settings", {})
    name = str(settings.get("pretrained") or settings.get("model") or config["model"])
    org, _, model = name.rpartition("/")
    return _safe(org or "local"), _safe(model)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"


def run_title(manifest: dict[str, Any]) -> str:
    config = manifest["config"]
    org, model = _org_and_model(config)
    return f"{model} ({config['model']}, {manifest['config_hash'][:8]})"


def report_runs(runs: list[Path], out: Path | None, export: Path | None, quiet: bool = False) -> list[Table]:
    """Tables for every run and scorer: printed, and written as CSV and heatmaps."""
    from babilong.runs import load_run

    tables: list[Table] = []
    for run in runs:
        manifest, loaded = load_run(run)
        for warning in loaded.warnings:
            print(f"babilong: warning: {warning}", file=sys.stderr)
        if not loaded.records:
            raise BabilongError(f"{run} has no results yet: run 'babilong eval' with --output {run} first")
        run_tables = [build_table(loaded.records, scorer, run_title(manifest)) for scorer in SCORERS]
        target = out or run
        _write(target, lambda: write_csv(run_tables, target / "accuracy.csv"))
        _write(target, lambda: heatmap(run_tables[:1], target / "heatmap.png"))
        text = "\n\n".join(markdown(t) for t in run_tables)
        _write(target, lambda: (target / "report.md").write_text(text + "\n"))
        if export:
            _write(export, lambda: export_predictions(manifest, loaded.records, export))
        if not quiet:
            print(text + "\n")
        tables.extend(run_tables)
    if len(runs) > 1:
        target = out or Path("runs") / "comparison"
        default = [t for t in tables if t.scorer == "babilong"]
        _write(target, lambda: heatmap(default, target / "comparison.png"))
        _write(target, lambda: write_csv(tables, target / "comparison.csv"))
        print(f"comparison of {len(runs)} runs: {target / 'comparison.png'}", file=sys.stderr)
    return tables


def _write(folder: Path, action: Any) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        action()
    except OSError as error:
        raise BabilongError(f"cannot write report files in {folder}: {error.strerror or error}; choose a writable --out") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=arguments.existing_folder, help="run directories written by 'babilong eval'")
    parser.add_argument("--out", type=arguments.output_folder, help="folder for CSV and figures (default: each run's folder; runs/comparison for several)")
    parser.add_argument("--export", type=arguments.output_folder, help="also write predictions in the public leaderboard layout under this folder")


def run(args: argparse.Namespace) -> int:
    report_runs(args.runs, args.out, args.export)
    return 0
