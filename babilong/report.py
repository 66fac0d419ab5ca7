"""Accuracy tables, CSV, heatmaps and comparisons from runs of ours and published predictions.

A source is either a run folder written by ``babilong eval`` or a model folder in the public
leaderboard's predictions layout (see ``babilong.published``); a published folder with
several prompt configurations gives one source per configuration. Every cell carries a 95%
Wilson interval, since 3-100 samples per cell is noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babilong import arguments
from babilong.errors import BabilongError
from babilong.published import (
    PublishedRun,
    export_predictions,
    find_runs,
    is_published_folder,
    load_records,
    org_and_model,
    safe_name,
)
from babilong.scorers import DEFAULT_SCORER, accuracy_scorers, get_scorer, other_scorers

HELP = "Tables, CSV, heatmaps and comparisons of eval runs and published predictions; leaderboard export"
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


# ---- sources: runs of ours and published prediction folders ----

@dataclass
class Source:
    """Results to report: a run of ours or one prompt configuration of a published folder."""

    title: str
    name: str  # file-system safe, unique among the sources of one report
    records: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)  # lines for report.md: where the results come from
    run_folder: Path | None = None  # set for runs of ours: their files go there by default
    manifest: dict[str, Any] | None = None  # set for runs of ours: what an export needs
    expected: set[str] | None = None  # runs of ours: the keys asked for (missing ones are unfinished)


def load_sources(paths: list[Path], prompts: list[str] | None = None) -> list[Source]:
    """Each path as one or more sources; the same run given twice is told apart by a number."""
    sources: list[Source] = []
    for path in paths:
        sources.extend(_load(Path(path), prompts))
    sources = _join_shards(sources)
    taken: set[str] = set()
    for source in sources:
        name, title, number = source.name, source.title, 1
        while source.name in taken:
            number += 1
            source.name, source.title = f"{name}-{number}", f"{title} #{number}"
        taken.add(source.name)
    return sources


def _load(path: Path, prompts: list[str] | None) -> list[Source]:
    from babilong.runs import MANIFEST

    if (path / MANIFEST).is_file():
        return [_our_run(path)]
    if is_published_folder(path):
        return [_published_run(run) for run in find_runs(path, prompts)]
    inner = sorted(str(p.relative_to(path)) for p in path.glob("*/*") if is_published_folder(p)) if path.is_dir() else []
    hint = f"; it holds published model folders, give one of them: {', '.join(inner)}" if inner else ""
    raise BabilongError(f"{path} is not a run directory (no {MANIFEST}) nor a published predictions folder "
                        f"(no {{task}}_{{length}}_{{prompt}}.csv files){hint}")


def _our_run(path: Path) -> Source:
    from babilong.runs import RunLayout, load_run
    from babilong.shards import keys_of_groups

    manifest, loaded = load_run(path)
    for warning in loaded.warnings:
        print(f"babilong: warning: {warning}", file=sys.stderr)
    if not loaded.records:
        raise BabilongError(f"{path} has no results yet: run 'babilong eval' with --output {path} first")
    layout = RunLayout.of(manifest)
    config = manifest["config"]
    _, model = org_and_model(config)
    short_hash = manifest["config_hash"][:8]
    shard = f", shard {layout.shard}" if layout.shard.count > 1 else ""
    title = f"{model} ({config['model']}, {short_hash}{shard})"
    return Source(title, safe_name(f"{model}-{short_hash}"), loaded.records, [f"Run folder: `{path}`."],
                  run_folder=path, manifest=manifest, expected=set(keys_of_groups(layout.groups, layout.shard)))


def _join_shards(sources: list[Source]) -> list[Source]:
    """Shard folders of one configuration become one source, as ``babilong merge`` would join them."""
    from babilong.merge import merge_folders
    from babilong.runs import RunLayout
    from babilong.shards import keys_of_groups

    sharded: dict[str, list[Source]] = {}
    for source in sources:
        if source.manifest is not None and RunLayout.of(source.manifest).shard.count > 1:
            sharded.setdefault(source.manifest["config_hash"], []).append(source)
    joined: list[Source] = []
    for source in sources:
        group = sharded.get(source.manifest["config_hash"]) if source.manifest is not None else None
        if not group:
            joined.append(source)
        elif group[0] is source:
            merged = merge_folders([s.run_folder for s in group])
            title = source.title.rsplit(", shard", 1)[0] + f", {len(group)} shards)"
            notes = [f"Run folders (shards of one run): {', '.join(f'`{s.run_folder}`' for s in group)}."]
            joined.append(Source(title, source.name, merged.records, notes, run_folder=None,
                                 manifest=merged.merged_manifest(), expected=set(keys_of_groups(merged.groups))))
    return joined


def _published_run(run: PublishedRun) -> Source:
    records = load_records(run)
    notes = [f"Published predictions: `{run.folder}`, prompt configuration `{run.prompt}` "
             f"({len(run.files)} files), re-scored from the raw outputs."]
    settings = run.settings()
    generation = settings.get("generate_kwargs") or settings.get("generation")
    if generation:
        notes.append("Generation settings: " + ", ".join(f"{k}={v}" for k, v in generation.items()) + ".")
    title = f"{run.org}/{run.model} [{run.prompt}]"
    return Source(title, safe_name(f"{run.org}-{run.model}-{run.prompt}"), records, notes)


# ---- text ----

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


_UNSCORED_NOTE = ("`*` some samples of this cell were not scored (too_long: the prompt exceeds the model's "
                  "context window; cut: --max-new-tokens ran out before the model answered; error: the model "
                  "failed); accuracy is over the scored ones.")
_UNFINISHED_NOTE = ("`†` unfinished: some samples this run asked for have no result yet (a shard or an "
                    "interrupted run); rerun or merge the missing shard before trusting the cell.")
_INTERVAL_NOTE = "Each cell: accuracy % (95% Wilson interval)."


def markdown(table: Table) -> str:
    """The accuracy table and, below it, how many samples each cell rests on."""
    lengths = table.lengths
    head = ["| task | " + " | ".join(lengths) + " |", "|---|" + "---:|" * len(lengths)]
    accuracy = [f"| {row} | " + " | ".join(format_value(table, row, n) for n in lengths) + " |" for row in table.rows()]
    counts = [f"| {task} | " + " | ".join(_count(table.cells.get((task, n))) for n in lengths) + " |" for task in table.tasks]
    notes = []
    if any(c.too_long or c.cut or c.errors for c in table.cells.values()):
        notes.append("\n" + _UNSCORED_NOTE)
    if any(c.unfinished for c in table.cells.values()):
        notes.append("\n" + _UNFINISHED_NOTE)
    for other in other_scorers():
        if any(other.name in c.measures for c in table.cells.values()):
            rates = [f"| {task} | " + " | ".join(_rate(table.cells.get((task, n)), other.name) for n in lengths) + " |"
                     for task in table.tasks]
            notes.append(f"\n{other.heading or other.name}:\n\n" + "\n".join([*head, *rates]))
    return "\n".join([f"### {table.title} — accuracy %, scorer `{table.scorer}`", "", _INTERVAL_NOTE, "",
                      *head, *accuracy, "", "Samples scored (not scored):", "", *head, *counts, *notes])


def comparison_markdown(tables: list[Table]) -> str:
    """Several sources under one scorer: the qa1-qa5 mean per length, then every task and length."""
    lengths = sorted({n for t in tables for n in t.lengths}, key=length_order)
    tasks = sorted({task for t in tables for task in t.tasks}, key=task_order)
    titles = " | ".join(t.title for t in tables)
    parts = [f"### Comparison — accuracy %, scorer `{tables[0].scorer}`", "", _INTERVAL_NOTE]
    if any(MEAN_ROW in t.rows() for t in tables):
        parts += ["", f"Mean over {', '.join(MEAN_TASKS)}:", "", f"| length | {titles} |", "|---|" + "---:|" * len(tables)]
        parts += [f"| {n} | " + " | ".join(format_value(t, MEAN_ROW, n) for t in tables) + " |" for n in lengths]
    parts += ["", "Every task:", "", f"| task | length | {titles} |", "|---|---|" + "---:|" * len(tables)]
    parts += [f"| {task} | {n} | " + " | ".join(format_value(t, task, n) for t in tables) + " |"
              for task in tasks for n in lengths if any((task, n) in t.cells for t in tables)]
    if any(t.unscored(task, n) for t in tables for task, n in t.cells):
        parts += ["", _UNSCORED_NOTE]
    if any(t.unfinished(task, n) for t in tables for task, n in t.cells):
        parts += ["", _UNFINISHED_NOTE]
    return "\n".join(parts)


def _rate(cell: Cell | None, scorer: str) -> str:
    rate = None if cell is None else cell.rate(scorer)
    return "" if rate is None else f"{rate:.1f}"


def _count(cell: Cell | None) -> str:
    if cell is None:
        return ""
    missing = [f"{cell.too_long} too_long"] * bool(cell.too_long) + [f"{cell.cut} cut"] * bool(cell.cut) + \
        [f"{cell.errors} error"] * bool(cell.errors) + [f"{cell.unfinished} unfinished"] * bool(cell.unfinished)
    return f"{cell.scored}" + (f" ({', '.join(missing)})" if missing else "")


# ---- files ----

CSV_COLUMNS = ["run", "scorer", "task", "length", "accuracy", "ci_low", "ci_high", "correct", "scored", "too_long", "errors",
               "cut"]


def write_csv(tables: list[Table], path: Path) -> None:
    """One row per (run, scorer, task, length), then the qa1-qa5 mean per length; 95% Wilson bounds."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for table in tables:
            for task, length in sorted(table.cells, key=lambda c: (task_order(c[0]), length_order(c[1]))):
                cell = table.cells[(task, length)]
                writer.writerow([table.title, table.scorer, task, length, *_numbers(table, task, length),
                                 cell.correct, cell.scored, cell.too_long, cell.errors, cell.cut])
            for length in table.lengths if MEAN_ROW in table.rows() else []:
                cells = [table.cells[(task, length)] for task in MEAN_TASKS if (task, length) in table.cells]
                writer.writerow([table.title, table.scorer, MEAN_ROW, length, *_numbers(table, MEAN_ROW, length),
                                 *(sum(getattr(c, name) for c in cells) for name in ("correct", "scored", "too_long", "errors", "cut"))])


