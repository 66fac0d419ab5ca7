"""Reading published predictions as runs: CSV parsing alone (baseline), then read + re-score, then the full report.

Usage: python benchmarks/bench_report_published.py ../shared/data/leaderboard-outputs
(any folder whose {org}/{model}/ subfolders hold {task}_{length}_{prompt}.csv files).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

from babilong.published import find_runs, is_published_folder, load_records
from babilong.report import report_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder holding {org}/{model}/ prediction folders")
    args = parser.parse_args()
    folders = sorted(p for p in args.root.glob("*/*") if is_published_folder(p))
    if not folders:
        sys.exit(f"no published prediction folders under {args.root}")
    runs = [run for folder in folders for run in find_runs(folder)]

    began = time.perf_counter()
    rows = sum(_count_rows(path) for run in runs for _, _, path in run.files)
    parse_seconds = time.perf_counter() - began

    began = time.perf_counter()
    scored = sum(len(load_records(run)) for run in runs)
    score_seconds = time.perf_counter() - began

    with tempfile.TemporaryDirectory() as out:
        began = time.perf_counter()
        report_runs(folders, Path(out), None, quiet=True, view=False)
        report_seconds = time.perf_counter() - began
    with tempfile.TemporaryDirectory() as out:
        began = time.perf_counter()
        report_runs(folders, Path(out), None, quiet=True)
        view_seconds = time.perf_counter() - began

    print(f"{len(folders)} model folders, {len(runs)} prompt configurations, {sum(len(r.files) for r in runs)} files")
    print(f"baseline, csv parsing only: {rows:,} rows in {parse_seconds:.2f} s")
    print(f"read + re-scored with every scorer: {scored:,} rows in {score_seconds:.2f} s "
          f"({scored / score_seconds:,.0f} rows/s)")
    print(f"whole report (read, score, tables, CSV, markdown, {len(runs) + 1} heatmaps), --no-view: {report_seconds:.2f} s")
    print(f"whole report with its {len(runs) + 1} view.html pages: {view_seconds:.2f} s")


def _count_rows(path: Path) -> int:
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


if __name__ == "__main__":
    main()
