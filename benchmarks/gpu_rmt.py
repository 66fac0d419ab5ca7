"""The CPU recipe scaled to one GPU: an RMT learns real qa1 BABILong samples, then 4k to 1M tokens.

Trains ``babilong train``'s default recipe (facts alone, then book text, then more segments;
answer loss over the labels; every person's question per context read) on a larger tiny
GPT-2 from scratch, time-boxed, on real samples (qa1 facts in book text, GPT-2 tokens).
Prints the learning curve (the training log's JSON lines), then accuracy on held-out test
samples at 4k, 32k, 128k and 1M tokens with the memory as read and reset before the question.

    python benchmarks/gpu_rmt.py                  # 6-7 minutes on one H200 (measured with three runs sharing it)
    python benchmarks/gpu_rmt.py --smoke          # seconds on a CPU: the same code, toy sizes
    python benchmarks/gpu_rmt.py --throughput     # also: tokens/s reading 1M tokens at 124M parameters
    python benchmarks/gpu_rmt.py --set arch=armt --export out/armt   # one flag changed; best weights kept (bf16, in parts)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from memory_recipe import print_table, score, train, with_flags

PART_BYTES = 15 << 20  # exported checkpoints are cut into parts this size (join them with cat)

# 5 minutes of training and 1-2 of scoring (an H200, 2026-11-27); the facts-alone stage, where the
# person-to-place binding must be learned, gets 40% of the training time.
GPU = {
    "backbone": "tiny:n_embd=256,n_layer=4,n_head=4", "segment": "128", "memory": "16", "curriculum": "0,1,2,4,8",
    "batch-size": "128", "eval-every": "250", "val-samples": "256", "patience": "100", "budget-minutes": "5",
    "stage-shares": "4,1,1,1,1", "max-steps": "100000", "lr": "1e-3",
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


def export_bf16(run: Path, folder: Path) -> list[Path]:
    """The run's best checkpoint with bf16 weights, cut into parts: ``cat best.pt.part-* > best.pt``."""
    from babilong.memory.checkpoint import read_checkpoint

    payload = read_checkpoint(run / "best.pt")
    payload["weights"] = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in payload["weights"].items()}
    payload = {k: v for k, v in payload.items() if k not in ("optimizer", "schedule")}
    folder.mkdir(parents=True, exist_ok=True)
    whole = folder / "best.pt"
    torch.save(payload, whole)
    data, parts = whole.read_bytes(), []
    whole.unlink()
    for number, start in enumerate(range(0, len(data), PART_BYTES)):
        parts.append(folder / f"best.pt.part-{number:02d}")
        parts[-1].write_bytes(data[start : start + PART_BYTES])
    return parts


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes that finish in seconds on a CPU")
    parser.add_argument("--output", default=None, help="training folder (default: a temporary one)")
    parser.add_argument("--throughput", action="store_true", help="also measure 1M-token reading at 124M parameters")
    parser.add_argument("--set", action="append", default=[], metavar="FLAG=VALUE",
                        help="change one training flag, e.g. --set arch=armt or --set no-progress")
    parser.add_argument("--export", default=None, help="folder for the best weights in bf16, cut into 15 MiB parts")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device {device}" + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""), flush=True)
    started = time.time()
    base, lengths = (SMOKE, SMOKE_LENGTHS) if args.smoke else (GPU, GPU_LENGTHS)
    settings = with_flags(base, args.set)
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(args.output or Path(scratch) / "run")
        train(output, settings)
        trained = time.time() - started
        rows = [row for length, samples in lengths.items() for row in score(output, [length], samples, batch_size=16)]
        if args.export:
            print("exported " + " ".join(str(part) for part in export_bf16(output, Path(args.export))))
    print(f"\nqa1, real samples, {settings.get('arch', 'rmt').upper()} {settings['backbone']} after {trained:.0f} s of training:")
    print_table(rows)
    if args.throughput:
        speed = throughput(device, 1_000_000, 8, 60.0)
        print(f"\nthroughput: RMT, 124M-parameter GPT-2 backbone, batch 8: {speed['tokens_per_s']:,.0f} tokens/s "
              f"({speed['tokens_per_row']:,} tokens per row in {speed['seconds']:.1f} s)")
    print(f"total {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