def _numbers(table: Table, row: str, length: str) -> list[str]:
    value, interval = table.accuracy(row, length), table.interval(row, length)
    if value is None or interval is None:
        return ["", "", ""]
    return [f"{value:.2f}", f"{interval[0]:.2f}", f"{interval[1]:.2f}"]


def heatmap(tables: list[Table], path: Path) -> None:
    """Tasks x lengths, 0-100, red to green, each cell annotated; several runs side by side on shared axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    lengths = sorted({n for t in tables for n in t.lengths}, key=length_order)
    rows = sorted({r for t in tables for r in t.rows()}, key=task_order)
    figure, axes = plt.subplots(1, len(tables), figsize=(max(len(tables) * (1.2 + 0.7 * len(lengths)), 4),
                                                          1.4 + 0.45 * len(rows)), squeeze=False)
    for number, (axis, table) in enumerate(zip(axes[0], tables)):
        values = np.array([[np.nan if (v := table.accuracy(r, n)) is None else v for n in lengths] for r in rows])
        image = axis.imshow(values, cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
        axis.set_xticks(range(len(lengths)), lengths)
        axis.set_yticks(range(len(rows)), rows if number == 0 else [])  # rows are shared: named once
        axis.set_title(_wrapped(table.title), fontsize=8)
        for i, row in enumerate(rows):
            for j, length in enumerate(lengths):
                cell = table.cells.get((row, length))
                if cell is None and not (row == MEAN_ROW and length in table.lengths):
                    continue  # never run: left blank
                text = "—" if np.isnan(values[i, j]) else f"{values[i, j]:.0f}"
                for other in other_scorers():  # other metrics under the accuracy: r67 is 67% retrieval recall
                    if cell is not None and (rate := cell.rate(other.name)) is not None:
                        text += f"\n{other.metric[0]}{rate:.0f}"
                axis.text(j, i, text, ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axes[0].tolist(), label="accuracy %")
    figure.savefig(path, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)


def _wrapped(title: str, width: int = 44) -> str:
    """A panel title over a few lines: the model, then its prompt configuration broken at underscores."""
    model, _, prompt = title.partition(" [")
    lines = textwrap.wrap(model, width)
    if prompt:
        lines += textwrap.wrap("[" + prompt.replace("_", "_ "), width)
    return "\n".join(line.replace("_ ", "_") for line in lines)


def _write(path: Path, write: Callable[[Path], Any]) -> None:
    """Write through a temporary name, so a failure never leaves a partial file under ``path``."""
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        os.replace(partial, path)
    except OSError as error:
        _remove(partial)
        raise BabilongError(f"cannot write {path}: {error.strerror or error}; choose a writable --output") from None
    except BaseException:
        _remove(partial)
        raise


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _write_heatmap(tables: list[Table], path: Path) -> None:
    try:
        import matplotlib  # noqa: F401  (optional: the 'plot' extra)
    except ModuleNotFoundError:
        print(f"babilong: warning: no heatmap {path}: matplotlib is missing; pip install 'babilong[plot]'", file=sys.stderr)
        return
    _write(path, lambda partial: heatmap(tables, partial))


def _write_run_files(tables: list[Table], folder: Path, source: Source) -> str:
    """``report.md``, ``accuracy.csv``, ``heatmap.png`` (and ``depth.png``) of one source; returns the markdown."""
    text = "\n\n".join([*source.notes, *(markdown(t) for t in tables)])
    _write(folder / "report.md", lambda p: p.write_text(text + "\n"))
    _write(folder / "accuracy.csv", lambda p: write_csv(tables, p))
    _write_heatmap([t for t in tables if t.scorer == DEFAULT_SCORER] or tables[:1], folder / "heatmap.png")
    _write_depth_png(source, folder / "depth.png")
    return text


def _write_depth_png(source: Source, path: Path) -> None:
    """Accuracy by supporting-fact depth x length per task, for a source whose records know their depths."""
    from babilong import depth

    maps = depth.depth_maps(source.records.values(), DEFAULT_SCORER)
    if not maps:
        return
    try:
        import matplotlib  # noqa: F401  (optional: the 'plot' extra)
    except ModuleNotFoundError:
        print(f"babilong: warning: no {path}: matplotlib is missing; pip install 'babilong[plot]'", file=sys.stderr)
        return
    _write(path, lambda partial: depth.write_png(maps, source.title, partial))


def _write_view(sources: list[Source], page: Path, cache: dict[tuple[int, str, str], str] | None = None) -> None:
    from babilong.view import describe, write_view

    print(describe(write_view(sources, page, cache=cache)), file=sys.stderr)


def report_runs(runs: list[Path], out: Path | None, export: Path | None, quiet: bool = False,
                prompts: list[str] | None = None, view: bool = True) -> list[Table]:
    """Tables for every source and scorer, printed and written; several sources also get one comparison.

    One source: its files go to ``--output``, else to its run folder (``runs/report/NAME`` for a
    published folder, which is never written to). Several: ``comparison.{md,csv,png}`` in
    ``--output`` (default ``runs/comparison``) and each source's files in ``--output/NAME/`` (a run of
    ours without ``--output`` keeps them in its own folder). ``view.html`` goes beside each
    ``report.md`` and ``comparison.md`` unless ``view`` is false.
    """
    sources = load_sources(runs, prompts)
    several = len(sources) > 1
    base = out or Path("runs") / ("comparison" if several else "report")
    by_source: list[list[Table]] = []
    view_cache: dict[tuple[int, str, str], str] | None = {} if several else None  # the comparison view reuses them
    for source in sources:
        tables = [build_table(source.records, scorer, source.title, source.expected) for scorer in accuracy_scorers()]
        by_source.append(tables)
        folder = _folder(source, out, base, several)
        text = _write_run_files(tables, folder, source)
        if view:
            _write_view([source], folder / "view.html", view_cache)
        if not several and not quiet:
            print(text + "\n")
        if several:
            print(f"{source.title}: {folder}", file=sys.stderr)
        if export and source.manifest is not None:
            _write_export(export, lambda: export_predictions(source.manifest, source.records, export))
        elif export:
            print(f"babilong: --export skips {source.title}: it is already in the leaderboard layout", file=sys.stderr)
    if several:
        _write_comparison(by_source, sources, base, quiet)
        if view:
            _write_view(sources, base / "view.html", view_cache)
    return [t for tables in by_source for t in tables]


def _folder(source: Source, out: Path | None, base: Path, several: bool) -> Path:
    """Where one source's files go: never into a published folder, never onto another source's names."""
    if out is None and source.run_folder is not None:
        return source.run_folder
    if several or out is None:
        return base / source.name
    return out


def _write_comparison(by_source: list[list[Table]], sources: list[Source], base: Path, quiet: bool) -> None:
    by_scorer = {scorer: [tables[i] for tables in by_source] for i, scorer in enumerate(accuracy_scorers())}
    legend = "\n".join(f"- {note}" for source in sources for note in source.notes)
    text = "\n\n".join([legend, *(comparison_markdown(tables) for tables in by_scorer.values())])
    _write(base / "comparison.md", lambda p: p.write_text(text + "\n"))
    _write(base / "comparison.csv", lambda p: write_csv([t for tables in by_source for t in tables], p))
    _write_heatmap(by_scorer[DEFAULT_SCORER], base / "comparison.png")
    if not quiet:
        print(text + "\n")
    print(f"comparison of {len(sources)} runs: {base / 'comparison.md'}, {base / 'comparison.csv'}, "
          f"{base / 'comparison.png'}", file=sys.stderr)


def _write_export(folder: Path, action: Callable[[], Any]) -> None:
    try:
        action()
    except OSError as error:
        raise BabilongError(f"cannot write the export in {folder}: {error.strerror or error}; choose a writable --export") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=arguments.existing_folder,
                        help="run folders written by 'babilong eval', or model folders of published predictions "
                             "({task}_{length}_{prompt}.csv files, e.g. leaderboard-outputs/microsoft/Phi-3-mini-128k-instruct)")
    parser.add_argument("--output", "--out", dest="out", type=arguments.output_folder,
                        help="folder for the files (default: a run's own folder; runs/comparison for several sources; "
                             "--out is the same)")
    parser.add_argument("--prompt-config", dest="prompts", action="append", metavar="NAME",
                        help="of published folders, report only this prompt configuration (repeatable; each folder "
                             "must have one of them; default: every configuration as its own run)")
    parser.add_argument("--export", type=arguments.output_folder, help="also write runs of ours in the public leaderboard layout under this folder")
    parser.add_argument("--agreement", action="store_true",
                        help="compare two sources sample by sample (e.g. RUN PUBLISHED_FOLDER): per cell both accuracies "
                             "and the share of samples whose verdicts, and outputs, agree; agreement.md/.csv in --output")
    parser.add_argument("--no-view", action="store_true", help="do not write view.html (the browsable page) beside report.md")


def run(args: argparse.Namespace) -> int:
    if args.agreement:
        report_agreement(args.runs, args.out, args.prompts)
        return 0
    report_runs(args.runs, args.out, args.export, prompts=args.prompts, view=not args.no_view)
    return 0


def report_agreement(paths: list[Path], out: Path | None, prompts: list[str] | None = None) -> str:
    """``--agreement``: two sources compared sample by sample under every scorer; printed and written."""
    from babilong import agreement

    first, second = _two_sources(load_sources(paths, prompts), paths)
    parts, rows = [], []
    for scorer in accuracy_scorers():
        text, scorer_rows = agreement.markdown(first, second, scorer)
        parts.append(text)
        rows += scorer_rows
    legend = "\n".join(f"- {label}: {source.title}. {' '.join(source.notes)}"
                        for label, source in (("A", first), ("B", second)))
    text = "\n\n".join([legend, *parts])
    base = out or Path("runs") / "agreement"
    _write(base / "agreement.md", lambda p: p.write_text(text + "\n"))
    _write(base / "agreement.csv", lambda p: agreement.write_csv(rows, p))
    print(text + "\n")
    print(f"agreement: {base / 'agreement.md'}, {base / 'agreement.csv'}", file=sys.stderr)
    return text


def _two_sources(sources: list[Source], paths: list[Path]) -> tuple[Source, Source]:
    """The two sources to compare; of a published folder with several configurations, the one a run of ours used."""
    ours = {source.manifest["config"]["prompt"].get("name") for source in sources if source.manifest}
    if len(sources) > 2 and len(paths) == 2 and len(ours) == 1:
        chosen = [s for s in sources if s.manifest or s.title.endswith(f"[{next(iter(ours))}]")]
        sources = chosen if len(chosen) == 2 else sources
    if len(sources) != 2:
        names = "; ".join(source.title for source in sources)
        raise BabilongError(f"--agreement compares two sources, not {len(sources)} ({names}): give two, and choose a "
                            "published folder's prompt configuration with --prompt-config NAME")
    return sources[0], sources[1]
