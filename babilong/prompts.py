"""How a sample becomes a prompt: instruction, few-shot examples, post-prompt, context, question.

Every part can be switched off; a configuration's name spells its toggles the way the public
leaderboard names prediction files. Few-shot examples come from our own task generators with
fixed seeds, never from test samples.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from babilong.errors import BabilongError
from babilong.files import read_json_object
from babilong.models.base import Prompt
from babilong.rng import Rng
from babilong.sample import Sample
from babilong.tasks import all_tasks, get_task

if TYPE_CHECKING:
    from babilong.published_prompt import PublishedPrompt

PARTS = ("instruction", "examples", "post_prompt", "chat_template", "system_prompt")
DEFAULT_SYSTEM_PROMPT = "You are a careful reader who answers questions about a text exactly as asked."
EXAMPLE_COUNT = 2
EXAMPLE_MAX_FACTS = 10  # few-shot stories are kept short

_READ = (
    "Below is a long text. A handful of short factual sentences about people, objects and places "
    "are scattered through it; the rest is unrelated prose that you should ignore. "
    "Answer the question using only those facts."
)
_EXAMPLES_HEAD = "Here are worked examples:"


@dataclass(frozen=True)
class PromptConfig:
    """Which prompt parts are on, and the system prompt's text."""

    instruction: bool = True
    examples: bool = True
    post_prompt: bool = True
    chat_template: bool = True
    system_prompt: bool = True
    system_text: str = DEFAULT_SYSTEM_PROMPT

    @property
    def name(self) -> str:
        """``instruction_yes_examples_yes_post_prompt_yes_chat_template_yes_system_prompt_yes``."""
        return "_".join(f"{part}_{'yes' if getattr(self, part) else 'no'}" for part in PARTS)

    def fingerprint(self) -> str:
        """Changes whenever the toggles or any fixed wording of the prompts changes."""
        hints = {task: _hint(task) for task in all_tasks()}
        post_prompts = {task: post_prompt(task) for task in all_tasks()}
        texts = [_READ, hints, post_prompts, _EXAMPLES_HEAD, EXAMPLE_COUNT, EXAMPLE_MAX_FACTS, asdict(self)]
        return hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()[:16]


PROMPT_FILE_KEYS = ("instruction", "examples", "post_prompt", "template", "chat_template", "system_prompt")
_FIELDS = ("instruction", "examples", "post_prompt", "context", "question")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(_FIELDS) + r")\}")
_ANY_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")  # what reads as a field; other braces (JSON) are text


@dataclass(frozen=True)
class PromptFile:
    """A prompt written by the user: texts (one for all tasks, or per task) and a template.

    Text fields hold a string, or an object of task -> string with an optional ``"default"``;
    the template places ``{instruction}``, ``{examples}``, ``{post_prompt}``, ``{context}``
    and ``{question}``. Its whole content is part of the run's identity.
    """

    instruction: str | dict[str, str] | None = None
    examples: str | dict[str, str] | None = None
    post_prompt: str | dict[str, str] | None = None
    template: str | None = None
    chat_template: bool = True
    system_prompt: str | None = None

    @property
    def name(self) -> str:
        """``custom_`` and the content's hash: the leaderboard-style name of this prompt."""
        return f"custom_{self.fingerprint()[:8]}"

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def part(self, field_name: str, task: str) -> str:
        value = getattr(self, field_name)
        if isinstance(value, dict):
            value = value.get(task, value.get("default"))
        return value or ""

    def build(self, sample: Sample) -> Prompt:
        parts = {"instruction": self.part("instruction", sample.task), "examples": self.part("examples", sample.task),
                 "post_prompt": self.part("post_prompt", sample.task), "context": sample.input.strip(),
                 "question": sample.question.strip()}
        if self.template is None:
            head = [parts[name] for name in ("instruction", "examples", "post_prompt") if parts[name]]
            user = "\n\n".join([*head, f"<context>\n{parts['context']}\n</context>\n\nQuestion: {parts['question']}"])
        else:  # one pass: text inside the context is never read as a placeholder
            user = _PLACEHOLDER.sub(lambda match: parts[match.group(1)], self.template)
        return Prompt(user, system=self.system_prompt or None, chat=self.chat_template)


