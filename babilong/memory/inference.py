"""Answering with a trained memory model: what the evaluation harness calls.

Contexts are tokenised and fed segment by segment, so a 10M-token input is never one
tensor, and activation memory stays flat: only the memory state (and, for RMT-R, the past
memories) lives across segments.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from babilong.memory.checkpoint import model_from_checkpoint, read_checkpoint
from babilong.memory.prompt import (
    Tokenizer,
    answer_choices,
    clean_answer,
    question_ids,
    stop_ids,
)
from babilong.memory.recurrence import RecurrentMemory

PIECE_CHARS = 1 << 16  # text tokenised at a time
# A cut before " word" after a non-space keeps BPE pre-tokenisation identical on both sides.
_CUT = re.compile(r"(?<=\S)(?= \w)")


def load_checkpoint(path: str | Path, device: str | None = None) -> tuple[RecurrentMemory, Any]:
    """The model and tokenizer a checkpoint (``.pt`` or training folder) describes."""
    from babilong.tokens import get_tokenizer

    payload = read_checkpoint(path)
    model = model_from_checkpoint(payload)
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return model, get_tokenizer(payload["tokenizer"])


def text_pieces(text: str, size: int = PIECE_CHARS) -> Iterator[str]:
    """``text`` in pieces of about ``size`` characters, cut where tokenisation is unaffected."""
    start = 0
    while len(text) - start > size:
        match = _CUT.search(text, start + size)
        if match is None:
            break
        yield text[start : match.start()]
        start = match.start()
    yield text[start:]


def stream_segments(text: str, tokenizer: Tokenizer, segment_size: int, piece_chars: int = PIECE_CHARS) -> Iterator[list[int]]:
    """Token segments of ``text`` produced lazily, piece by piece."""
    buffer: list[int] = []
    for piece in text_pieces(text, piece_chars):
        buffer.extend(tokenizer.encode(piece))
        while len(buffer) >= segment_size:
            yield buffer[:segment_size]
            del buffer[:segment_size]
    if buffer:
        yield buffer


@torch.no_grad()
def answer(
    model: RecurrentMemory,
    tokenizer: Tokenizer,
    contexts: Sequence[str],
    questions: Sequence[str],
    max_new_tokens: int = 16,
    batch_size: int = 16,
    forget: bool = False,
) -> list[str]:
    """Greedy answers, ``batch_size`` samples at a time, each read segment by segment.

    ``forget``: answer from the initial memory, as if the context were not there (the
    control that shows what the memory carries)."""
    model.eval()
    size = model.config.segment_size
    choices = answer_choices(tokenizer, model.config.labels)
    answers: list[str] = []
    for start in range(0, len(contexts), batch_size):
        batch = range(start, min(start + batch_size, len(contexts)))
        with _autocast(model):
            if forget:
                state = model.initial_state(len(batch))
            else:
                state = model.read_context([stream_segments(contexts[i], tokenizer, size) for i in batch])
            prompts = [question_ids(tokenizer, questions[i]) for i in batch]
            outputs = model.generate(state, prompts, max_new_tokens, stop_ids(tokenizer), choices)
        answers.extend(clean_answer(tokenizer, ids) for ids in outputs)
    return answers


def _autocast(model: RecurrentMemory) -> torch.autocast:
    """bf16 on a GPU; a no-op on the CPU."""
    device = next(model.parameters()).device
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
