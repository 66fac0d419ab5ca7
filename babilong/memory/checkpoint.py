"""Build memory models by name and save/load them; a checkpoint holds its whole config."""

from __future__ import annotations

import importlib
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from babilong.errors import BabilongError
from babilong.memory import ARCHS
from babilong.memory.backbone import backbone_from_config
from babilong.memory.recurrence import MemoryConfig, RecurrentMemory

FORMAT = "babilong-memory/1"


def build_model(backbone: nn.Module, config: MemoryConfig) -> RecurrentMemory:
    """Wrap ``backbone`` in the architecture ``config.arch`` names."""
    if config.arch not in ARCHS:
        raise BabilongError(f"unknown memory architecture {config.arch!r}: use one of {', '.join(ARCHS)}")
    module_name, class_name = ARCHS[config.arch].split(":")
    return getattr(importlib.import_module(module_name), class_name)(backbone, config)


def save_checkpoint(model: RecurrentMemory, path: str | Path, tokenizer: str, extra: dict[str, Any] | None = None) -> None:
    """Write config, backbone config, tokenizer name and weights atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "config": asdict(model.config),
        "backbone": model.backbone.config.to_dict(),
        "tokenizer": tokenizer,
        "weights": {name: value.detach().cpu() for name, value in model.state_dict().items()},
        **(extra or {}),
    }
    temporary = path.with_name(path.name + ".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise BabilongError(f"no memory-model checkpoint at {str(path)!r}: give a .pt file or a folder with best.pt")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise BabilongError(f"{str(path)!r} is not a babilong memory-model checkpoint ({FORMAT})")
    return payload


def model_from_checkpoint(payload: dict[str, Any]) -> RecurrentMemory:
    """Rebuild the model a checkpoint describes; no flags and no hub needed."""
    backbone = backbone_from_config(_plain_config(payload["backbone"]))
    model = build_model(backbone, MemoryConfig(**payload["config"]))
    model.load_state_dict(payload["weights"])
    return model.eval()


def _plain_config(values: dict[str, Any]) -> dict[str, Any]:
    """A saved HF config dict without the keys that only describe where it came from."""
    dropped = {"transformers_version", "architectures", "_name_or_path", "torch_dtype", "dtype"}
    return {k: v for k, v in values.items() if k not in dropped}
