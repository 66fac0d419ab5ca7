"""``hf``: a transformers causal LM from a hub id or local folder, greedy decoding."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from babilong.errors import BabilongError
from babilong.models import int_arg, prefixed_args
from babilong.models.base import Generation, Prompt, batches, timed_share
from babilong.models.chat_tokenizer import ChatTokenizer

ARGS = {
    "pretrained": "hub id or local folder of the model (required)",
    "dtype": "float32 | bfloat16 | float16 | auto (default float32 on cpu, bfloat16 on cuda)",
    "device": "cpu | cuda | cuda:N | mps (default: cuda if available, else cpu)",
    "device_map": "auto | balanced | sequential: spread a model too big for one GPU over all of them (accelerate)",
    "batch_size": "prompts generated together (default 1)",
    "attn_implementation": "eager | sdpa | flash_attention_2 ... (default: transformers' choice)",
    "context_window": "override the model's context window in tokens",
    "trust_remote_code": "true to run code shipped with the model (default false)",
    "chat_template.*": "chat_template.KEY=VALUE: an option of the model's chat template, e.g. enable_thinking=false",
}
DTYPES = ("float32", "bfloat16", "float16", "auto")
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")
TRUE, FALSE = ("1", "true", "yes"), ("0", "false", "no")


class HFModel:
    """A loaded transformers model and tokenizer."""

    def __init__(self, name: str, pretrained: str, model: Any, tokenizer: Any, settings: dict[str, Any],
                 batch_size: int, context_window: int | None, template_options: dict[str, Any] | None = None) -> None:
        self.name = name
        self.pretrained = pretrained
        self.model = model
        self.tokenizer = tokenizer
        self._settings = settings
        self.batch_size = batch_size
        self.context_window = context_window
        self.chat = ChatTokenizer(tokenizer, template_options, keep=batch_size)  # a batch is counted, then encoded

    @classmethod
    def from_args(cls, args: dict[str, str], name: str = "hf") -> HFModel:
        pretrained = args.get("pretrained")
        if not pretrained:
            raise BabilongError("--model hf needs --model-args pretrained=HUB_ID_OR_FOLDER")
        if _looks_like_path(pretrained) and not Path(pretrained).expanduser().exists():
            raise BabilongError(f"model folder {pretrained} not found: check --model-args pretrained")
        check_args(args)
        dtype = args.get("dtype")
        batch_size = int_arg(args, "batch_size", 1)
        context_window = int_arg(args, "context_window", None)
        trust = args.get("trust_remote_code", "false").lower() in TRUE
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        device = args.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype or ("float32" if device == "cpu" else "bfloat16")
        extra = {"attn_implementation": args["attn_implementation"]} if "attn_implementation" in args else {}
        placement = {"device_map": args["device_map"]} if "device_map" in args else {}  # accelerate places the layers
        local = Path(pretrained).exists()
        try:
            tokenizer = AutoTokenizer.from_pretrained(pretrained, trust_remote_code=trust, local_files_only=local)
            model = AutoModelForCausalLM.from_pretrained(
                pretrained, dtype=dtype if dtype == "auto" else getattr(torch, dtype),
                trust_remote_code=trust, local_files_only=local, **extra, **placement)
        except (OSError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise BabilongError(f"cannot load model {pretrained!r}: {first}") from None
        if not placement:
            model.to(device)
        model.eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        window = context_window or _context_window(model.config)
        settings = {"pretrained": _identity(pretrained), "dtype": dtype, **extra}
        template_options = prefixed_args(args, "chat_template")
        if template_options:  # only when given: older runs keep their hash
            settings["chat_template_kwargs"] = template_options
        return cls(name, pretrained, model, tokenizer, settings, batch_size, window, template_options)

    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    def render(self, prompt: Prompt) -> str:
        return self.chat.render(prompt)

    def count_tokens(self, prompt: Prompt) -> int:
        return self.chat.count_tokens(prompt)

    def generate(self, prompts: Iterable[Prompt], max_new_tokens: int) -> Iterator[tuple[int, Generation]]:
        for start, group in batches(prompts, self.batch_size):
            batch = [self.chat.encode(p) for p in group]
            began = time.perf_counter()
            answers = self._generate_batch(batch, max_new_tokens)
            latency = timed_share(time.perf_counter() - began, len(batch))
            for offset, (ids, (answer, finish_reason)) in enumerate(zip(batch, answers)):
                text = self.tokenizer.decode(answer, skip_special_tokens=True)  # raw: the store keeps it and the stripped answer
                yield start + offset, Generation(text, latency, len(ids), len(answer), finish_reason=finish_reason)

    def _generate_batch(self, batch: list[list[int]], max_new_tokens: int) -> list[tuple[list[int], str]]:
        """Each prompt's new tokens (end and padding tokens left out), and ``stop`` or ``length``."""
        import torch

        padded = self.tokenizer.pad({"input_ids": batch}, return_tensors="pt").to(self.model.device)
        with torch.inference_mode():
            out = self.model.generate(**padded, max_new_tokens=max_new_tokens, do_sample=False,
                                      temperature=None, top_p=None, top_k=None,
                                      pad_token_id=self.tokenizer.pad_token_id)
        width = padded["input_ids"].shape[1]
        ends = self._end_tokens()
        eos = ends | {self.tokenizer.pad_token_id}
        answers = []
        for row in out:
            new = row[width:].tolist()
            stopped = any(t in ends for t in new) or len(new) < max_new_tokens
            answers.append(([t for t in new if t not in eos], "stop" if stopped else "length"))
        return answers

    def _end_tokens(self) -> set[int]:
        """Every token that ends an answer: the tokenizer's and the generation config's."""
        configured = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        configured = configured if isinstance(configured, list) else [configured]
        return {t for t in (self.tokenizer.eos_token_id, *configured) if t is not None}

    def close(self) -> None:
        self.model = None


