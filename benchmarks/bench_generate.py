"""Generation speed and memory, against baselines in the same run.

    python benchmarks/bench_generate.py            # all figures (about 2 minutes)
    python benchmarks/bench_generate.py --quick    # skip the 10M sample and the naive 1M baseline
    python benchmarks/bench_generate.py --workers-only --samples 1000   # only `generate --workers 2` vs `--workers 1`
    python benchmarks/bench_generate.py --no-workers                    # all but those

Figures: one-off corpus preparation; one 1M and one 10M sample (time and peak RSS, each in
a fresh process, after preparation), built and also built and written as `generate` writes
it (JSONL + Parquet), against the same build with the final text tokenized to count it (as
before the builder summed its pieces' counts); the naive reference-style builder that
tokenizes sentence by sentence while filling the budget; 100 samples x qa1-qa5 x 0k..32k;
and `babilong generate` of N samples x qa1-qa5 x 1k..32k with `--workers 2` against
`--workers 1` (wall time, and the output files compared byte for byte).
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

from babilong.files import file_sha256

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
from babilong.generate import GenerationConfig, build_sample, build_sample_in_pieces, _corpus
from babilong.datasets import sample_writer
from babilong.tokens import TiktokenTokenizer
mode, length = sys.argv[1], sys.argv[2]
_corpus("gutenberg", "test", "gpt2")
import pyarrow.parquet  # imported before the clock starts: a one-off
if mode == "counted":  # the text tokenized once to count it, as the builder did before
    TiktokenTokenizer.counts_add_up_at_spaces = False
start, cpu = time.perf_counter(), time.process_time()
if mode in ("ours", "counted"):
    sample = build_sample("qa1", length, 0, GenerationConfig())
    tokens = sample.token_count
elif mode == "written":  # as generate writes it: JSONL chunk by chunk, and Parquet
    sample, text = build_sample_in_pieces("qa1", length, 0, GenerationConfig())
    tokens = sample.token_count
    with tempfile.TemporaryDirectory() as folder:
        for suffix in (".jsonl", ".parquet"):
            with sample_writer(Path(folder) / f"qa1{suffix}") as write:
                write(sample, text)
else:
    from benchmarks.naive_builder import naive_sample
    tokens = naive_sample(length)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu": cpu, "tokens": tokens, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(mode: str, length: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, length], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def preparation_seconds() -> float:
    with tempfile.TemporaryDirectory() as cache:
        code = (
            "import time; from babilong.haystack import prepare, get_source; from babilong.tokens import get_tokenizer\n"
            f"from pathlib import Path; t=get_tokenizer('gpt2'); s=time.perf_counter(); prepare(get_source('gutenberg'), 'test', t, cache=Path({cache!r}))\n"
            "print(time.perf_counter()-s)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return float(done.stdout.strip().splitlines()[-1])


def batch_seconds(samples: int) -> float:
    from babilong.generate import GenerationConfig, build_sample

    config = GenerationConfig()
    start = time.perf_counter()
    for length in ("0k", "1k", "2k", "4k", "8k", "16k", "32k"):
        for task in ("qa1", "qa2", "qa3", "qa4", "qa5"):
            for index in range(samples):
                build_sample(task, length, index, config)
    return time.perf_counter() - start


WORKERS_LENGTHS = "1k,2k,4k,8k,16k,32k"


LAUNCHER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall, used = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": used.ru_utime + used.ru_stime, "peak_rss_mb": used.ru_maxrss / 1024}))
"""


def generate_run(samples: int, workers: int, out: Path) -> dict:
    """Wall time, CPU time (worker processes included) and the largest process's peak RSS of one
    `babilong generate` (corpus prepared already), measured by a fresh launcher process."""
    command = [sys.executable, "-m", "babilong", "generate", "--tasks", "qa1-qa5", "--lengths", WORKERS_LENGTHS,
               "--samples", str(samples), "--workers", str(workers), "--out", str(out)]
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def workers_rows(samples: int) -> list[tuple[str, str, str]]:
    """`--workers 2` against `--workers 1` on the same command; the files must be identical."""
    with tempfile.TemporaryDirectory() as scratch:
        one, two = (generate_run(samples, n, Path(scratch) / str(n)) for n in (1, 2))
        same = digests(Path(scratch) / "1") == digests(Path(scratch) / "2")
        size = sum(p.stat().st_size for p in (Path(scratch) / "1").rglob("*") if p.is_file())
    what = f"generate {samples} samples x qa1-qa5 x {WORKERS_LENGTHS}"
    load = os.getloadavg()[0]
    return [(f"{what}, --workers 1", f"{one['wall']:.1f} s",
             f"CPU {one['cpu']:.1f} s; peak RSS {one['peak_rss_mb']:.0f} MB; {size / 2**20:.0f} MiB of JSONL + Parquet"),
            (f"{what}, --workers 2", f"{two['wall']:.1f} s",
             f"**{one['wall'] / two['wall']:.2f}x** wall; CPU {two['cpu']:.1f} s ({two['cpu'] / one['cpu']:.2f}x the work); "
             f"peak RSS of the largest process {two['peak_rss_mb']:.0f} MB; files byte-identical: {same}; "
             f"load average {load:.1f} at the end")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--samples", type=int, default=1000, help="samples per task and length for the --workers rows")
    parser.add_argument("--workers-only", action="store_true")
    parser.add_argument("--no-workers", action="store_true", help="skip the --workers rows")
    args = parser.parse_args()
    child("ours", "1k")  # warm the prepared-corpus cache
    if args.workers_only:
        return print_rows(workers_rows(args.samples))
    rows = [("corpus preparation (gutenberg test split, one-off)", f"{preparation_seconds():.1f} s", "")]
    for length in ("1M",) + (() if args.quick else ("10M",)):
        ours, written, counted = child("ours", length), child("written", length), child("counted", length)
        rows.append((f"one {length} sample, built", f"{ours['seconds']:.2f} s",
                     f"CPU {ours['cpu']:.2f} s; peak RSS {ours['peak_rss_mb']:.0f} MB"))
        rows.append((f"one {length} sample, built and written (JSONL + Parquet)", f"{written['seconds']:.2f} s",
                     f"CPU {written['cpu']:.2f} s; peak RSS {written['peak_rss_mb']:.0f} MB"))
        rows.append((f"one {length} sample, built with its text tokenized to count it (before)", f"{counted['seconds']:.2f} s",
                     f"CPU {counted['cpu']:.2f} s; building is {counted['cpu'] / ours['cpu']:.0f}x cheaper now (CPU)"))
        if length == "1M" and not args.quick:
            naive = child("naive", length)
            rows.append((f"one {length} sample, naive sentence-by-sentence builder", f"{naive['seconds']:.2f} s",
                         f"ours is {naive['seconds'] / ours['seconds']:.1f}x faster"))
    rows.append(("100 samples x qa1-qa5 x 0k..32k (3500 samples), built", f"{batch_seconds(100):.1f} s", ""))
    rows += [] if args.no_workers else workers_rows(args.samples)
    print_rows(rows)


def print_rows(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"| {'what'.ljust(width)} | time | note |\n|{'-' * (width + 2)}|---|---|")
    for what, seconds, note in rows:
        print(f"| {what.ljust(width)} | {seconds} | {note} |")


if __name__ == "__main__":
    main()
