"""The leaderboard's own prompts: a published prediction folder's ``.json`` files as a prompt configuration.

Each ``{task}_{length}_{config}.json`` beside a predictions file holds the prompt parts
(``instruction``, ``examples``, ``post_prompt``, ``template``, optionally ``chat_template``)
and the generation settings (``generate_kwargs``) that produced it. The parts differ between
tasks and, in places, between lengths of one task, so they are kept per (task, length). The
text is assembled as the reference code does: the template filled with the parts, then the
whole stripped of surrounding whitespace.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from babilong.errors import BabilongError
from babilong.files import read_json_object
from babilong.models.base import Prompt
from babilong.sample import Sample

JSON_NAME = re.compile(r"(qa(?:[1-9]|1[0-9]|20))_([0-9.]+[kKmM]?)_(.+)\.json")
TEXT_PARTS = ("instruction", "examples", "post_prompt", "template")
_PLACEHOLDER = re.compile(r"\{(instruction|examples|post_prompt|context|question)\}")
_MAX_TOKEN_KEYS = ("max_new_tokens", "max_output_tokens", "max_tokens", "max_completion_tokens")
_GREEDY = {"num_beams": 1, "do_sample": False, "temperature": None, "top_p": None, "top_k": None}


@dataclass(frozen=True)
class PublishedPrompt:
    """The prompt parts and generation settings of one published prompt configuration, per ``task/length``."""

    source: str  # org/model of the published folder
    config: str  # the published configuration's name, e.g. instruction_yes_examples_yes_post_prompt_yes
    parts: dict[str, dict[str, str]] = field(default_factory=dict)  # "qa1/1k" -> instruction, examples, post_prompt, template
    generation: dict[str, dict[str, Any]] = field(default_factory=dict)  # "qa1/1k" -> generate_kwargs
    chat_template: bool = True
    system_prompt: str | None = None

    @property
    def name(self) -> str:
        """The published name, so an export of the run lands beside the published files it reproduces."""
        return self.config

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def restricted(self, tasks: list[str], lengths: list[str]) -> PublishedPrompt:
        """Only the (task, length) pairs a run uses: they, not the whole folder, are the run's identity."""
        keys = [f"{task}/{length}" for task in tasks for length in lengths]
        missing = [key for key in keys if key not in self.parts]
        if missing:
            have = ", ".join(sorted(self.parts, key=_key_order))
            raise BabilongError(f"the published prompt {self.source} [{self.config}] has no prompt for "
                                f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}: run the tasks and "
                                f"lengths it has ({have})")
        return replace(self, parts={key: self.parts[key] for key in keys},
                       generation={key: self.generation[key] for key in keys if key in self.generation})

    def build(self, sample: Sample) -> Prompt:
        parts = self.parts.get(f"{sample.task}/{sample.length}")
        if parts is None:
            raise BabilongError(f"the published prompt {self.source} [{self.config}] has no prompt for "
                                f"{sample.task} at {sample.length}")
        values = {**parts, "context": sample.input, "question": sample.question}
        text = _PLACEHOLDER.sub(lambda match: values[match.group(1)], parts["template"])  # one pass: braces in the context stay
        return Prompt(text.strip(), system=self.system_prompt, chat=self.chat_template)

    def max_new_tokens(self) -> int | None:
        """The answer budget the published run gave, when its settings say one (the same for all)."""
        found = {value for settings in self.generation.values() for key in _MAX_TOKEN_KEYS
                 if isinstance(value := settings.get(key), int) and not isinstance(value, bool)}
        return found.pop() if len(found) == 1 else None

    def notes(self) -> list[str]:
        """What of the published generation settings a greedy run of ours does not do, one line each."""
        differing: dict[str, Any] = {}
        for settings in self.generation.values():
            for key, value in settings.items():
                if key in _GREEDY and value != _GREEDY[key]:
                    differing[key] = value
        thinking = {json.dumps(value, sort_keys=True) for settings in self.generation.values()
                    for key, value in settings.items() if key in ("thinking_config", "thinking_level")}
        notes = []
        if differing:
            settings = ", ".join(f"{key}={value}" for key, value in sorted(differing.items()))
            notes.append(f"the published run decoded with {settings}; babilong decodes greedily, so answers may differ")
        if thinking:
            notes.append(f"the published run set its thinking ({', '.join(sorted(thinking))}): give the backend's "
                         "equivalent (e.g. --model-args reasoning_effort=... for openai; docs/evaluation.md)")
        return notes


