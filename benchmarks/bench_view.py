"""Size and load time of the run viewer for a large SYNTHETIC run (default 20 tasks x 13 lengths x 1,000 samples).

The run folder is written directly (no model, no haystack): each record has the fields an eval
record has, with outputs drawn from a few answer shapes, random fact depths and random
excerpts; prompts are stored short (a real 128k record keeps 40,000 characters of prompt,
which the view does not show). Figures: the time to build the view (``write_view``: read,
explain every output with both scorers, write), the page and cell-file sizes, and, in headless
Chromium (if one is found), the time until the page is ready, to open the first cell's samples,
and to show one sample. Baseline in the same run: a small view (5 tasks x 2 lengths x 3
samples, the README demo's size) measured the same way.

Usage: PYTHONPATH=$PWD python benchmarks/bench_view.py [--tasks 20] [--lengths 13] [--samples 1000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from babilong.lengths import LADDER
from babilong.report import load_sources
from babilong.scoring import task_labels
from babilong.verdicts import score_record
from babilong.view import write_view

SHAPES = ("{label}", "Answer: The answer is {label}.", "- response: Mary went to the {label}.\n\nContext: Mary went back",
          "Answer: {other}\n\nQuestion: Where is John?\nAnswer: {label}", "{label} or {other}",
          "Mary put down the apple there.\n\nThe apple is in the {label}.")


def write_synthetic_run(folder: Path, tasks: int, lengths: int, samples: int, seed: int = 0) -> int:
    """A run folder of ``tasks x lengths x samples`` synthetic, already scored records; returns its results bytes."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    manifest = {"config_hash": "5e17e71c5e17e71c", "babilong_version": "synthetic",
                "config": {"model": "synthetic", "model_settings": {"model": "synthetic/run"}, "prompt": {"name": "synthetic"},
                           "max_new_tokens": 20, "data": {"source": "synthetic"}}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with (folder / "results.jsonl").open("w") as handle:
        for task in [f"qa{n}" for n in range(1, tasks + 1)]:
            labels = task_labels(task)
            for length in LADDER[:lengths]:
                for index in range(samples):
                    handle.write(json.dumps(_record(rng, task, length, index, labels)) + "\n")
    return (folder / "results.jsonl").stat().st_size


def _record(rng: random.Random, task: str, length: str, index: int, labels: tuple[str, ...]) -> dict:
    target, other = rng.choice(labels), rng.choice(labels)
    label = target if rng.random() < 0.6 else other
    output = rng.choice(SHAPES).format(label=label, other=other)
    depths = sorted(round(rng.uniform(0, 100), 2) for _ in range(rng.choice((1, 2, 3))))
    facts = [{"fact": f"Mary went to the {rng.choice(labels)}.", "char": int(d * 1000), "depth": d,
              "before": _words(rng, 150), "after": _words(rng, 150)} for d in depths]
    status = "too_long" if length in ("64k", "128k") and rng.random() < 0.05 else "ok"
    record = {"key": f"{task}/{length}/{index}", "task": task, "length": length, "index": index,
              "config_hash": "5e17e71c5e17e71c", "status": status, "target": target, "question": "Where is Mary?",
              "output": output if status == "ok" else None, "prompt_tokens": 100, "output_tokens": 8, "latency": 0.1,
              "error": None, "prompt": "[synthetic prompt]", "depths": depths, "supporting_facts": facts}
    return score_record(record)


def _words(rng: random.Random, size: int) -> str:
    text = ""
    while len(text) < size:
        text += rng.choice(("the ", "old ", "house ", "stood ", "by ", "a ", "river, ", "and ", "rain ", "fell. "))
    return text[:size]


def build(run: Path, page: Path) -> tuple[float, object]:
    started = time.perf_counter()
    written = write_view(load_sources([run]), page)
    return time.perf_counter() - started, written


def browse(page: Path) -> dict[str, float] | None:
    """Seconds to a ready page, to the first cell's list, and to one sample's detail, in headless Chromium."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.browser import Browser, find_browser

    executable = find_browser()
    if executable is None:
        return None
    with Browser(executable, timeout=300) as browser:
        ready = browser.open(page)
        started = time.monotonic()
        browser.wait_for("document.querySelectorAll('#sample-list tr.sample-row').length > 0", timeout=300)
        first_cell = time.monotonic() - started
        started = time.monotonic()
        browser.evaluate("document.querySelector('#sample-list tr.sample-row').click()")
        browser.wait_for("document.getElementById('detail').getAttribute('data-key')")
        detail = time.monotonic() - started
        started = time.monotonic()
        browser.evaluate("window.babilongViewer.browseCell(0, document.getElementById('f-task').options[1].value, "
                         "document.getElementById('f-length').options[document.getElementById('f-length').options.length - 1].value)")
        browser.wait_for("document.querySelectorAll('#sample-list tr.sample-row').length > 0", timeout=300)
        last_cell = time.monotonic() - started
        if browser.problems:
            raise SystemExit(f"the page reported problems: {browser.problems}")
    return {"ready": ready, "first cell": first_cell, "detail": detail, "another cell": last_cell}


def measure(name: str, scratch: Path, tasks: int, lengths: int, samples: int) -> None:
    run = scratch / name / "run"
    results = write_synthetic_run(run, tasks, lengths, samples)
    seconds, written = build(run, scratch / name / "view" / "view.html")
    cell_files = sorted(written.folder.iterdir(), key=lambda p: p.stat().st_size) if written.folder else []
    print(f"{name}: {tasks} tasks x {lengths} lengths x {samples} samples = {written.samples:,} synthetic samples; "
          f"results.jsonl {results / 2**20:.1f} MB (short prompts)")
    print(f"  build (load, explain, write): {seconds:.1f} s; peak RSS so far {_peak_mb():.0f} MB")
    form = f"page + {len(cell_files)} cell files" if written.folder else "one file"
    print(f"  form: {form}; page {written.page_bytes / 2**20:.2f} MB, cell files {written.cell_bytes / 2**20:.1f} MB"
          + (f" (largest {cell_files[-1].stat().st_size / 2**20:.2f} MB)" if cell_files else ""))
    timings = browse(written.page)
    if timings is None:
        print("  browser: none found (install chromium-headless-shell), load times not measured")
    else:
        print("  headless Chromium: " + ", ".join(f"{key} {value:.2f} s" for key, value in timings.items()))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--lengths", type=int, default=13, help=f"the first N of the ladder {' '.join(LADDER)}")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="write here and keep the files (default: a temporary folder)")
    args = parser.parse_args()
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="babilong-bench-view-"))
    try:
        measure("baseline", scratch, 5, 2, 3)
        measure("large", scratch, args.tasks, args.lengths, args.samples)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
