"""RMT-R: RMT plus self-retrieval over every past memory state.

Before each segment the current memory attends (one head, pre-LayerNorm cross-attention
with a residual, then an MLP with a residual) over the memories that entered all earlier
segments; the result is read as extra memory: ``[retrieved, memory, tokens, memory]``.
Cost grows linearly with the number of segments.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from babilong.memory.recurrence import MemoryConfig, State
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

    def next_state(self, state: State, written: Tensor, write_index: Tensor) -> State:
        entered = state["memory"].unsqueeze(1)
        return {
            "memory": written,
            "past": torch.cat([state["past"], entered], dim=1),
            "past_mask": torch.cat([state["past_mask"], state["past_mask"].new_ones((written.shape[0], 1))], 1),
        }
