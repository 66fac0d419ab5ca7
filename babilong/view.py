"""``babilong view``: one page that shows runs and published predictions, opened from disk.

The page (``view.html``) holds the accuracy heatmaps (task x length, intervals on hover), the
depth x length maps of our runs, and a sample browser: for one sample its question, target,
supporting facts in their haystack, raw output with the committed answer marked, and each
scorer's verdict with the rule that decided it (``scorers.explainers()``, the code that makes the
verdicts). Nothing is fetched: the script and styles are inlined, and no server is needed.

A small view is one self-contained file. Past ``SINGLE_FILE_LIMIT`` bytes of sample data, the
samples of each (run, task, length) go into a script file of their own in ``view_files/``
beside the page, loaded when that cell is opened (script files load from disk where
``fetch`` of a local file is refused).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from babilong import arguments, depth
from babilong.errors import BabilongError
from babilong.scorers import DEFAULT_SCORER, accuracy_scorers, explainers
from babilong.scoring import RULES

HELP = "write view.html: heatmaps, depth x length maps and a sample browser for runs and published predictions"
SINGLE_FILE_LIMIT = 32 * 1024 * 1024  # bytes of sample data kept inside view.html; past it, per-cell files
OUTPUT_SHOWN = 4000  # characters of a raw output kept for the page (the rest is counted, not shown)
PAGE = "view.html"


@dataclass
class Written:
    """What ``write_view`` wrote: the page, the folder of cell files (folder form) and their bytes."""

    page: Path
    folder: Path | None
    page_bytes: int
    cell_bytes: int
    cells: int
    samples: int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=arguments.existing_folder,
                        help="run folders written by 'babilong eval', or model folders of published predictions")
    parser.add_argument("--output", "--out", dest="out", type=Path, help="the page to write, or a folder for it (default: view.html in a "
                        "run's own folder; runs/view/ for several sources or a published folder)")
    parser.add_argument("--prompt-config", dest="prompts", action="append", metavar="NAME",
                        help="of published folders, show only this prompt configuration (repeatable)")
    parser.add_argument("--single-file-limit", type=arguments.positive, default=SINGLE_FILE_LIMIT // 2**20,
                        metavar="MB", help=f"past this much sample data the view becomes a page plus per-cell files "
                                           f"(default {SINGLE_FILE_LIMIT // 2**20})")


def run(args: argparse.Namespace) -> int:
    from babilong.sources import load_sources

    sources = load_sources(args.runs, args.prompts)
    page = _page_path(args.out, sources)
    written = write_view(sources, page, args.single_file_limit * 2**20)
    print(describe(written), file=sys.stderr)
    return 0


def describe(written: Written) -> str:
    where = f"{written.page}" + (f" (+ {written.cells} cell files in {written.folder}, loaded as opened)"
                                 if written.folder else " (one self-contained file)")
    return f"view: {where}; {written.samples} samples, {(written.page_bytes + written.cell_bytes) / 2**20:.1f} MB"


def _page_path(out: Path | None, sources: list[Any]) -> Path:
    if out is None:
        own = sources[0].run_folder if len(sources) == 1 else None
        return (own or Path("runs") / "view") / PAGE
    if out.suffix.lower() in (".html", ".htm"):
        return out
    return out / PAGE


# ---- the data the page shows ----

def run_summary(number: int, source: Any) -> dict[str, Any]:
    """What the page shows of a run before any cell is opened: its cells' counts and intervals, its depth maps."""
    from babilong.tables import MEAN_ROW, build_table, length_order, task_order

    tables = {scorer: build_table(source.records, scorer, source.title) for scorer in accuracy_scorers()}
    first = tables[DEFAULT_SCORER]
    disagree: dict[tuple[str, str], int] = {}
    for record in source.records.values():
        scores = record.get("scores") or {}
        if record.get("status") == "ok" and len({bool(v) for v in scores.values()}) > 1:
            key = (record["task"], record["length"])
            disagree[key] = disagree.get(key, 0) + 1
    cells = {}
    for (task, length), cell in first.cells.items():
        cells[f"{task}/{length}"] = {
            "scored": cell.scored, "too_long": cell.too_long, "errors": cell.errors,
            "disagree": disagree.get((task, length), 0),
            "scores": {scorer: _rate(table.cells[(task, length)]) for scorer, table in tables.items()},
        }
    maps = {scorer: _depth_data(depth.depth_maps(source.records.values(), scorer)) for scorer in accuracy_scorers()}
    means = {scorer: {length: _mean(table, length) for length in table.lengths} for scorer, table in tables.items()}
    return {"id": number, "title": source.title, "kind": "run" if source.run_folder else "published",
            "notes": source.notes, "tasks": sorted({t for t, _ in first.cells}, key=task_order),
            "lengths": sorted({n for _, n in first.cells}, key=length_order), "cells": cells,
            "depth": maps if any(maps.values()) else None, "mean_row": MEAN_ROW,
            "means": means if MEAN_ROW in first.rows() else None}


