"""Peak memory of building and writing one very long sample, and the estimate `generate` checks it against.

    python benchmarks/bench_long_sample_memory.py                 # 1M and 10M
    python benchmarks/bench_long_sample_memory.py --lengths 1M    # quicker
    python benchmarks/bench_long_sample_memory.py --lengths 100M --formats jsonl

Each length runs in a fresh process: load the prepared default corpus (gutenberg test,
GPT-2), build sample 0 of qa1, write it as JSONL and Parquet. Printed per length: the peak
RSS after loading the corpus, the peak after building and writing, their difference per
token, and `estimated_memory` (what generate compares with the available memory).
Run it with PYTHONPATH pointing at another checkout to compare versions on one machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
from babilong.datasets import write_samples
from babilong.generate import GenerationConfig, build_sample, _corpus
length, formats = sys.argv[1], sys.argv[2].split(",")
def peak_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
_corpus("gutenberg", "test", "gpt2")
loaded = peak_mb()
start = time.perf_counter()
sample = build_sample("qa1", length, 0, GenerationConfig())
built = peak_mb()
with tempfile.TemporaryDirectory() as folder:
    for fmt in formats:
        write_samples([sample], Path(folder) / f"qa1.{fmt}")
seconds = time.perf_counter() - start
try:
    from babilong.generate import estimated_memory
    estimate = estimated_memory(length, GenerationConfig(), tuple(formats)) / 2**20
except ImportError:
    estimate = None
print(json.dumps({"length": length, "tokens": sample.token_count, "seconds": round(seconds, 2), "corpus_mb": round(loaded),
                  "build_peak_mb": round(built), "peak_mb": round(peak_mb()), "estimate_mb": estimate and round(estimate)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="1M,10M")
    parser.add_argument("--formats", default="jsonl,parquet", help="what is written: jsonl, parquet or both (default)")
    args = parser.parse_args()
    print("| length | build+write time | peak RSS after corpus | peak RSS building | peak RSS build+write | bytes/token over corpus | estimate |")
    print("|---|---|---|---|---|---|---|")
    for length in args.lengths.split(","):
        done = subprocess.run([sys.executable, "-c", CHILD, length, args.formats], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"| {length} | failed: {(done.stderr.strip().splitlines() or ['?'])[-1]} |")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        per_token = (row["peak_mb"] - row["corpus_mb"]) * 2**20 / row["tokens"]
        estimate = f"{row['estimate_mb']} MB" if row["estimate_mb"] is not None else "n/a"
        print(f"| {length} | {row['seconds']} s | {row['corpus_mb']} MB | {row['build_peak_mb']} MB | {row['peak_mb']} MB | "
              f"{per_token:.1f} | {estimate} |")


if __name__ == "__main__":
    main()
