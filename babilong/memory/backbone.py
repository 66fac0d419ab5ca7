"""Backbones for the memory models: any HF causal LM by hub id or path, or a tiny random one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from babilong.errors import BabilongError

if TYPE_CHECKING:
    from transformers import PreTrainedModel

GPT2_VOCAB = 50257

# Small random-init configurations for tests and CPU demos (GPT-2 vocabulary by default).
TINY = {
    "tiny": {"model_type": "gpt2", "n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 1024},
    "tiny-llama": {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "hidden_size": 64,
        "intermediate_size": 128,
        "max_position_embeddings": 1024,
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


def backbone_from_config(settings: dict[str, Any]) -> PreTrainedModel:
    """A randomly initialised model from a config dict that names its ``model_type``."""
    from transformers import AutoConfig, AutoModelForCausalLM

    values = dict(settings)
    config = AutoConfig.for_model(values.pop("model_type"), **values)
    return AutoModelForCausalLM.from_config(config)


def load_backbone(spec: str) -> tuple[PreTrainedModel, str]:
    """``spec`` is ``tiny``/``tiny-llama``, a local model folder or a hub id.

    Returns the model and the tokenizer name it goes with (for ``babilong.tokens``).
    """
    if spec in TINY:
        return tiny_backbone(spec), "gpt2"
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
