"""RMT on a GPU: long-input throughput at GPT-2 size, then a short qa1 curriculum and 1M tokens.

(a) An RMT around a GPT-2-size (124M, random init) backbone reads batched 1M-token inputs
    in bf16 and answers; prints tokens/s.
(b) A small RMT learns qa1 (facts in the first segment, question in the last, a compact word
    vocabulary from our qa1 generator, no books and no hub) through a short curriculum, then
    answers held-out samples of growing length up to 1M tokens.
Time-boxed by --budget-s; prints a table at the end. Runs on the CPU too (use --tiny).

    python benchmarks/gpu_rmt.py --budget-s 540
"""

from __future__ import annotations

import argparse
import time

import torch
from memory_toy import WordTokenizer, accuracy, filler_pool, make_example, make_model, train

from babilong.memory.backbone import tiny_backbone
from babilong.memory.checkpoint import build_model
from babilong.memory.recurrence import MemoryConfig
from babilong.rng import Rng


def throughput(device: str, tokens: int, batch: int, tiny: bool, max_s: float) -> dict:
    """Tokens/s of RMT inference (read every segment, then answer) over ``tokens`` per row."""
    size = 512
    sizes = {"n_layer": 2, "n_embd": 64, "n_head": 2} if tiny else {"n_layer": 12, "n_embd": 768, "n_head": 12}
    backbone = tiny_backbone("tiny", **sizes)
    model = build_model(backbone, MemoryConfig(segment_size=size)).to(device).eval()
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model.to(dtype)
    rng = Rng("gpu-rmt-throughput")
    pool = [[rng.below(50000) for _ in range(size)] for _ in range(64)]
    segments = tokens // size
    contexts = [[pool[(row * 7 + j) % len(pool)] for j in range(segments)] for row in range(batch)]
    done = [0]
    deadline = time.time() + max_s

    def counted(stream):
        for segment in stream:
            if time.time() > deadline:
                return  # over budget: stop reading, answer, and report what was read
            done[0] += len(segment)
            yield segment

    _sync(device)
    started = time.time()
    with torch.no_grad():
        state = model.read_context([counted(c) for c in contexts])
        model.generate(state, [[1, 2, 3]] * batch, 8, set())
    _sync(device)
    seconds = time.time() - started
    params = sum(p.numel() for p in backbone.parameters())
    return {"params_m": params / 1e6, "tokens": done[0] // batch, "seconds": seconds, "tokens_per_s": done[0] / seconds}


def curriculum(device: str, train_s: float, eval_lengths: list[int], eval_samples: int, deadline: float) -> tuple[list, list]:
    """Train a small RMT on qa1, then accuracy at each length in tokens (memory kept / reset)."""
    tok = WordTokenizer()
    size = 64
    model = make_model(tok, size=size, memory=8, width=256, layers=4).to(device)
    curve = train(model, tok, train_s, stages=[1, 2, 4, 8], batch=64, lr=5e-4, report_every_s=train_s / 6, device=device)
    pool = filler_pool(tok, size)
    rows = []
    for length in eval_lengths:
        if time.time() > deadline:
            rows.append((length, None, None, 0.0))
            continue
        segments = max(1, length // size)
        held_out = [make_example(tok, ("gpu-held-out", length, i), segments, size, pool) for i in range(eval_samples)]
        started = time.time()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            kept = accuracy(model, held_out, batch=eval_samples)
            reset = accuracy(model, held_out, reset=True, batch=eval_samples)
        rows.append((length, kept, reset, time.time() - started))
    return curve, rows


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=540, help="wall-clock budget for everything")
    parser.add_argument("--tokens", type=int, default=1_000_000, help="(a) tokens per row")
    parser.add_argument("--batch", type=int, default=8, help="(a) rows read together")
    parser.add_argument("--train-s", type=float, default=None, help="(b) training time (default 45%% of the budget)")
    parser.add_argument("--eval-lengths", default="128,4000,32000,128000,1000000", help="(b) tokens per held-out sample")
    parser.add_argument("--eval-samples", type=int, default=64)
    parser.add_argument("--tiny", action="store_true", help="a tiny backbone for (a): a CPU smoke test")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    start = time.time()
    print(f"device {device}" + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""), flush=True)
    speed = throughput(device, args.tokens, args.batch, args.tiny, 0.25 * args.budget_s)
    print(f"(a) read {speed['tokens']:,} tokens/row x {args.batch} in {speed['seconds']:.1f} s", flush=True)
    train_s = args.train_s or 0.45 * args.budget_s
    lengths = [int(x) for x in args.eval_lengths.split(",")]
    curve, rows = curriculum(device, train_s, lengths, args.eval_samples, start + 0.97 * args.budget_s)
    print(f"\n(a) throughput: RMT, {speed['params_m']:.0f}M-parameter GPT-2 backbone, batch {args.batch}, "
          f"{'bf16' if device == 'cuda' else 'fp32'}: {speed['tokens_per_s']:,.0f} tokens/s "
          f"({speed['tokens']:,} of {args.tokens:,} tokens per row read)")
    print(f"(b) qa1, small RMT after {train_s:.0f} s of training (last probe accuracy at 2 segments: "
          f"{curve[-1][4] if curve else float('nan'):.2f})")
    print(f"{'tokens':>9} {'memory':>8} {'reset':>8} {'seconds':>8}")
    for length, kept, reset, seconds in rows:
        if kept is None:
            print(f"{length:>9} {'skipped (budget)':>17}")
        else:
            print(f"{length:>9} {kept:>8.1%} {reset:>8.1%} {seconds:>8.1f}")
    print(f"total {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
