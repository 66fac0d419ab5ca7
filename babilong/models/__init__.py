"""Model backends, chosen lm-eval style: ``--model NAME --model-args key=value,...``.

Each backend module exposes ``ARGS`` (the keys it accepts, with a one-line meaning) and
``load(args) -> Model``; modules are imported only when chosen, so heavy libraries load lazily.
"""

from __future__ import annotations

import importlib
import json
import math
from typing import Any

from babilong.errors import BabilongError
from babilong.models.base import (
    ContextStep,
    Generation,
    Model,
    Prompt,
    PromptModel,
    SampleModel,
)

__all__ = ["BACKENDS", "DEFAULT_MODEL", "ContextStep", "Generation", "Model", "Prompt", "PromptModel", "SampleModel",
           "load_model", "parse_model_args"]

BACKENDS = {
    "smollm2": "babilong.models.smollm2",
    "hf": "babilong.models.hf",
    "openai": "babilong.models.openai",
    "vllm": "babilong.models.vllm",
    "rmt": "babilong.models.rmt",
    "echo": "babilong.models.echo",
    "rag": "babilong.models.rag",
}
DEFAULT_MODEL = "smollm2"


def parse_model_args(text: str | None) -> dict[str, str]:
    """``"a=1,b=x"`` -> ``{"a": "1", "b": "x"}``; a malformed pair is a user error."""
    return parse_pairs(text, ",", "--model-args", "pretrained=PATH,batch_size=4")


def parse_pairs(text: str | None, separator: str, option: str, example: str) -> dict[str, str]:
    """``key=value`` pairs joined by ``separator``; ``option`` and ``example`` go into errors.

    A value in double quotes may hold the separator (``reply="a,b"``); the quotes are not part of it.
    """
    args: dict[str, str] = {}
    for part in _split_outside_quotes(text or "", separator, option):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BabilongError(f"bad {option} item {part.strip()!r}: write key=value pairs separated by {separator!r}, e.g. {example}")
        if key in args:
            raise BabilongError(f"{option} gives {key!r} twice: keep one")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        args[key] = value
    return args


def _split_outside_quotes(text: str, separator: str, option: str) -> list[str]:
    """``text`` cut at each ``separator`` that is not inside double quotes."""
    parts, current, quoted = [], [], False
    for character in text:
        if character == '"':
            quoted = not quoted
        if character == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    if quoted:
        raise BabilongError(f"{option} {text!r} opens a quote it does not close: write key=\"value, with commas\"")
    return [*parts, "".join(current)]


def load_model(name: str, args: dict[str, str]) -> Model:
    """The backend ``name`` built from its ``--model-args``."""
    if name not in BACKENDS:
        raise BabilongError(f"unknown model backend {name!r}: use one of {', '.join(BACKENDS)}")
    module = importlib.import_module(BACKENDS[name])
    unknown = sorted(key for key in args if not _known(key, module.ARGS))
    if unknown:
        known = ", ".join(f"{key} ({meaning})" for key, meaning in module.ARGS.items())
        raise BabilongError(f"--model {name} does not take {', '.join(unknown)}: it takes {known}")
    return module.load(args)


def _known(key: str, accepted: dict[str, str]) -> bool:
    """``key`` is accepted as is, or under an accepted ``PREFIX.*`` (``chat_template.enable_thinking``)."""
    prefix, dot, rest = key.partition(".")
    return key in accepted or bool(dot and rest and f"{prefix}.*" in accepted)


def prefixed_args(args: dict[str, str], prefix: str) -> dict[str, Any]:
    """The ``PREFIX.KEY=VALUE`` model args as ``{KEY: value}``; a value is read as JSON when it is
    JSON (``false``, ``1024``, ``"x"``, ``{"a": 1}``), else kept as text."""
    options: dict[str, Any] = {}
    for key, text in args.items():
        if key.startswith(prefix + "."):
            try:
                options[key[len(prefix) + 1:]] = json.loads(text)
            except ValueError:
                options[key[len(prefix) + 1:]] = text
    return options


def int_arg(args: dict[str, str], key: str, default: int | None, low: int = 1) -> int | None:
    """An integer model arg, checked."""
    return _number_arg(args, key, default, low, int, "a whole number")


def float_arg(args: dict[str, str], key: str, default: float, low: float = 0.0) -> float:
    """A number model arg, checked."""
    return _number_arg(args, key, default, low, float, "a number")


def _number_arg(args: dict[str, str], key: str, default, low, convert, kind: str):
    if key not in args:
        return default
    try:
        value = convert(args[key])
    except ValueError:
        raise BabilongError(f"--model-args {key}={args[key]!r} is not {kind}") from None
    if not math.isfinite(value):
        raise BabilongError(f"--model-args {key}={args[key]!r} is not a finite number: give {kind} of at least {low}")
    if value < low:
        raise BabilongError(f"--model-args {key}={value} must be at least {low}")
    return value
