"""How much memory a training step takes, estimated before training starts.

With backpropagation through every segment, a step keeps the activations of all its
segments: ``rows x segments x (segment + memory tokens)`` positions, each holding a few
vectors of the model's width per layer plus one attention row per head. The constants were
fitted to peak resident memory measured on the CPU (``benchmarks/bench_train_memory.py``)
and err on the high side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

BASELINE_BYTES = 640 << 20  # Python, torch, tokenizer and the training books' sentences (measured: ~600 MB)
OPTIMIZER_COPIES = 4  # weights, gradients and AdamW's two moments
WIDTH_VECTORS = 12  # saved activations per position and layer, in units of the width
MLP_VECTORS = 3  # ... in units of the MLP's inner width
ATTENTION_ROWS = 2  # ... in units of heads x positions (scores and probabilities)
FLOAT_BYTES = 4
QUESTIONS_PER_ROW = 4  # every person's question is asked of each context read
FINAL_POSITIONS = 24  # a question and its answer in the final segment


@dataclass(frozen=True)
class Shape:
    """What sets the size of a memory model's activations."""

    width: int
    layers: int
    heads: int
    mlp: int
    parameters: int
    read_tokens: int
    write_tokens: int
    extra_per_position: int = 0  # ARMT: its features and read, per position and layer


def shape_of(model) -> Shape:
    """The :class:`Shape` of a built memory model."""
    config = model.backbone.config
    width = model.hidden_size
    layers = config.num_hidden_layers
    heads = config.num_attention_heads
    mlp = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * width
    state = model.initial_state(1)
    read, write = model.read_tokens(state).shape[1], model.write_tokens(state).shape[1]
    extra = 0
    if model.config.arch == "armt":
        extra = 2 * width + 48 * model.config.memory_dim  # the query's DPFP intermediates, its fp32 unit copy, the read
    parameters = sum(p.numel() for p in model.parameters())
    return Shape(width, layers, heads, mlp, parameters, read, write, extra)


def training_bytes(shape: Shape, rows: int, segments: int, segment_size: int, checkpointing: bool = False) -> int:
    """Peak bytes of one training step: ``rows`` contexts of ``segments`` segments (0: facts alone, one short one)."""
    positions = shape.read_tokens + segment_size + shape.write_tokens
    kept = max(segments, 1)
    per_position = (
        WIDTH_VECTORS * shape.width + MLP_VECTORS * shape.mlp + ATTENTION_ROWS * shape.heads * positions
        + shape.extra_per_position
    ) * shape.layers * FLOAT_BYTES
    if checkpointing:  # one segment's activations at a time, plus each segment's input
        activations = rows * positions * per_position + rows * kept * positions * shape.width * FLOAT_BYTES
    else:
        activations = rows * kept * positions * per_position
    final = rows * QUESTIONS_PER_ROW * (shape.read_tokens + FINAL_POSITIONS) * per_position
    return BASELINE_BYTES + OPTIMIZER_COPIES * FLOAT_BYTES * shape.parameters + activations + final


def largest_batch(shape: Shape, limit: int, segments: int, segment_size: int, checkpointing: bool = False) -> int:
    """The most rows whose step fits in ``limit`` bytes (0 if not even one does)."""
    low, high = 0, 1
    while training_bytes(shape, high, segments, segment_size, checkpointing) <= limit and high < 1 << 16:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if training_bytes(shape, middle, segments, segment_size, checkpointing) <= limit:
            low = middle
        else:
            high = middle
    return low


def available_bytes(device) -> int:
    """Memory free for training now: the GPU's free memory, or the machine's available RAM."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as info:
            fields = dict(line.split(":", 1) for line in info)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):  # not Linux: the physical memory
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gigabytes(count: int) -> str:
    return f"{count / 2**30:.1f} GB"
