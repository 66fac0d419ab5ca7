"""Generation speed and memory, against a naive builder in the same run.

    python benchmarks/bench_generate.py            # all figures (about 2 minutes)
    python benchmarks/bench_generate.py --quick    # skip the 10M sample and the naive 1M baseline

Figures: one-off corpus preparation; one 1M and one 10M sample (time and peak RSS, each in
a fresh process, after preparation); the naive reference-style builder that tokenizes
sentence by sentence while filling the budget; and 100 samples x qa1-qa5 x 0k..32k.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, resource, sys, time
from babilong.generate import GenerationConfig, build_sample, _corpus
mode, length = sys.argv[1], sys.argv[2]
_corpus("gutenberg", "test", "gpt2")
start = time.perf_counter()
if mode == "ours":
    sample = build_sample("qa1", length, 0, GenerationConfig())
    tokens = sample.token_count
else:
    from benchmarks.naive_builder import naive_sample
    tokens = naive_sample(length)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "tokens": tokens, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = [("corpus preparation (gutenberg test split, one-off)", f"{preparation_seconds():.1f} s", "")]
    child("ours", "1k")  # warm the prepared-corpus cache
    for length in ("1M",) + (() if args.quick else ("10M",)):
        ours = child("ours", length)
        rows.append((f"one {length} sample, ours", f"{ours['seconds']:.2f} s", f"peak RSS {ours['peak_rss_mb']:.0f} MB"))
        if length == "1M" and not args.quick:
            naive = child("naive", length)
            rows.append((f"one {length} sample, naive sentence-by-sentence builder", f"{naive['seconds']:.2f} s",
                         f"ours is {naive['seconds'] / ours['seconds']:.1f}x faster"))
    rows.append(("100 samples x qa1-qa5 x 0k..32k (3500 samples)", f"{batch_seconds(100):.1f} s", ""))
    width = max(len(r[0]) for r in rows)
    print(f"| {'what'.ljust(width)} | time | note |\n|{'-' * (width + 2)}|---|---|")
    for what, seconds, note in rows:
        print(f"| {what.ljust(width)} | {seconds} | {note} |")


if __name__ == "__main__":
    main()
