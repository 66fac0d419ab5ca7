"""The CPU recipe scaled to one GPU: an RMT learns real qa1 BABILong samples, then 4k to 1M tokens.

Trains ``babilong train``'s default recipe (facts alone, then book text, then more segments;
answer loss over the labels; every person's question per context read) on a larger tiny
GPT-2 from scratch, time-boxed, on real samples (qa1 facts in book text, GPT-2 tokens).
Prints the learning curve (the training log's JSON lines), then accuracy on held-out test
samples at 4k, 32k, 128k and 1M tokens with the memory as read and reset before the question.

    python benchmarks/gpu_rmt.py                  # sized for about 9 minutes on one H100
    python benchmarks/gpu_rmt.py --smoke          # seconds on a CPU: the same code, toy sizes
    python benchmarks/gpu_rmt.py --throughput     # also: tokens/s reading 1M tokens at 124M parameters
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from memory_recipe import print_table, score, train

# About 6 minutes of training and 2.5 of scoring on one H100 (an estimate: not yet run on one).
GPU = {
    "backbone": "tiny:n_embd=256,n_layer=4,n_head=4", "segment": "128", "memory": "16", "curriculum": "0,1,2,4,8",
    "batch-size": "64", "eval-every": "250", "val-samples": "256", "patience": "100", "budget-minutes": "6",
    "max-steps": "100000", "lr": "1e-3",
}
GPU_LENGTHS = {"4k": 64, "32k": 64, "128k": 32, "1M": 16}  # held-out samples per length
SMOKE = {
    "backbone": "tiny", "segment": "32", "memory": "4", "curriculum": "0,1", "batch-size": "4", "eval-every": "2",
    "val-samples": "4", "max-steps": "2", "no-progress": None,
}
SMOKE_LENGTHS = {"64": 4, "256": 4}


def throughput(device: str, tokens: int, batch: int, max_s: float) -> dict:
    """Tokens/s of RMT inference at GPT-2 size (124M, random init) over ``tokens`` per row."""
    from babilong.memory.backbone import tiny_backbone
    from babilong.memory.checkpoint import build_model
    from babilong.memory.recurrence import MemoryConfig
    from babilong.rng import Rng

    size = 512
    backbone = tiny_backbone("tiny", n_layer=12, n_embd=768, n_head=12, initializer_range=0.02)
    model = build_model(backbone, MemoryConfig(segment_size=size)).to(device).eval()
    model.to(torch.bfloat16 if device == "cuda" else torch.float32)
    rng = Rng("gpu-rmt-throughput")
    pool = [[rng.below(50000) for _ in range(size)] for _ in range(64)]
    done, deadline = [0], time.time() + max_s

    def counted(row: int):
        for j in range(tokens // size):
            if time.time() > deadline:
                return  # over budget: report what was read
            done[0] += size
            yield pool[(row * 7 + j) % len(pool)]

    _sync(device)
    started = time.time()
    with torch.no_grad():
        model.generate(model.read_context([counted(r) for r in range(batch)]), [[1, 2, 3]] * batch, 8, set())
    _sync(device)
    seconds = time.time() - started
    return {"tokens_per_row": done[0] // batch, "seconds": seconds, "tokens_per_s": done[0] / seconds}


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes that finish in seconds on a CPU")
    parser.add_argument("--output", default=None, help="training folder (default: a temporary one)")
    parser.add_argument("--throughput", action="store_true", help="also measure 1M-token reading at 124M parameters")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device {device}" + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""), flush=True)
    started = time.time()
    settings, lengths = (SMOKE, SMOKE_LENGTHS) if args.smoke else (GPU, GPU_LENGTHS)
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(args.output or Path(scratch) / "run")
        train(output, settings)
        trained = time.time() - started
        rows = [row for length, samples in lengths.items() for row in score(output, [length], samples, batch_size=16)]
    print(f"\nqa1, real samples, RMT {settings['backbone']} after {trained:.0f} s of training:")
    print_table(rows)
    if args.throughput:
        speed = throughput(device, 1_000_000, 8, 60.0)
        print(f"\nthroughput: RMT, 124M-parameter GPT-2 backbone, batch 8: {speed['tokens_per_s']:,.0f} tokens/s "
              f"({speed['tokens_per_row']:,} tokens per row in {speed['seconds']:.1f} s)")
    print(f"total {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
