"""Peak memory of ``babilong train`` against the estimate it plans its batches with.

Each configuration runs ``babilong train`` for 2 steps of one stage in a fresh process (no
batch lowering: the limit is set high) and reads that process's peak resident memory; the
estimate from ``babilong.memory.footprint`` is printed beside it. The estimate should be at
or above the measurement (it decides when to lower the batch) without being far above it.

    OMP_NUM_THREADS=1 python benchmarks/bench_train_memory.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# (arch, backbone, segment, segments, batch)
CONFIGS = [
    ("rmt", "tiny", 128, 0, 128),
    ("rmt", "tiny", 128, 1, 32),
    ("rmt", "tiny", 128, 4, 32),
    ("rmt", "tiny", 128, 4, 128),
    ("rmt", "tiny", 128, 16, 32),
    ("rmt", "tiny", 512, 2, 32),
    ("armt", "tiny", 128, 4, 64),
]


def measure(arch: str, backbone: str, segment: int, segments: int, batch: int) -> tuple[int, float]:
    """Peak RSS (bytes) and seconds of a 2-step ``babilong train`` stage in a fresh process."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            sys.executable, "-m", "babilong", "train", "--arch", arch, "--backbone", backbone, "--tasks", "qa1",
            "--segment", str(segment), "--curriculum", str(segments), "--batch-size", str(batch), "--max-steps", "2",
            "--val-samples", "1", "--memory-limit-gb", "1000", "--no-progress", "--output", str(Path(scratch) / "run"),
        ]
        started = time.time()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        _, status, usage = os.wait4(process.pid, 0)
        if status != 0:
            raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()[-500:]}")
        return usage.ru_maxrss * 1024, time.time() - started


def estimate(arch: str, backbone: str, segment: int, segments: int, batch: int) -> int:
    from babilong.memory.backbone import load_backbone
    from babilong.memory.checkpoint import build_model
    from babilong.memory.footprint import shape_of, training_bytes
    from babilong.memory.recurrence import MemoryConfig

    model = build_model(load_backbone(backbone)[0], MemoryConfig(arch, 10 if arch == "armt" else 16, segment))
    return training_bytes(shape_of(model), batch, segments, segment)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    print(f"{'arch':>5} {'backbone':>8} {'segment':>7} {'segments':>8} {'batch':>5} {'measured':>9} {'estimate':>9} {'ratio':>6} {'seconds':>7}")
    for config in CONFIGS:
        peak, seconds = measure(*config)
        guess = estimate(*config)
        print(f"{config[0]:>5} {config[1]:>8} {config[2]:>7} {config[3]:>8} {config[4]:>5} "
              f"{peak / 2**30:>8.2f}G {guess / 2**30:>8.2f}G {guess / peak:>6.2f} {seconds:>7.0f}", flush=True)


if __name__ == "__main__":
    main()
