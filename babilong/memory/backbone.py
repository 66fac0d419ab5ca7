"""Backbones for the memory models: any HF causal LM by hub id or path, or a tiny random one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from babilong.errors import BabilongError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

GPT2_VOCAB = 50257

# Small random-init configurations for tests and CPU demos (GPT-2 vocabulary by default).
# The init std is 1/sqrt(width): the default 0.02 (meant for width 768) leaves a width-64
# model's attention uniform, and its memory then fails to learn even a one-token copy.
# No dropout: a model this small trained from scratch learns qa1 faster without it
# (benchmarks/RESULTS.md, "Memory models on real qa1").
TINY = {
    "tiny": {
        "model_type": "gpt2", "n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 1024, "initializer_range": 0.125,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
    },
    "tiny-llama": {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "hidden_size": 64,
        "intermediate_size": 128,
        "max_position_embeddings": 1024,
        "initializer_range": 0.125,
    },
}


def tiny_backbone(kind: str = "tiny", vocab_size: int = GPT2_VOCAB, **overrides: Any) -> PreTrainedModel:
    """A randomly initialised small GPT-2 (``tiny``) or Llama (``tiny-llama``) model."""
    import torch

    if kind not in TINY:
        raise BabilongError(f"unknown tiny backbone {kind!r}: use one of {', '.join(TINY)}")
    last = vocab_size - 1  # special ids must exist in a small vocabulary
    settings = {**TINY[kind], "vocab_size": vocab_size, "bos_token_id": last, "eos_token_id": last, **overrides}
    torch.manual_seed(0)  # the init is part of the named configuration, not a free choice
    return backbone_from_config(settings)


def parse_tiny_spec(spec: str) -> tuple[str, dict[str, int]] | None:
    """``tiny`` or ``tiny:n_embd=256,n_layer=4,n_head=4`` -> (kind, overrides); None if not tiny."""
    kind, _, settings = spec.partition(":")
    if kind not in TINY:
        return None
    overrides: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in settings.split(","))):
        key, _, value = part.partition("=")
        if key not in TINY[kind] or key == "model_type" or not value.isdigit() or int(value) < 1:
            known = ", ".join(k for k in TINY[kind] if k != "model_type")
            raise BabilongError(f"bad backbone setting {part!r} in {spec!r}: give KEY=positive integer with KEY among {known}")
        overrides[key] = int(value)
    width = overrides.get("n_embd", overrides.get("hidden_size"))
    if width:  # keep the init std at 1/sqrt(width), as for the named sizes
        overrides["initializer_range"] = width**-0.5  # type: ignore[assignment]
    return kind, overrides


def backbone_from_config(settings: dict[str, Any]) -> PreTrainedModel:
    """A randomly initialised model from a config dict that names its ``model_type``."""
    from transformers import AutoConfig, AutoModelForCausalLM

    values = dict(settings)
    config = AutoConfig.for_model(values.pop("model_type"), **values)
    return AutoModelForCausalLM.from_config(config)


def load_backbone(spec: str) -> tuple[PreTrainedModel, str]:
    """``spec`` is ``tiny``/``tiny-llama`` (sizes as ``tiny:n_embd=128,n_layer=4``), a local
    model folder or a hub id.

    Returns the model and the tokenizer name it goes with (for ``babilong.tokens``).
    """
    tiny = parse_tiny_spec(spec)
    if tiny is not None:
        return tiny_backbone(tiny[0], **tiny[1]), "gpt2"
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(spec)
    except (OSError, ValueError) as error:
        hint = "no such folder" if not Path(spec).exists() else "not a causal LM folder"
        raise BabilongError(
            f"cannot load backbone {spec!r} ({hint}; {str(error).splitlines()[0][:120]}): "
            "give a local model folder, a hub id reachable from here, or 'tiny'"
        ) from error
    return model, f"hf:{spec}"