def check_args(args: dict[str, str]) -> None:
    """Everything but ``pretrained`` checked before any model is loaded."""
    dtype = args.get("dtype")
    if dtype is not None and dtype not in DTYPES:
        raise BabilongError(f"--model-args dtype={dtype!r}: use one of {', '.join(DTYPES)}")
    int_arg(args, "batch_size", 1)
    int_arg(args, "context_window", None)
    trust = args.get("trust_remote_code", "false").lower()
    if trust not in TRUE + FALSE:
        raise BabilongError(f"--model-args trust_remote_code={trust!r}: use true or false")
    if "device" in args:
        check_device(args["device"])
    if args.get("device_map", "auto") not in DEVICE_MAPS:
        raise BabilongError(f"--model-args device_map={args['device_map']!r}: use one of {', '.join(DEVICE_MAPS)}")
    if "device" in args and "device_map" in args:
        raise BabilongError("--model-args device and device_map exclude each other: give one")


def check_device(device: str, key: str = "device") -> None:
    """A device name torch knows and this machine has (``key`` names the model arg in errors)."""
    match = re.fullmatch(r"(cpu|mps|cuda)(?::(\d+))?", device)
    if not match or (match.group(2) is not None and match.group(1) != "cuda"):
        raise BabilongError(f"--model-args {key}={device!r}: use cpu, cuda, cuda:N or mps")
    kind, index = match.group(1), int(match.group(2) or 0)
    if kind == "cpu":
        return
    import torch

    if kind == "mps" and not torch.backends.mps.is_available():
        raise BabilongError(f"--model-args {key}=mps: this machine has no MPS device; use {key}=cpu")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            if count:
                raise BabilongError(f"--model-args {key}={device}: this machine has only cuda:0..cuda:{count - 1}: use one of those or {key}=cpu")
            raise BabilongError(f"--model-args {key}={device}: this machine has no CUDA device: use {key}=cpu")


def _looks_like_path(name: str) -> bool:
    """A local path rather than a hub id (``org/name``): absolute, relative with dots, ``~``, or deeper."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1


def _context_window(config: Any) -> int | None:
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _identity(pretrained: str) -> str:
    """A hub id as given; a local folder by its name, so moving the folder keeps the run's hash."""
    path = Path(pretrained)
    return path.name if path.exists() else pretrained


def load(args: dict[str, str]) -> HFModel:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return HFModel.from_args(args)
