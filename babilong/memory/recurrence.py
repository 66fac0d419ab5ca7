"""The segment loop every memory model shares: split, pad, run the backbone, carry a state.

A memory architecture says only how a state is read into a segment and what the segment
writes back (``initial_state``, ``read_tokens``, ``write_tokens``, ``next_state``); this
module runs any number of segments for a batch whose rows have different lengths.

Layout of one segment row: ``[read tokens, segment tokens, write tokens, padding]``. Padding
sits at the end so every query has something to attend to; positions are explicit.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

State = dict[str, Tensor]  # every tensor is batch-first
LayerOutputs = list  # per layer: its output hidden states in the current pass (ARMT writes from them)


@dataclass
class MemoryConfig:
    """What a memory model is, apart from its backbone."""

    arch: str = "rmt"  # rmt | rmt-r | armt
    memory_tokens: int = 16
    segment_size: int = 512
    bptt_depth: int | None = None  # None: backpropagate through every segment
    memory_dim: int = 64  # ARMT: size of keys and queries before the feature map
    labels: tuple[str, ...] = ()  # when set, answers are one of these (trained and decoded so)


@dataclass
class Packed:
    """One segment for a batch, laid out for the backbone."""

    embeds: Tensor  # (B, T, d)
    mask: Tensor  # (B, T) 1 for real positions
    positions: Tensor  # (B, T)
    token_start: int  # index of the first segment token (after the read tokens)
    lengths: Tensor  # (B,) segment tokens per row
    write_index: Tensor  # (B, w) positions of the write tokens


def split_segments(ids: Sequence[int], size: int) -> list[list[int]]:
    """Consecutive chunks of ``size`` tokens (the last may be shorter)."""
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def gather_positions(hidden: Tensor, index: Tensor) -> Tensor:
    """``hidden[b, index[b, j]]`` for every row: (B, T, d), (B, k) -> (B, k, d)."""
    return hidden.gather(1, index.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))


def select_rows(state: State, rows: Tensor) -> State:
    return {name: value.index_select(0, rows) for name, value in state.items()}


def merge_rows(state: State, rows: Tensor, update: State) -> State:
    """``state`` with ``rows`` replaced by ``update``.

    A tensor that grew along dim 1 (RMT-R's list of past memories) is zero-padded for the
    rows that did not step; their mask entries are therefore 0.
    """
    merged = {}
    for name, new in update.items():
        old = state[name]
        if old.shape[1:] != new.shape[1:]:
            old = _pad_dim1(old, new.shape[1])
        merged[name] = old.index_copy(0, rows, new)
    return merged


def _pad_dim1(value: Tensor, size: int) -> Tensor:
    extra = value.new_zeros((value.shape[0], size - value.shape[1], *value.shape[2:]))
    return torch.cat([value, extra], dim=1)


def detach_rows(state: State, rows: Tensor) -> State:
    """Cut the gradient of the state for the rows where ``rows`` is True."""
    if not bool(rows.any()):
        return state
    out = {}
    for name, value in state.items():
        shape = (-1,) + (1,) * (value.dim() - 1)
        out[name] = torch.where(rows.view(shape).to(value.device), value.detach(), value)
    return out


class RecurrentMemory(nn.Module):
    """A backbone run segment by segment with a state carried between segments."""

    def __init__(self, backbone: nn.Module, config: MemoryConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.config = config
        # Recompute each segment's activations in the backward pass (``--grad-checkpointing``);
        # whole segments, so everything a segment reads is an input of the recomputed function.
        self.checkpoint_segments = False

    # ----- what an architecture provides -------------------------------------------------
    def initial_state(self, batch: int) -> State:
        raise NotImplementedError

    def read_tokens(self, state: State) -> Tensor:
        """(B, r, d) embeddings placed before the segment tokens."""
        raise NotImplementedError

    def write_tokens(self, state: State) -> Tensor:
        """(B, w, d) embeddings placed after the segment tokens."""
        raise NotImplementedError

    def next_state(self, state: State, written: Tensor, write_index: Tensor, layers: LayerOutputs) -> State:
        """The state after a segment, from the last hidden states at the write tokens."""
        raise NotImplementedError

    @contextmanager
    def reading(self, state: State) -> Iterator[LayerOutputs]:
        """The scope of backbone passes that read ``state`` inside the layers (ARMT); yields
        the list the layers' outputs are recorded in. Token-memory models need nothing here."""
        yield []

    # ----- shared machinery --------------------------------------------------------------
    @property
    def base(self) -> nn.Module:
        """The backbone without its LM head."""
        return getattr(self.backbone, self.backbone.base_model_prefix)

    @property
    def embed(self) -> nn.Module:
        return self.backbone.get_input_embeddings()

    @property
    def hidden_size(self) -> int:
        return self.embed.embedding_dim

    def _device(self) -> torch.device:
        return self.embed.weight.device

    def pack(self, state: State, segments: Sequence[Sequence[int]], write: bool = True) -> Packed:
        """Lay out ``[read, tokens, write, pad]`` for every row."""
        device = self._device()
        read = self.read_tokens(state)
        suffix = self.write_tokens(state) if write else read[:, :0]
        batch, r, w = read.shape[0], read.shape[1], suffix.shape[1]
        lengths = torch.tensor([len(s) for s in segments], device=device)
        width = int(lengths.max()) if len(segments) else 0
        tokens = self.embed(_padded(segments, width).to(device))
        # Each row's write tokens follow its own last token; the rest of the width is padding.
        slot = torch.arange(width + w, device=device).unsqueeze(0)
        write_index = r + lengths.unsqueeze(1) + torch.arange(w, device=device).unsqueeze(0)
        body = torch.cat([tokens, suffix.new_zeros((batch, w, tokens.shape[-1]))], dim=1)
        body = body.scatter(1, (write_index - r).unsqueeze(-1).expand(-1, -1, body.shape[-1]), suffix.to(body.dtype))
        embeds = torch.cat([read.to(body.dtype), body], dim=1)
        real = torch.cat([torch.ones((batch, r), dtype=torch.bool, device=device), slot < (lengths + w).unsqueeze(1)], 1)
        positions = torch.arange(r + width + w, device=device).unsqueeze(0).expand(batch, -1)
        return Packed(embeds, real.long(), positions, r, lengths, write_index)

    def run(self, packed: Packed, **extra: object) -> Tensor:
        """Last-layer hidden states of the backbone for a packed segment."""
        out = self.base(
            inputs_embeds=packed.embeds, attention_mask=packed.mask, position_ids=packed.positions, **extra
        )
        return out.last_hidden_state

    def step(self, state: State, segments: Sequence[Sequence[int]]) -> State:
        """Read ``state`` into one segment per row and return what the segment wrote."""
        if not (self.checkpoint_segments and torch.is_grad_enabled()):
            return self._step(state, segments)
        from torch.utils.checkpoint import checkpoint

        names = list(state)

        def stepped(*values: Tensor) -> tuple[Tensor, ...]:
            after = self._step(dict(zip(names, values)), segments)
            return tuple(after[name] for name in names)

        return dict(zip(names, checkpoint(stepped, *(state[name] for name in names), use_reentrant=False)))

    def _step(self, state: State, segments: Sequence[Sequence[int]]) -> State:
        packed = self.pack(state, segments)
        with self.reading(state) as layers:
            hidden = self.run(packed, use_cache=False)
        written = gather_positions(hidden, packed.write_index)
        return self.next_state(state, written, packed.write_index, layers)

    def read_context(self, contexts: Sequence[Iterable[Sequence[int]]], counts: Sequence[int] | None = None) -> State:
        """Feed each row its segments in order; rows that run out wait for the others.

        ``counts`` (segments per row, known in training) enables truncated BPTT: the state
        entering a segment more than ``bptt_depth`` segments before the final one is detached.
        """
        batch = len(contexts)
        streams: list[Iterator[Sequence[int]]] = [iter(c) for c in contexts]
        pending = [next(s, None) for s in streams]
        state = self.initial_state(batch)
        step = 0
        while any(p is not None for p in pending):
            rows = [i for i, p in enumerate(pending) if p is not None]
            state = self._truncate(state, counts, step)
            segments = [pending[i] for i in rows]
            if len(rows) == batch:  # the common case: no rows to pick out and put back
                state = self.step(state, segments)
            else:
                index = torch.tensor(rows, device=self._device())
                state = merge_rows(state, index, self.step(select_rows(state, index), segments))
            pending = [next(streams[i], None) if pending[i] is not None else None for i in range(batch)]
            step += 1
        return state

    def _truncate(self, state: State, counts: Sequence[int] | None, step: int | None) -> State:
        """Detach rows whose distance to the final segment is ``bptt_depth`` or more."""
        depth = self.config.bptt_depth
        if depth is None or counts is None or not torch.is_grad_enabled():
            return state
        distance = torch.tensor(counts) - (torch.tensor(counts) if step is None else step)
        return detach_rows(state, distance >= depth)

    def forward(self, contexts: Sequence[Sequence[Sequence[int]]], prompts: Sequence[Sequence[int]], answers: Sequence[Sequence[int]], **options: object) -> Tensor:
        """The training loss (``forward`` so that DistributedDataParallel can wrap the model)."""
        return self.loss(contexts, prompts, answers, **options)

    def loss(
        self,
        contexts: Sequence[Sequence[Sequence[int]]],
        prompts: Sequence[Sequence[int]],
        answers: Sequence[Sequence[int]],
        owners: Sequence[int] | None = None,
        choices: Sequence[Sequence[int]] | None = None,
    ) -> Tensor:
        """Mean cross-entropy of the answer tokens after context segments and a prompt.

        ``owners[j]`` is the context row prompt ``j`` asks about (default: row ``j``), so
        several questions can share one read of a context. With ``choices`` (the token
        sequences an answer can be), each answer token competes only with the tokens that
        continue some choice the same way: a loss over the label vocabulary, not all tokens;
        positions where only one token can follow carry no loss.
        """
        counts = [len(c) for c in contexts]
        state = self._truncate(self.read_context(contexts, counts), counts, None)
        if owners is not None:
            state = select_rows(state, torch.tensor(list(owners), device=self._device()))
        hidden, packed = self.final(state, [list(p) + list(a) for p, a in zip(prompts, answers)])
        rows, cols, targets, allowed = [], [], [], []
        for row, (prompt, answer) in enumerate(zip(prompts, answers)):
            for k, token in enumerate(answer):
                options = None if choices is None else next_tokens(choices, answer[:k])
                if options is not None and token not in options:
                    # adding it would make it an option no other row has: a loss near 0 that teaches nothing
                    raise ValueError(f"answer tokens {list(answer)} are not one of the choices")
                if options is not None and len(options) < 2:
                    continue
                rows.append(row)
                cols.append(packed.token_start + len(prompt) + k - 1)
                targets.append(token)
                allowed.append(options)
        device = hidden.device
        picked = hidden[torch.tensor(rows, device=device), torch.tensor(cols, device=device)]
        head = self.backbone.get_output_embeddings()
        if choices is None:
            return nn.functional.cross_entropy(head(picked).float(), torch.tensor(targets, device=device))
        # Only the label tokens' logits: the same softmax as masking the full vocabulary, at a
        # fraction of the cost (the head is most of a tiny model's compute).
        vocabulary = sorted({token for options in allowed for token in options})
        where = {token: i for i, token in enumerate(vocabulary)}
        index = torch.tensor(vocabulary, device=device)
        bias = getattr(head, "bias", None)
        logits = nn.functional.linear(picked, head.weight[index], None if bias is None else bias[index]).float()
        mask = _choice_mask([[where[token] for token in options] for options in allowed], logits)
        return nn.functional.cross_entropy(logits + mask, torch.tensor([where[t] for t in targets], device=device))

    def final(self, state: State, tokens: Sequence[Sequence[int]]) -> tuple[Tensor, Packed]:
        """Hidden states of the last segment (read memory only, nothing written)."""
        packed = self.pack(state, tokens, write=False)
        with self.reading(state):
            return self.run(packed, use_cache=False), packed

    @torch.no_grad()
    def generate(
        self, state: State, prompts: Sequence[Sequence[int]], max_new_tokens: int, stop_ids: set[int],
        choices: Sequence[Sequence[int]] | None = None,
    ) -> list[list[int]]:
        """Greedy continuation of each prompt in the last segment, with a KV cache.

        With ``choices``, each row only continues along one of those token sequences."""
        with self.reading(state):
            return self._generate(state, prompts, max_new_tokens, stop_ids, choices)

    def _generate(
        self, state: State, prompts: Sequence[Sequence[int]], max_new_tokens: int, stop_ids: set[int],
        choices: Sequence[Sequence[int]] | None,
    ) -> list[list[int]]:
        packed = self.pack(state, prompts, write=False)
        cache, cache_arg = _new_cache(self.base)
        hidden = self.run(packed, use_cache=True, **{cache_arg: cache})
        last = packed.token_start + packed.lengths - 1
        mask, position = packed.mask, last + 1
        outputs: list[list[int]] = [[] for _ in prompts]
        done = torch.zeros(len(prompts), dtype=torch.bool, device=hidden.device)
        head = self.backbone.get_output_embeddings()
        current = hidden[torch.arange(len(prompts), device=hidden.device), last]
        for _ in range(max_new_tokens):
            logits = head(current).float()
            if choices is not None:
                logits = logits + _choice_mask([next_tokens(choices, out) or None for out in outputs], logits)
            token = logits.argmax(-1)
            for row, value in enumerate(token.tolist()):
                if not done[row]:
                    outputs[row].append(value)
            done |= torch.tensor([t in stop_ids for t in token.tolist()], device=done.device)
            if bool(done.all()):
                break
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            out = self.base(
                inputs_embeds=self.embed(token.unsqueeze(1)),
                attention_mask=mask,
                position_ids=position.unsqueeze(1),
                use_cache=True,
                **{cache_arg: cache},
            )
            current, position = out.last_hidden_state[:, -1], position + 1
        return outputs


def next_tokens(choices: Sequence[Sequence[int]], prefix: Sequence[int]) -> list[int]:
    """The tokens that continue ``prefix`` along some of the ``choices``."""
    k, prefix = len(prefix), list(prefix)
    return sorted({choice[k] for choice in choices if len(choice) > k and list(choice[:k]) == prefix})


def _choice_mask(allowed: Sequence[Sequence[int] | None], logits: Tensor) -> Tensor:
    """0 where a row may pick a token, -inf elsewhere; rows with ``None`` are unrestricted."""
    widest = max((len(options) for options in allowed if options), default=1)
    # Each row's options padded by repeating its first one: one scatter builds the whole mask.
    index = [list(options) + [options[0]] * (widest - len(options)) if options else [0] * widest for options in allowed]
    mask = torch.full_like(logits, float("-inf"))
    mask.scatter_(1, torch.tensor(index).to(logits.device), 0.0)
    free = [row for row, options in enumerate(allowed) if options is None]
    if free:
        mask[free] = 0.0
    return mask


def _padded(rows: Sequence[Sequence[int]], width: int) -> Tensor:
    """Rows of token ids as one (B, width) tensor, zero-padded at the end (built on the CPU)."""
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    for row, values in enumerate(rows):
        ids[row, : len(values)] = torch.tensor(values, dtype=torch.long)
    return ids


def _new_cache(base: nn.Module) -> tuple[object, str]:
    """An empty KV cache and the keyword the installed transformers version takes it by."""
    from transformers import DynamicCache

    parameters = inspect.signature(base.forward).parameters
    return DynamicCache(), "cache" if "cache" in parameters else "past_key_values"