def load_prompt_file(path: Path) -> PromptFile:
    """A prompt file (JSON); every problem is one line naming the file and what to fix."""
    content = read_json_object(path, "prompt file")
    unknown = sorted(set(content) - set(PROMPT_FILE_KEYS))
    if unknown:
        raise BabilongError(f"prompt file {path}: unknown key {unknown[0]!r}; the keys are {', '.join(PROMPT_FILE_KEYS)}")
    for key in ("instruction", "examples", "post_prompt"):
        value = content.get(key)
        if not (value is None or isinstance(value, str) or
                isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
            raise BabilongError(f"prompt file {path}: {key!r} must be a text, or an object of task -> text (\"default\" for the rest)")
    for key in ("template", "system_prompt"):
        if content.get(key) is not None and not isinstance(content[key], str):
            raise BabilongError(f"prompt file {path}: {key!r} must be a text")
    if not isinstance(content.get("chat_template", True), bool):
        raise BabilongError(f"prompt file {path}: 'chat_template' must be true or false")
    template = content.get("template")
    unknown_fields = sorted(set(_ANY_FIELD.findall(template or "")) - set(_FIELDS))
    if unknown_fields:
        raise BabilongError(f"prompt file {path}: the template has an unknown field {{{unknown_fields[0]}}}; the fields are "
                            + ", ".join(f"{{{name}}}" for name in _FIELDS))
    if template is not None and not {"context", "question"} <= set(_PLACEHOLDER.findall(template)):
        raise BabilongError(f"prompt file {path}: the template must contain {{context}} and {{question}}")
    return PromptFile(**content)


def parse_prompt_config(name: str, system_text: str | None = None) -> PromptConfig | PromptFile | PublishedPrompt:
    """A config from a leaderboard-style name, ``full`` (all on), ``bare`` (all off), a prompt file,
    or a published prediction folder (or one of its ``.json`` files): the leaderboard's own prompts."""
    from babilong.published_prompt import is_published_prompt, load_published_prompt

    if is_published_prompt(Path(name).expanduser()):
        prompt = load_published_prompt(Path(name).expanduser())
        return dataclasses.replace(prompt, system_prompt=system_text) if system_text else prompt
    if name.endswith(".json") or Path(name).is_file():
        prompt = load_prompt_file(Path(name).expanduser())
        return dataclasses.replace(prompt, system_prompt=system_text) if system_text else prompt
    text = system_text or DEFAULT_SYSTEM_PROMPT
    if name in ("full", "default"):
        return PromptConfig(system_text=text)
    if name == "bare":
        return PromptConfig(*(False,) * len(PARTS), system_text=text)
    expected = " ".join(f"{part}_yes|no" for part in PARTS).replace(" ", "_")
    values: dict[str, bool] = {}
    rest = name
    for part in PARTS:
        for answer in ("yes", "no"):
            token = f"{part}_{answer}"
            if rest == token or rest.startswith(token + "_"):
                values[part] = answer == "yes"
                rest = rest[len(token) + 1:]
                break
        else:
            raise BabilongError(f"bad --prompt {name!r}: use full, bare, or a name like {expected}")
    if rest:
        raise BabilongError(f"bad --prompt {name!r}: unexpected {rest!r} at the end; the form is {expected}")
    return PromptConfig(**values, system_text=text)


def build_prompt(sample: Sample, config: PromptConfig | PromptFile | PublishedPrompt) -> Prompt:
    """The prompt for one sample: the parts switched on, then the context, the question last."""
    if not isinstance(config, PromptConfig):
        return config.build(sample)
    parts = []
    if config.instruction:
        parts.append(instruction(sample.task))
    if config.examples:
        parts.append(examples_block(sample.task))
    if config.post_prompt:
        parts.append(post_prompt(sample.task))
    parts.append(f"<context>\n{sample.input.strip()}\n</context>\n\nQuestion: {sample.question.strip()}")
    system = config.system_text if config.system_prompt else None
    return Prompt("\n\n".join(parts), system=system, chat=config.chat_template)


def instruction(task: str) -> str:
    return _READ + _hint(task)


def _hint(task: str) -> str:
    """The task's hint (from its module in babilong/tasks) as it follows the general instruction."""
    hint = get_task(task).hint
    return f" {hint}" if hint else ""


def post_prompt(task: str) -> str:
    return get_task(task).answer_format


@cache
def examples_block(task: str) -> str:
    """Short solved stories from our generator (seeds ``("fewshot", task, i)``)."""
    shown = "\n\n".join(
        f"<example>\n<context>\n{' '.join(story.facts)}\n</context>\n\nQuestion: {story.question}\nAnswer: {story.answer}\n</example>"
        for story in few_shot_stories(task)
    )
    return f"{_EXAMPLES_HEAD}\n\n{shown}"


def few_shot_stories(task: str) -> list:
    """The first ``EXAMPLE_COUNT`` generated stories with at most ``EXAMPLE_MAX_FACTS`` facts."""
    from babilong.tasks import get_task

    generator = get_task(task)
    chosen, fallback = [], []
    for i in range(200):
        story = generator.generate(Rng("fewshot", task, i))
        (chosen if len(story.facts) <= EXAMPLE_MAX_FACTS else fallback).append(story)
        if len(chosen) == EXAMPLE_COUNT:
            return chosen
    return (chosen + sorted(fallback, key=lambda s: len(s.facts)))[:EXAMPLE_COUNT]
