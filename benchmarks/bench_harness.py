"""Harness overhead: prompt, 'answer' (instant echo backend), score and store N samples of one length.

Samples are generated once per task (not timed) and cloned with distinct indices, so the
figure measures the harness alone. Usage: python benchmarks/bench_harness.py [--samples 10000] [--length 4k]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from babilong.generate import generate_samples
from babilong.models import load_model
from babilong.prompts import PromptConfig, examples_block
from babilong.pipeline import evaluate
from babilong.runs import ResultStore, RunConfig

TASKS = ("qa1", "qa2", "qa3", "qa4", "qa5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--length", default="4k")
    args = parser.parse_args()
    seeds = {task: generate_samples(task, args.length, 4) for task in TASKS}
    per_task = args.samples // len(TASKS)
    samples = [dataclasses.replace(seeds[task][i % 4], index=i) for task in TASKS for i in range(per_task)]
    for task in TASKS:
        examples_block(task)  # built once per task in any run; not part of the per-sample cost
    model = load_model("echo", {})
    config = RunConfig("echo", model.settings(), PromptConfig(), 20, {"source": "benchmark"})
    with tempfile.TemporaryDirectory() as folder:
        store = ResultStore(Path(folder), config)
        began = time.perf_counter()
        summary = evaluate(samples, model, config, store, progress=False)
        store.close()
        seconds = time.perf_counter() - began
        size = (Path(folder) / "results.jsonl").stat().st_size
    print(f"{summary.ok} samples at {args.length} prompted, scored and stored in {seconds:.2f} s: "
          f"{summary.ok / seconds:,.0f} samples/s ({size / 1e6:.0f} MB of results)")


if __name__ == "__main__":
    main()