def _mean(table: Any, length: str) -> list[float] | None:
    """[accuracy, low, high] of the qa1-qa5 mean at one length, as report.md gives it (None unless all five were scored)."""
    mean, interval = table.mean(length), table.mean_interval(length)
    return None if mean is None or interval is None else [round(mean, 2), round(interval[0], 2), round(interval[1], 2)]


def _rate(cell: Any) -> list[float | int | None]:
    """[correct, accuracy, low, high] of one cell under one scorer (None where nothing was scored)."""
    if not cell.scored:
        return [0, None, None, None]
    low, high = cell.interval
    return [cell.correct, round(cell.accuracy, 2), round(low, 2), round(high, 2)]


def _depth_data(maps: depth.DepthMaps) -> dict[str, dict[str, list[list[Any]]]]:
    """task -> mode -> [[bin, length, correct, n, low, high], ...]"""
    data: dict[str, dict[str, list[list[Any]]]] = {}
    for task, modes in maps.items():
        data[task] = {}
        for mode, cells in modes.items():
            data[task][mode] = [[b, length, c.correct, c.n, *(round(x, 2) for x in c.interval)]
                                for (b, length), c in sorted(cells.items(), key=lambda item: (item[0][0], item[0][1]))]
    return data


def cell_samples(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the sample browser needs of each record of one cell, in index order."""
    return [_sample(record) for record in sorted(records, key=lambda r: (r.get("index") or 0, r["key"]))]


def _sample(record: dict[str, Any]) -> dict[str, Any]:
    output = record.get("output")
    item: dict[str, Any] = {"key": record["key"], "index": record.get("index"), "status": record.get("status"),
                            "question": str(record.get("question") or "").strip(), "target": record.get("target"),
                            "verdicts": record.get("scores")}
    if output is not None:
        item["output"] = output[:OUTPUT_SHOWN]
        if len(output) > OUTPUT_SHOWN:
            item["output_chars"] = len(output)
        if record.get("status") == "ok":
            item["why"] = {name: _why(explain(output, str(record["target"]), str(record["question"]), record["task"]))
                           for name, explain in explainers().items()}
    for name in ("error", "depths", "supporting_facts", "prompt_tokens", "output_tokens", "latency"):
        if record.get(name) is not None:
            item[name] = record[name]
    return item


def _why(explanation: Any) -> dict[str, Any]:
    why = {"correct": explanation.correct, "rule": explanation.rule, "labels": list(explanation.labels),
           "span": list(explanation.span) if explanation.span else None, "notes": list(explanation.notes)}
    if explanation.span and explanation.span[1] > OUTPUT_SHOWN:
        why["statement"] = explanation.statement  # past the part of the output the page keeps
    return why


def _cells(records: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    from babilong.tables import length_order, task_order

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records.values():
        groups.setdefault((record["task"], record["length"]), []).append(record)
    for (task, length) in sorted(groups, key=lambda c: (task_order(c[0]), length_order(c[1]))):
        yield task, length, groups[(task, length)]


# ---- writing ----

def write_view(sources: list[Any], page: Path, limit: int = SINGLE_FILE_LIMIT,
               cache: dict[tuple[int, str, str], str] | None = None) -> Written:
    """The page, self-contained while its sample data stays under ``limit`` bytes, else with per-cell files.

    Written through temporary names: a failure leaves the previous view (or none), never half of one.
    ``cache`` keeps each cell's samples (as JSON) between views of the same sources: a report
    writes one view per source and then one of them all.
    """
    cache = {} if cache is None else cache
    folder = page.with_name(page.stem + "_files")
    partial_folder = folder.with_name(folder.name + ".partial")
    partial_page = page.with_name(page.name + ".partial")
    try:
        page.parent.mkdir(parents=True, exist_ok=True)
        _remove_tree(partial_folder)
        index = {"runs": [], "scorers": accuracy_scorers(), "default_scorer": DEFAULT_SCORER, "rules": RULES,
                 "depth": {"bins": depth.BINS, "modes": list(depth.MODES), "hint": depth.SWEEP_HINT},
                 "files": None}
        inline: dict[str, str] = {}
        size = cell_bytes = cells = samples = 0
        folder_form = False
        for number, source in enumerate(sources):
            index["runs"].append(run_summary(number, source))
            for task, length, records in _cells(source.records):
                cell_id, key = f"{number}/{task}/{length}", (id(source.records), task, length)
                text = cache[key] if key in cache else cache.setdefault(key, _json(cell_samples(records)))
                cells, samples = cells + 1, samples + len(records)
                if not folder_form and size + len(text) > limit:
                    folder_form = True
                    for known, known_text in inline.items():
                        cell_bytes += _write_cell(partial_folder, known, known_text)
                    inline.clear()
                if folder_form:
                    cell_bytes += _write_cell(partial_folder, cell_id, text)
                else:
                    inline[cell_id] = text
                    size += len(text)
        if folder_form:
            index["files"] = folder.name
        partial_page.write_text(_page(index, inline), encoding="utf-8")
        _swap_folder(partial_folder if folder_form else None, folder)
        os.replace(partial_page, page)
    except OSError as error:
        _remove_tree(partial_folder)
        partial_page.unlink(missing_ok=True)
        raise BabilongError(f"cannot write the view {page}: {error.strerror or error}; choose a writable --out") from None
    except BaseException:
        _remove_tree(partial_folder)
        partial_page.unlink(missing_ok=True)
        raise
    return Written(page, folder if folder_form else None, page.stat().st_size, cell_bytes, cells, samples)


def cell_file_name(cell_id: str) -> str:
    """``0/qa1/1k`` -> ``r0-qa1-1k.js`` (the page computes the same name)."""
    return "r" + cell_id.replace("/", "-") + ".js"


def _write_cell(folder: Path, cell_id: str, text: str) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    body = f"babilongCell({json.dumps(cell_id)}, {text});\n"
    (folder / cell_file_name(cell_id)).write_text(body, encoding="utf-8")
    return len(body.encode())


def _swap_folder(new: Path | None, folder: Path) -> None:
    """Put the new cell files in place of any old ones (or just remove old ones for a one-file view)."""
    old = folder.with_name(folder.name + ".old")
    _remove_tree(old)
    if folder.exists():
        folder.rename(old)
    if new is not None:
        new.rename(folder)
    _remove_tree(old)


def _remove_tree(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _json(value: Any) -> str:
    """JSON that is safe inside a <script> element (no '<' that could close it)."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True).replace("<", "\\u003c")


def _page(index: dict[str, Any], inline: dict[str, str]) -> str:
    assets = resources.files("babilong") / "view_page"
    template = (assets / "page.html").read_text(encoding="utf-8")
    cells = "{" + ",".join(f"{json.dumps(cell_id)}:{text}" for cell_id, text in inline.items()) + "}"
    data = f"window.BABILONG_VIEW = {_json(index)};\nwindow.BABILONG_CELLS = {cells};"
    head, _, rest = template.partition("/*STYLE*/")
    middle, _, rest = rest.partition("/*DATA*/")
    before_script, _, tail = rest.partition("/*SCRIPT*/")  # split first: the data may hold any text
    return "".join([head, (assets / "view.css").read_text(encoding="utf-8"), middle, data, before_script,
                    (assets / "view.js").read_text(encoding="utf-8"), tail])