def is_published_prompt(path: Path) -> bool:
    """A published folder (``{task}_{length}_{config}.json`` files) or one such JSON with ``prompt``."""
    if path.is_dir():
        return any(JSON_NAME.fullmatch(p.name) for p in path.glob("*.json"))
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        content = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(content, dict) and isinstance(content.get("prompt"), dict)


def load_published_prompt(path: Path) -> PublishedPrompt:
    """The prompt configuration of a published folder (it must hold one, or name it with a JSON file)."""
    folder, config = (path, None) if path.is_dir() else (path.parent, _config_of(path))
    by_config: dict[str, list[tuple[str, str, Path]]] = {}
    for file in sorted(folder.glob("*.json")):
        match = JSON_NAME.fullmatch(file.name)
        if match:
            by_config.setdefault(match.group(3), []).append((match.group(1), match.group(2), file))
    if config is None:
        if len(by_config) > 1:
            example = by_config[min(by_config)][0][2]
            raise BabilongError(f"{folder} holds {len(by_config)} prompt configurations ({', '.join(sorted(by_config))}): "
                                f"give one of its .json files as --prompt to choose, e.g. {example}")
        config = next(iter(by_config))
    if config not in by_config:  # a lone JSON, not named as a published file: its own task and length
        return _from_files(folder, config, [(*_task_length(path), path)])
    return _from_files(folder, config, by_config[config])


def _config_of(path: Path) -> str:
    match = JSON_NAME.fullmatch(path.name)
    return match.group(3) if match else path.stem


def _task_length(path: Path) -> tuple[str, str]:
    match = JSON_NAME.fullmatch(path.name)
    if not match:
        raise BabilongError(f"{path}: a published prompt file is named {{task}}_{{length}}_{{config}}.json "
                            "(e.g. qa1_1k_instruction_yes_examples_yes_post_prompt_yes.json); rename it so")
    return match.group(1), match.group(2)


def _from_files(folder: Path, config: str, files: list[tuple[str, str, Path]]) -> PublishedPrompt:
    parts, generation, chat = {}, {}, set()
    for task, length, file in files:
        content = _read(file)
        prompt = content["prompt"]
        parts[f"{task}/{length}"] = {name: prompt.get(name) or "" for name in TEXT_PARTS}
        generation[f"{task}/{length}"] = content.get("generate_kwargs") or {}
        if "chat_template" in prompt:
            chat.add(prompt["chat_template"])
    if len(chat) > 1:
        raise BabilongError(f"{folder} [{config}]: its files disagree on chat_template; give one of them as --prompt")
    return PublishedPrompt(f"{folder.parent.name}/{folder.name}", config, parts, generation,
                           chat_template=chat.pop() if chat else _chat_from_name(config))


def _read(file: Path) -> dict[str, Any]:
    """One published JSON, checked: a one-line error names the file and what is wrong."""
    content = read_json_object(file, "published prompt file")
    prompt = content.get("prompt")
    if not isinstance(prompt, dict):
        raise BabilongError(f"{file} has no \"prompt\" object: a published prompt file holds "
                            "{\"prompt\": {\"instruction\", \"examples\", \"post_prompt\", \"template\"}, \"generate_kwargs\": {...}}")
    for name in TEXT_PARTS:
        if prompt.get(name) is not None and not isinstance(prompt[name], str):
            raise BabilongError(f"{file}: prompt.{name} must be a text")
    if "chat_template" in prompt and not isinstance(prompt["chat_template"], bool):
        raise BabilongError(f"{file}: prompt.chat_template must be true or false")
    if not {"context", "question"} <= set(_PLACEHOLDER.findall(prompt.get("template") or "")):
        raise BabilongError(f"{file}: prompt.template must contain {{context}} and {{question}}")
    if not isinstance(content.get("generate_kwargs") or {}, dict):
        raise BabilongError(f"{file}: generate_kwargs must be an object")
    return content


def _chat_from_name(config: str) -> bool:
    """Whether the chat template was used, as the configuration's name says; on when it does not say."""
    return "chat_template_no" not in config


def _key_order(key: str) -> tuple[int, float]:
    from babilong.tables import length_order, task_order

    task, length = key.split("/")
    return task_order(task), length_order(length)
