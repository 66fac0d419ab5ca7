"""RMT-R: RMT plus self-retrieval over every past memory state.

Before each segment the current memory attends (one head, pre-LayerNorm cross-attention
with a residual, then an MLP with a residual) over the memories that entered all earlier
segments; the result is read as extra memory: ``[retrieved, memory, tokens, memory]``.
Cost grows linearly with the number of segments.

The past memories live in a buffer that doubles when full, so a 10M-token context does not
copy its whole past at every segment: reading (no gradient) writes each new entry in place,
and unused slots are masked out. A state stepped from in inference shares its buffer with the
state it came from; the mask keeps the older state's view unchanged.
"""

from __future__ import annotations

import math

FIRST_CAPACITY = 8  # past memories the buffer holds before it first doubles

import torch
from torch import Tensor, nn

from babilong.memory.recurrence import LayerOutputs, MemoryConfig, State
from babilong.memory.rmt import RMT


class Retrieval(nn.Module):
    """One-head pre-LN cross-attention block from the memory to past memories."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm_query = nn.LayerNorm(width)
        self.norm_past = nn.LayerNorm(width)
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.norm_mlp = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, memory: Tensor, past: Tensor, past_mask: Tensor) -> Tensor:
        """memory (B, m, d) attends over past (B, n, d) where past_mask (B, n) is 1."""
        query = self.query(self.norm_query(memory))
        normed = self.norm_past(past)
        scores = query @ self.key(normed).transpose(1, 2) / math.sqrt(memory.shape[-1])
        keep = past_mask.unsqueeze(1).to(scores.dtype)
        # Rows with no past at all get weights of zero, not a softmax over nothing.
        weights = torch.softmax(scores.masked_fill(keep == 0, -1e9), dim=-1) * keep
        attended = memory + self.out(weights @ self.value(normed))
        return attended + self.mlp(self.norm_mlp(attended))


class RMTR(RMT):
    """RMT with self-retrieval; the state keeps every past memory."""

    def __init__(self, backbone: nn.Module, config: MemoryConfig) -> None:
        super().__init__(backbone, config)
        self.retrieval = Retrieval(self.memory.shape[1])

    def initial_state(self, batch: int) -> State:
        memory = self.memory.unsqueeze(0).expand(batch, -1, -1)
        return {
            "memory": memory,
            "past": memory.new_zeros((batch, 0, *memory.shape[1:])),  # (B, segments, m, d)
            "past_mask": memory.new_zeros((batch, 0)),  # 1 where a row really had that segment
        }

    def retrieve(self, state: State) -> Tensor:
        past = state["past"].flatten(1, 2)
        mask = state["past_mask"].repeat_interleave(self.memory.shape[0], dim=1)
        return self.retrieval(state["memory"], past, mask)

    def read_tokens(self, state: State) -> Tensor:
        return torch.cat([self.retrieve(state), state["memory"]], dim=1)

    def next_state(self, state: State, written: Tensor, write_index: Tensor, layers: LayerOutputs) -> State:
        past, past_mask = state["past"], state["past_mask"]
        used = past_mask.sum(1).long()  # entries each row holds; the next goes right after
        if int(used.max()) >= past.shape[1]:
            past, past_mask = _grown(past, past_mask)
        slot = (torch.arange(written.shape[0], device=used.device), used)
        if torch.is_grad_enabled():  # training keeps the graph, so write into a copy
            past = past.index_put(slot, state["memory"])
        else:
            past.index_put_(slot, state["memory"])
        return {"memory": written, "past": past, "past_mask": past_mask.index_put(slot, past_mask.new_ones(()))}


def _grown(past: Tensor, past_mask: Tensor) -> tuple[Tensor, Tensor]:
    """The buffers with twice the room (at least ``FIRST_CAPACITY``), entries kept."""
    extra = max(FIRST_CAPACITY, past.shape[1])
    padding = past.new_zeros((past.shape[0], extra, *past.shape[2:]))
    return torch.cat([past, padding], 1), torch.cat([past_mask, past_mask.new_zeros((past.shape[0], extra))], 1)
