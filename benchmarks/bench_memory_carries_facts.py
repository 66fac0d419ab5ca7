"""Does RMT's memory carry qa1 facts across segments? Trains a tiny RMT on the CPU.

Facts sit in the first context segment, the question in the final segment, so without
memory the model can only guess. Reports held-out accuracy at 2 and 4 context segments with
the memory as trained and with the memory reset before the last segment, plus the
"latest fact" shortcut. Bar: the memory adds at least 15 points at 2 segments.

    OMP_NUM_THREADS=1 python benchmarks/bench_memory_carries_facts.py --budget-s 900
"""

from __future__ import annotations

import argparse
import time

import torch
from memory_toy import WordTokenizer, accuracy, make_example, make_model, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=900, help="training time")
    parser.add_argument("--eval-samples", type=int, default=500)
    parser.add_argument("--segment", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    tok = WordTokenizer()
    model = make_model(tok, size=args.segment)
    params = sum(p.numel() for p in model.parameters())
    print(f"tiny RMT: {params / 1e6:.2f}M parameters, vocabulary {len(tok.words)}, segment {args.segment}, 8 memory tokens")
    started = time.time()
    train(model, tok, args.budget_s, stages=[1, 2, 4], report_every_s=args.budget_s / 12)
    print(f"trained for {time.time() - started:.0f} s")
    print(f"{'segments':>8} {'memory':>8} {'reset':>8} {'gain':>8} {'latest-fact':>12}")
    for segments in (2, 4):
        held_out = [make_example(tok, ("held-out", i), segments, args.segment) for i in range(args.eval_samples)]
        kept, reset = accuracy(model, held_out), accuracy(model, held_out, reset=True)
        latest = sum(e.latest == e.target for e in held_out) / len(held_out)
        print(f"{segments:>8} {kept:>8.1%} {reset:>8.1%} {100 * (kept - reset):>7.1f}p {latest:>12.1%}")


if __name__ == "__main__":
    main()
