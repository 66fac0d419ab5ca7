"""How a sample becomes a prompt: instruction, few-shot examples, post-prompt, context, question.

Every part can be switched off; a configuration's name spells its toggles the way the public
leaderboard names prediction files. Few-shot examples come from our own task generators with
fixed seeds, never from test samples.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import cache

from babilong.errors import BabilongError
from babilong.models.base import Prompt
from babilong.rng import Rng
from babilong.sample import Sample
from babilong.tasks import all_tasks, get_task

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


def parse_prompt_config(name: str, system_text: str | None = None) -> PromptConfig:
    """A config from a leaderboard-style name, ``full`` (all on) or ``bare`` (all off)."""
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


def build_prompt(sample: Sample, config: PromptConfig) -> Prompt:
    """The prompt for one sample: the parts switched on, then the context, the question last."""
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
