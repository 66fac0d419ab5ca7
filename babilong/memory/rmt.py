"""RMT: learned memory tokens read at the start and written at the end of every segment.

Segment input embeddings are ``[memory, tokens, memory]``; the last-layer hidden states at
the final ``memory_tokens`` positions become the memory of the next segment.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from babilong.memory.recurrence import (
    LayerOutputs,
    MemoryConfig,
    RecurrentMemory,
    State,
)


class RMT(RecurrentMemory):
    """Recurrent Memory Transformer around any HF causal LM."""

    def __init__(self, backbone: nn.Module, config: MemoryConfig) -> None:
        super().__init__(backbone, config)
        embedding = backbone.get_input_embeddings().weight
        scale = embedding.detach().float().std()
        self.memory = nn.Parameter(torch.randn(config.memory_tokens, embedding.shape[1]) * scale)

    def initial_state(self, batch: int) -> State:
        return {"memory": self.memory.unsqueeze(0).expand(batch, -1, -1)}

    def read_tokens(self, state: State) -> Tensor:
        return state["memory"]

    def write_tokens(self, state: State) -> Tensor:
        return state["memory"]

    def next_state(self, state: State, written: Tensor, write_index: Tensor, layers: LayerOutputs) -> State:
        return {"memory": written}
