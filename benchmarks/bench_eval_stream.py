"""Streaming eval: peak RSS for few vs many 1M-token samples, and resume time over many finished results.

Each figure is one ``babilong eval`` process (instant ``echo`` backend, ``--prompt bare``) run
from a checkout; give ``--baseline DIR`` (an older checkout, e.g. ``git archive main | tar -x -C
/tmp/before``) to measure it the same way in the same run. Peak RSS is the child process's
``ru_maxrss``; a resume is the second run of a command whose first run finished every sample.

Usage: python benchmarks/bench_eval_stream.py [--baseline DIR] [--length 1M] [--counts 10,200]
                                             [--resume 5000,10000,20000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def eval_once(checkout: Path, out: Path, length: str, samples: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one eval process run from ``checkout``."""
    command = [sys.executable, "-m", "babilong", "eval", "--model", "echo", "--tasks", "qa1", "--lengths", length,
               "--samples", str(samples), "--prompt", "bare", "--output", str(out), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "1"}
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"eval failed in {checkout}: {process.stderr.read().decode()[-2000:]}")
    process.stderr.close()
    return seconds, usage.ru_maxrss / 1024  # Linux reports KiB


def measure(name: str, checkout: Path, args: argparse.Namespace, scratch: Path) -> None:
    for count in args.counts:
        out = scratch / f"{name}-mem-{count}"
        seconds, peak = eval_once(checkout, out, args.length, count)
        size = (out / "results.jsonl").stat().st_size / 1e6
        print(f"{name:8} {count:>6} samples at {args.length}: peak RSS {peak:7.0f} MB, {seconds:6.1f} s, "
              f"results.jsonl {size:7.1f} MB", flush=True)
    for count in args.resume:
        out = scratch / f"{name}-resume-{count}"
        fresh, _ = eval_once(checkout, out, "0k", count)
        resumed, peak = eval_once(checkout, out, "0k", count)
        print(f"{name:8} resume over {count:>6} finished results at 0k: {resumed:6.1f} s "
              f"(fresh run {fresh:5.1f} s; peak RSS {peak:4.0f} MB)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="an older checkout to measure the same way")
    parser.add_argument("--length", default="1M")
    parser.add_argument("--counts", default="10,200", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--resume", default="5000,10000,20000", type=lambda s: [int(x) for x in s.split(",") if x])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-eval-stream-") as folder:
        measure("this", HERE, args, Path(folder))
        if args.baseline:
            measure("baseline", args.baseline.resolve(), args, Path(folder))


if __name__ == "__main__":
    main()
