"""How far one run is from another, sample by sample: ``babilong report A B --agreement``.

Typically A is a run of ours and B the published predictions it reproduces. Samples are
matched by key (task, length, sample index). Per cell: both accuracies with their 95%
intervals, how many samples both hold, the share whose verdicts agree (a sample left
unscored, e.g. ``cut`` or ``too_long``, agrees only with the same status), and the share whose
outputs are exactly equal (an unscored sample's output is its status, as an export writes it).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babilong.sources import Source
from babilong.tables import Table, build_table, format_value, length_order, task_order

ALL = "all"


@dataclass
class Agreement:
    """One cell's comparison of two sources."""

    compared: int = 0  # samples both sources hold
    verdicts: int = 0  # of those, verdicts that agree
    outputs: int = 0  # of those, outputs exactly equal
    targets_differ: int = 0  # of those, samples whose targets differ: not the same data
    only_first: int = 0
    only_second: int = 0

    def share(self, count: int) -> float | None:
        return 100.0 * count / self.compared if self.compared else None

    def add(self, other: Agreement) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def compare(first: dict[str, dict[str, Any]], second: dict[str, dict[str, Any]], scorer: str) -> dict[tuple[str, str], Agreement]:
    """Per (task, length): how the two sources' samples agree under one scorer."""
    cells: dict[tuple[str, str], Agreement] = {}
    for key in first.keys() | second.keys():
        record = first.get(key) or second[key]
        cell = cells.setdefault((record["task"], record["length"]), Agreement())
        if key not in second:
            cell.only_first += 1
        elif key not in first:
            cell.only_second += 1
        else:
            a, b = first[key], second[key]
            cell.compared += 1
            cell.verdicts += _verdict(a, scorer) == _verdict(b, scorer)
            cell.outputs += _output(a) == _output(b)
            cell.targets_differ += str(a.get("target")) != str(b.get("target"))
    return cells


def _verdict(record: dict[str, Any], scorer: str) -> Any:
    """True or False when scored; the status (``cut``, ``too_long``, ``error``) when not."""
    if record.get("status") != "ok":
        return record.get("status")
    return bool((record.get("scores") or {}).get(scorer))


def _output(record: dict[str, Any]) -> str:
    return record["output"] if record.get("status") == "ok" else f"[{record.get('status')}]"


def total(cells: dict[tuple[str, str], Agreement]) -> Agreement:
    whole = Agreement()
    for cell in cells.values():
        whole.add(cell)
    return whole


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def markdown(first: Source, second: Source, scorer: str) -> tuple[str, list[list[str]]]:
    """The agreement table under one scorer, and its rows for the CSV."""
    tables = [build_table(source.records, scorer, source.title) for source in (first, second)]
    cells = compare(first.records, second.records, scorer)
    order = sorted(cells, key=lambda c: (task_order(c[0]), length_order(c[1])))
    head = [f"### Agreement — {first.title} vs {second.title}, scorer `{scorer}`", "",
            ("Accuracy % (95% Wilson interval) of each; samples both hold (by task, length, index); "
             "% of them whose verdicts agree and whose outputs are exactly equal."), "",
            "| task | length | A | B | samples | verdicts agree % | outputs equal % |",
            "|---|---|---:|---:|---:|---:|---:|"]
    lines, rows = [], []
    for task, length in order:
        cell = cells[(task, length)]
        accuracies = [format_value(table, task, length) for table in tables]
        lines.append(f"| {task} | {length} | {accuracies[0]} | {accuracies[1]} | {cell.compared} | "
                     f"{_percent(cell.share(cell.verdicts))} | {_percent(cell.share(cell.outputs))} |")
        rows.append(_csv_row(first, second, scorer, task, length, tables, cell))
    whole = total(cells)
    lines.append(f"| {ALL} | | | | {whole.compared} | {_percent(whole.share(whole.verdicts))} | "
                 f"{_percent(whole.share(whole.outputs))} |")
    rows.append(_csv_row(first, second, scorer, ALL, "", None, whole))
    return "\n".join([*head, *lines, *_warnings(whole, first, second)]), rows


def _warnings(whole: Agreement, first: Source, second: Source) -> list[str]:
    notes = []
    if whole.only_first or whole.only_second:
        notes.append(f"Samples in one source only: {whole.only_first} only in A, {whole.only_second} only in B "
                     "(not compared).")
    if whole.targets_differ:
        notes.append(f"**{whole.targets_differ} compared samples have different targets: the two are not run on the same "
                     "data** (check --data, --samples and the sample order).")
    return [""] + notes if notes else []


CSV_COLUMNS = ["a", "b", "scorer", "task", "length", "a_accuracy", "a_ci_low", "a_ci_high", "b_accuracy", "b_ci_low",
               "b_ci_high", "compared", "verdicts_agree", "outputs_equal", "verdicts_agree_pct", "outputs_equal_pct",
               "targets_differ", "only_a", "only_b"]


def _csv_row(first: Source, second: Source, scorer: str, task: str, length: str, tables: list[Table] | None,
             cell: Agreement) -> list[str]:
    numbers: list[str] = []
    for table in tables or [None, None]:
        value = table.accuracy(task, length) if table else None
        interval = table.interval(task, length) if table else None
        numbers += ["", "", ""] if value is None or interval is None else \
            [f"{value:.2f}", f"{interval[0]:.2f}", f"{interval[1]:.2f}"]
    return [first.title, second.title, scorer, task, length, *numbers, str(cell.compared), str(cell.verdicts),
            str(cell.outputs), _percent(cell.share(cell.verdicts)), _percent(cell.share(cell.outputs)),
            str(cell.targets_differ), str(cell.only_first), str(cell.only_second)]


def write_csv(rows: list[list[str]], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
