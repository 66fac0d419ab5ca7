"""Time to score one long output (a model that keeps echoing story text), against an earlier scorer in the same run.

The default scorer cuts the model's turn into sentences; this checks that the cost grows with the output's
length, not its square. The output: `Let me think. ` and then story sentences, no answer, no turn end.

    git show aac137c:babilong/scoring.py > /tmp/scoring_v2.py
    PYTHONPATH=$PWD python benchmarks/bench_scorer_long_output.py --old-scorer /tmp/scoring_v2.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from babilong.scoring import babilong_correct
from benchmarks.bench_scorer_agreement import _load_module

LENGTHS = (1_000, 10_000, 100_000)


def long_output(characters: int) -> str:
    story = " ".join(f"Mary went to the kitchen number {i}. John took the apple there." for i in range(characters // 30))
    return ("Let me think. " + story)[:characters]


def seconds(scorer, output: str) -> float:
    started = time.perf_counter()
    scorer(output, "kitchen", "Where is Mary?", "qa1")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old-scorer", type=Path, help="a scoring.py from an earlier commit (the baseline)")
    args = parser.parse_args(argv)
    old = _load_module(args.old_scorer).babilong_correct if args.old_scorer else None
    print(f"{'characters':>10}{'babilong now (s)':>18}" + (f"{'old (s)':>10}" if old else ""))
    for characters in LENGTHS:
        output = long_output(characters)
        print(f"{characters:>10,}{seconds(babilong_correct, output):>18.3f}"
              + (f"{seconds(old, output):>10.3f}" if old else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
