"""Build memory models by name and save/load them; a checkpoint holds its whole config.

Checkpoints are shared like datasets, so loading one must never run code: files are read
with ``torch.load(weights_only=True)``, which unpickles only tensors and plain containers,
and anything else (a crafted pickle, a damaged or foreign file) is refused in one line.
"""

from __future__ import annotations

import importlib
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from babilong.errors import BabilongError
from babilong.files import atomic_write
from babilong.memory import ARCHS
from babilong.memory.backbone import backbone_from_config
from babilong.memory.recurrence import MemoryConfig, RecurrentMemory

FORMAT = "babilong-memory/1"
# ARMT's memory rule: 2 = unit-length keys and queries, fp32 state, token-by-token writes.
# Rule-1 checkpoints (before 2026-12) read and write differently, so they are refused.
ARMT_RULE = 2


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
        **({"armt_rule": ARMT_RULE} if model.config.arch == "armt" else {}),
        **(extra or {}),
    }
    atomic_write(path, lambda handle: torch.save(payload, handle))


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The payload of a checkpoint file (or a folder's ``best.pt``), read without running code."""
    path = Path(path)
    if path.is_dir():
        path = path / "best.pt"
    if not path.is_file():
        raise BabilongError(f"no memory-model checkpoint at {str(path)!r}: give a .pt file or a folder with best.pt")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "Unsupported global" not in str(error):  # random or damaged bytes, not objects that were refused
            raise BabilongError(f"cannot read {str(path)!r} as a checkpoint (it is no torch file the weights-only "
                                "reader understands): the file is damaged or not a 'babilong train' checkpoint") from None
        raise BabilongError(
            f"refusing {str(path)!r}: it holds Python objects beyond tensors and plain data, which could run code "
            f"when loaded ({_first_line(error)}); use a checkpoint written by 'babilong train'"
        ) from error
    except Exception as error:  # torch raises many types for damaged files (zip, EOF, runtime)
        raise BabilongError(
            f"cannot read {str(path)!r} as a checkpoint ({type(error).__name__}: {_first_line(error)}): "
            "the file is damaged or not a 'babilong train' checkpoint"
        ) from error
    problem = _payload_problem(payload)
    if problem:
        raise BabilongError(f"{str(path)!r} is not a babilong memory-model checkpoint ({FORMAT}): {problem}")
    return payload


def _payload_problem(payload: object) -> str | None:
    """What is missing from a checkpoint payload, or None when it has every part."""
    if not isinstance(payload, dict):
        return f"it holds a {type(payload).__name__}, not a checkpoint dict"
    if payload.get("format") != FORMAT:
        return f"its format is {payload.get('format')!r}"
    for key, kind in (("config", dict), ("backbone", dict), ("tokenizer", str), ("weights", dict)):
        if not isinstance(payload.get(key), kind):
            return f"its {key!r} entry is missing or not a {kind.__name__}"
    if not all(isinstance(value, torch.Tensor) for value in payload["weights"].values()):
        return "its weights are not all tensors"
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else "no detail")[:160]


def model_from_checkpoint(payload: dict[str, Any]) -> RecurrentMemory:
    """Rebuild the model a checkpoint describes; no flags and no hub needed."""
    if payload["config"].get("arch") == "armt" and payload.get("armt_rule") != ARMT_RULE:
        raise BabilongError(
            "this ARMT checkpoint was trained with the earlier memory rule (unnormalised keys, bf16 state, "
            "memory tokens writing at once), which this version no longer runs: train it again with 'babilong train --arch armt'"
        )
    try:
        backbone = backbone_from_config(_plain_config(payload["backbone"]))
        model = build_model(backbone, MemoryConfig(**payload["config"]))
        model.load_state_dict(payload["weights"])
    except BabilongError:
        raise
    except Exception as error:  # a config or weights that do not fit together
        raise BabilongError(
            f"the checkpoint does not describe a model this version can build ({type(error).__name__}: "
            f"{_first_line(error)}): write it again with 'babilong train'"
        ) from error
    return model.eval()


def _plain_config(values: dict[str, Any]) -> dict[str, Any]:
    """A saved HF config dict without the keys that only describe where it came from."""
    dropped = {"transformers_version", "architectures", "_name_or_path", "torch_dtype", "dtype"}
    return {k: v for k, v in values.items() if k not in dropped}
