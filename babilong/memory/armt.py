"""ARMT: an associative memory in every layer, written with the delta rule.

Each layer ``l`` keeps a matrix ``A`` (d x F) and a normaliser ``z`` (F), F = 6 * memory_dim.
Keys and queries are ``phi(W x)`` scaled to unit length (``phi`` is DPFP-3; the original ARMT
normalises them too), so ``z . k`` is bounded: a key written before has ``z . k`` near 1.
Read, for every hidden state ``x`` entering the layer: ``x + A q / (z . q)``, ``q = phi(Wq x)``.
Write, from the layer's outputs ``m`` at the memory tokens closing each segment, one token
after the other: ``k = phi(Wk m)``, ``v = Wv m``, ``beta = sigmoid(Wb m)``,
``v_old = A k / (z . k)``, ``A += beta (v - v_old) k^T``, ``z += gamma k`` with
``gamma = clip(1 - z.k / |k|^2, 0, 1)`` (no gradient through gamma). Token by token, so two
memory tokens writing the same key do not both correct the same ``v_old`` (which would
overshoot it by a factor of two). ``A`` and ``z`` are kept and updated in fp32 whatever the
weights' dtype or autocast: over thousands of segments bf16 sums lose the small updates
(``benchmarks/armt_diagnosis.py``). ``Wv`` starts at zero, so an untrained ARMT is its backbone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from babilong.memory.recurrence import (
    LayerOutputs,
    MemoryConfig,
    RecurrentMemory,
    State,
    gather_positions,
)

EPS = 1e-5  # keeps the read defined while the memory is still empty (z = 0)
DPFP_ORDER = 3


def dpfp(x: Tensor, order: int = DPFP_ORDER) -> Tensor:
    """DPFP: r = [relu(x), relu(-x)]; features r_j * r_{j+i} (indices mod 2n) for i = 1..order."""
    r = torch.cat([torch.relu(x), torch.relu(-x)], dim=-1)
    return torch.cat([r * torch.roll(r, shifts=-i, dims=-1) for i in range(1, order + 1)], dim=-1)


class AssociativeMemory(nn.Module):
    """The projections of one layer's associative memory."""

    def __init__(self, width: int, memory_dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(width, memory_dim, bias=False)
        self.key = nn.Linear(width, memory_dim, bias=False)
        self.value = nn.Linear(width, width, bias=False)
        self.beta = nn.Linear(width, 1)
        nn.init.zeros_(self.value.weight)
        # Diagnostics (benchmarks/armt_diagnosis.py): called as observe("read", x=..., read=...)
        # and observe("write", gamma=...); None in normal use.
        self.observe: Callable[..., None] | None = None

    def features(self, projection: nn.Linear, x: Tensor) -> Tensor:
        """``phi(projection(x))`` in fp32, scaled to unit length."""
        phi = dpfp(projection(x)).float()
        return phi / phi.norm(dim=-1, keepdim=True).clamp_min(EPS)

    def read(self, x: Tensor, matrix: Tensor, norm: Tensor) -> Tensor:
        """x (B, T, d), matrix (B, d, F), norm (B, F) -> (B, T, d)."""
        q = self.features(self.query, x)
        with exact(x):
            out = (q @ matrix.float().transpose(1, 2)) / (q @ norm.float().unsqueeze(-1) + EPS)
        if self.observe is not None:
            self.observe("read", x=x, read=out)
        return out.to(x.dtype)

    def write(self, m: Tensor, matrix: Tensor, norm: Tensor) -> tuple[Tensor, Tensor]:
        """Delta-rule update from the memory-token outputs m (B, w, d), one token after another.

        Token j's update is ``u_j k_j^T``, and what it reads back depends on the earlier tokens
        only through ``k_i . k_j``: the loop runs over (B, d) vectors, and ``A`` is built once."""
        keys = self.features(self.key, m)  # (B, w, F)
        values = self.value(m).float()  # (B, w, d)
        betas = torch.sigmoid(self.beta(m)).float()  # (B, w, 1)
        matrix, norm = matrix.float(), norm.float()
        with exact(m):
            recalled = keys @ matrix.transpose(1, 2)  # A_0 k_j, (B, w, d)
            seen = keys @ norm.unsqueeze(-1)  # z_0 . k_j, (B, w, 1)
            overlap = keys @ keys.transpose(1, 2)  # k_i . k_j, (B, w, w)
            updates: list[Tensor] = []
            gammas: list[Tensor] = []
            for j in range(keys.shape[1]):
                before = overlap[:, :j, j].unsqueeze(-1)  # (B, j, 1)
                recall, total = recalled[:, j], seen[:, j]
                if j:
                    recall = recall + (torch.stack(updates, 1) * before).sum(1)
                    total = total + (torch.stack(gammas, 1) * before).sum(1)
                v_old = recall / (total + EPS)
                updates.append(betas[:, j] * (values[:, j] - v_old))
                square = overlap[:, j, j].unsqueeze(-1)
                gammas.append((1 - total / (square + EPS)).clamp(0, 1).detach())
            gamma = torch.stack(gammas, 1)  # (B, w, 1)
            matrix = matrix + torch.stack(updates, 1).transpose(1, 2) @ keys
            norm = norm + (gamma * keys).sum(1)
        if self.observe is not None:
            self.observe("write", gamma=gamma)
        return matrix, norm


def exact(x: Tensor):
    """No autocast: the memory's sums stay in fp32 under bf16 autocast too."""
    return torch.autocast(x.device.type, enabled=False)


def decoder_layers(base: nn.Module, count: int) -> nn.ModuleList:
    """The backbone's list of transformer blocks (GPT-2 ``h``, Llama ``layers`` ...)."""
    for module in base.children():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return module
    raise ValueError(f"{type(base).__name__} has no list of {count} layers")


class ARMT(RecurrentMemory):
    """Associative Recurrent Memory Transformer around any HF causal LM."""

    def __init__(self, backbone: nn.Module, config: MemoryConfig) -> None:
        super().__init__(backbone, config)
        width = self.hidden_size
        layers = decoder_layers(self.base, backbone.config.num_hidden_layers)
        scale = backbone.get_input_embeddings().weight.detach().float().std()
        self.memory = nn.Parameter(torch.randn(config.memory_tokens, width) * scale)
        self.associative = nn.ModuleList(AssociativeMemory(width, config.memory_dim) for _ in layers)
        # The pass in progress: the state its layers read and the list their outputs go to.
        # Set only inside ``reading`` (restored in ``finally``); outside one, the layers are
        # the plain backbone. Whole-segment checkpointing recomputes inside ``reading`` too.
        self._pass: tuple[State, LayerOutputs] | None = None
        for i, layer in enumerate(layers):
            layer.register_forward_pre_hook(self._read_hook(i), with_kwargs=True)
            layer.register_forward_hook(self._capture_hook(i))

    @property
    def features(self) -> int:
        return 2 * self.config.memory_dim * DPFP_ORDER

    def initial_state(self, batch: int) -> State:
        weight = self.memory  # the state is fp32 whatever the weights' dtype
        layers, fp32 = len(self.associative), torch.float32
        return {
            "matrix": torch.zeros((batch, layers, weight.shape[1], self.features), dtype=fp32, device=weight.device),
            "norm": torch.zeros((batch, layers, self.features), dtype=fp32, device=weight.device),
        }

    def read_tokens(self, state: State) -> Tensor:
        return self.memory.new_zeros((state["norm"].shape[0], 0, self.memory.shape[1]))

    def write_tokens(self, state: State) -> Tensor:
        return self.memory.unsqueeze(0).expand(state["norm"].shape[0], -1, -1)

    @contextmanager
    def reading(self, state: State) -> Iterator[LayerOutputs]:
        outputs: LayerOutputs = [None] * len(self.associative)
        outer, self._pass = self._pass, (state, outputs)
        try:
            yield outputs
        finally:
            self._pass = outer

    def next_state(self, state: State, written: Tensor, write_index: Tensor, layers: LayerOutputs) -> State:
        matrices, norms = [], []
        for i, memory in enumerate(self.associative):
            m = gather_positions(layers[i], write_index)
            matrix, norm = memory.write(m, state["matrix"][:, i], state["norm"][:, i])
            matrices.append(matrix)
            norms.append(norm)
        return {"matrix": torch.stack(matrices, 1), "norm": torch.stack(norms, 1)}

    def _read_hook(self, i: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
            if self._pass is None:
                return None
            state, memory = self._pass[0], self.associative[i]
            if args:
                x = args[0]
                return (x + memory.read(x, state["matrix"][:, i], state["norm"][:, i]), *args[1:]), kwargs
            x = kwargs["hidden_states"]
            return args, {**kwargs, "hidden_states": x + memory.read(x, state["matrix"][:, i], state["norm"][:, i])}

        return hook

    def _capture_hook(self, i: int):
        def hook(module: nn.Module, args: tuple, output: Tensor | tuple) -> None:
            if self._pass is not None:
                self._pass[1][i] = output[0] if isinstance(output, tuple) else output

        return hook
