"""Peak memory of `babilong generate` writing one very long sample, and the estimate it checks.

    python benchmarks/bench_long_sample_memory.py                          # 1M and 10M: default formats, then JSONL
    python benchmarks/bench_long_sample_memory.py --lengths 100M --formats jsonl
    python benchmarks/bench_long_sample_memory.py --baseline /work/main    # the same runs of another checkout

Each run is a fresh `babilong generate --tasks qa1 --lengths L --samples 1` process (the
prepared default corpus: gutenberg test, GPT-2) with the `--format` given, `default`
meaning no `--format` at all. Printed per run: the files it wrote, its time, its peak RSS
(the kernel's figure for that process, from wait4) and `estimated_memory` for what it
wrote (what `generate` compares with the available memory). With `--baseline`, every run
is repeated with PYTHONPATH pointing at that checkout, on the same machine in the same
session. `--keep DIR` keeps the written files (to compare bytes between versions).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_generate(checkout: Path, length: str, formats: str, out: Path) -> dict:
    """One `babilong generate` process: its files, seconds and peak RSS in MB."""
    command = [sys.executable, "-m", "babilong.cli", "generate", "--tasks", "qa1", "--lengths", length, "--samples", "1",
               "--out", str(out.resolve())]
    if formats != "default":
        command += ["--format", formats]
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)}, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        last = [line for line in errors.splitlines() if line.strip()][-1:] or ["?"]
        return {"failed": last[0]}
    files = sorted(json.loads((out / "manifest.json").read_text())["files"])
    notes = [line for line in errors.splitlines() if "JSONL only" in line]
    return {"files": files, "seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "note": bool(notes)}


def estimate_mb(length: str, files: list[str]) -> str:
    """This checkout's estimate for what the run wrote."""
    from babilong.generate import GenerationConfig, estimated_memory

    formats = tuple(sorted({Path(name).suffix.lstrip(".") for name in files if name.endswith((".jsonl", ".parquet"))}))
    return f"{estimated_memory(length, GenerationConfig(), formats) / 2**20:.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="1M,10M")
    parser.add_argument("--formats", nargs="+", default=["default", "jsonl"],
                        help="one run per value: default (no --format), jsonl, jsonl,parquet ... (default: default jsonl)")
    parser.add_argument("--baseline", type=Path, help="another checkout to run the same way, for comparison")
    parser.add_argument("--keep", type=Path, help="keep the written files under this folder")
    args = parser.parse_args()
    checkouts = [("this checkout", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    sys.path.insert(0, str(ROOT))
    print("| length | --format | version | files written | time | peak RSS | estimate (this checkout) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for length in args.lengths.split(","):
            for formats in args.formats:
                for label, checkout in checkouts:
                    out = (args.keep or Path(scratch)) / label.replace(" ", "-") / f"{length}-{formats.replace(',', '+')}"
                    row = run_generate(checkout, length, formats, out)
                    if "failed" in row:
                        print(f"| {length} | {formats} | {label} | failed: {row['failed']} | | | |")
                        continue
                    written = ", ".join(Path(name).suffix.lstrip(".") for name in row["files"]) + (" (said so)" if row["note"] else "")
                    print(f"| {length} | {formats} | {label} | {written} | {row['seconds']:.0f} s | {row['peak_mb']:.0f} MB | "
                          f"{estimate_mb(length, row['files'])} |", flush=True)


if __name__ == "__main__":
    main()
