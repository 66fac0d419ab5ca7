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
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from babilong import arguments
from babilong.errors import BabilongError
from babilong.files import atomic_write_path
from babilong.published import export_predictions
from babilong.scorers import DEFAULT_SCORER, accuracy_scorers, other_scorers
from babilong.sources import Source, load_sources
from babilong.tables import (
    MEAN_ROW,
    MEAN_TASKS,
    Cell,
    Table,
    build_table,
    format_value,
    length_order,
    task_order,
)

HELP = "Tables, CSV, heatmaps and comparisons of eval runs and published predictions; leaderboard export"
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
    atomic_write_path(path, write, describe=lambda where, error: BabilongError(
        f"cannot write {where}: {error.strerror or error}; choose a writable --output"))


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
        with _writing_into(source, folder):
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


@contextlib.contextmanager
def _writing_into(source: Source, folder: Path) -> Iterator[None]:
    """A run folder of ours is written under its lock (an eval running there refuses the report)."""
    if source.run_folder is None or folder.resolve() != source.run_folder.resolve():
        yield
        return
    from babilong.runs import run_lock

    lock = run_lock(folder)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


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
