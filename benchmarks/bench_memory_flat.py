"""Peak memory of RMT inference does not grow with the input: 16, 128 and 1024 segments.

Each length runs in a fresh subprocess that streams a text through ``inference.answer``
(tokenised piece by piece, read segment by segment) and reports its peak: CUDA peak
allocation on a GPU, else the process's peak RSS. Bar: the peaks differ by less than 10%.

    OMP_NUM_THREADS=1 python benchmarks/bench_memory_flat.py
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

SENTENCE = "The quiet river carried old leaves past the mill while the miller counted sacks of grain. "


def measure(segments: int, segment_size: int, batch: int) -> dict:
    """Runs in the child: answer ``batch`` questions over ``segments`` segments of text."""
    import resource

    import torch

    from babilong.memory.backbone import tiny_backbone
    from babilong.memory.checkpoint import build_model
    from babilong.memory.inference import answer
    from babilong.memory.recurrence import MemoryConfig
    from babilong.tokens import get_tokenizer

    torch.set_num_threads(1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = get_tokenizer("gpt2")
    model = build_model(tiny_backbone("tiny"), MemoryConfig(segment_size=segment_size)).to(device).eval()
    per_sentence = len(tokenizer.encode(SENTENCE))
    text = SENTENCE * (segments * segment_size // per_sentence + 1)
    started = time.time()
    answer(model, tokenizer, [text] * batch, ["Where is the miller?"] * batch, max_new_tokens=4, batch_size=batch)
    seconds = time.time() - started
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"segments": segments, "peak_mib": round(peak, 1), "seconds": round(seconds, 1), "device": device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", default="16,128,1024")
    parser.add_argument("--segment-size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.segment_size, args.batch)))
        return
    rows = []
    for segments in (int(s) for s in args.segments.split(",")):
        command = [sys.executable, __file__, "--child", str(segments), "--segment-size", str(args.segment_size), "--batch", str(args.batch)]
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    print(f"RMT (tiny GPT-2 backbone) inference, batch {args.batch}, segment {args.segment_size}, peak on {rows[0]['device']}")
    print(f"{'segments':>8} {'tokens':>9} {'peak MiB':>9} {'seconds':>8}")
    for row in rows:
        print(f"{row['segments']:>8} {row['segments'] * args.segment_size:>9} {row['peak_mib']:>9} {row['seconds']:>8}")
    peaks = [row["peak_mib"] for row in rows]
    spread = (max(peaks) - min(peaks)) / min(peaks)
    print(f"spread {spread:.1%} (bar: < 10%) -> {'PASS' if spread < 0.10 else 'FAIL'}")


if __name__ == "__main__":
    main()
