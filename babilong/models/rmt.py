"""``rmt``: a trained recurrent-memory model (RMT, RMT-R or ARMT) from ``babilong train``.

It reads each sample's raw context segment by segment and answers the question in the
layout it was trained on, so it takes samples, not chat prompts: it is a ``SampleModel``, and the harness hands it
samples instead of building prompts.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from babilong.errors import BabilongError
from babilong.models import int_arg
from babilong.models.base import Generation, batches
from babilong.sample import Sample

ARGS = {
    "checkpoint": "a .pt file or a training folder (its best.pt) written by 'babilong train'",
    "device": "cpu, cuda, cuda:1 ... (default: cuda when available)",
    "batch_size": "samples read together, segment by segment (default 16)",
}


class MemoryModel:
    """The harness face of a trained memory model; its context window is unlimited."""

    context_window = None

    def __init__(self, checkpoint: Path, device: str | None, batch_size: int) -> None:
        from babilong.memory.inference import load_checkpoint

        self.model, self.tokenizer = load_checkpoint(checkpoint, device)
        self.name = f"{type(self.model).__name__.lower()}-{checkpoint.stem}"
        self.batch_size = batch_size
        self._settings = {"checkpoint_sha256": _sha256(checkpoint), "config": repr(self.model.config)}

    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    def answer_samples(self, samples: Iterable[Sample], max_new_tokens: int) -> Iterator[tuple[int, Generation]]:
        """Answer ``batch_size`` samples at a time, yielding each as its batch finishes."""
        from babilong.memory.inference import answer

        for start, batch in batches(samples, self.batch_size):
            began = time.perf_counter()
            outputs = answer(self.model, self.tokenizer, [s.input for s in batch], [s.question for s in batch],
                             max_new_tokens=max_new_tokens, batch_size=self.batch_size)
            share = (time.perf_counter() - began) / len(batch)
            for offset, output in enumerate(outputs):
                yield start + offset, Generation(output, share)

    def close(self) -> None:
        self.model = None


def load(args: dict[str, str]) -> MemoryModel:
    if "checkpoint" not in args:
        raise BabilongError("--model rmt needs --model-args checkpoint=PATH (a file or folder written by 'babilong train')")
    checkpoint = Path(args["checkpoint"]).expanduser()
    batch_size = int_arg(args, "batch_size", 16)
    if not checkpoint.exists():
        raise BabilongError(f"checkpoint {checkpoint} not found: give a .pt file or a folder written by 'babilong train'")
    if "device" in args:
        from babilong.models.hf import check_device

        check_device(args["device"])
    return MemoryModel(checkpoint, args.get("device"), batch_size)


def _sha256(path: Path) -> str:
    file = path / "best.pt" if path.is_dir() else path
    return hashlib.sha256(file.read_bytes()).hexdigest()[:16] if file.is_file() else "missing"
