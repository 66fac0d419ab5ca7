"""The small interface every backend implements, and the values that cross it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, Union, runtime_checkable

from babilong.sample import Sample

T = TypeVar("T")


@dataclass(frozen=True)
class Prompt:
    """What the harness asks: an optional system message and the user message.

    ``chat`` asks the backend to wrap it in the model's chat template when the model has one.
    """

    user: str
    system: str | None = None
    chat: bool = True

    def messages(self) -> list[dict[str, str]]:
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, {"role": "user", "content": self.user}]

    def plain_text(self) -> str:
        """The prompt without any chat template: system text as a first paragraph."""
        return f"{self.system}\n\n{self.user}" if self.system else self.user


@dataclass(frozen=True)
class Generation:
    """One answer (or the error that replaced it)."""

    output: str
    latency: float  # seconds spent on this request (a batch's time is shared out)
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None
    finish_reason: str | None = None  # why generation stopped: "stop", "length" (the token budget ran out), ...
    reasoning: str | None = None  # thinking a server sent apart from the answer (e.g. ``reasoning_content``)
    masked: bool = False  # the output had a secret (an API key) blotted out: it is not the raw text


@runtime_checkable
class PromptModel(Protocol):
    """A backend that answers prompts: renders and counts them, answers them greedily."""

    name: str
    context_window: int | None  # tokens of prompt + answer the model takes; None = unknown

    def settings(self) -> dict[str, Any]:
        """Everything that changes the answers (no secrets): part of the run's identity."""

    def render(self, prompt: Prompt) -> str:
        """The prompt exactly as the model will read it (chat template applied if used)."""

    def count_tokens(self, prompt: Prompt) -> int | None:
        """Prompt tokens under the model's own tokenizer and template; None if unknown."""

    def generate(self, prompts: Iterable[Prompt], max_new_tokens: int) -> Iterator[tuple[int, Generation]]:
        """Answer every prompt; yield ``(position, generation)`` as each completes.

        ``prompts`` is drawn lazily, no further ahead than the model has room for (its batch or
        its requests in flight): the caller builds the next prompt only when it is wanted.
        ``position`` counts prompts in the order they were drawn.
        """

    def close(self) -> None:
        """Release the model (servers' connections, GPU memory)."""


@runtime_checkable
class SampleModel(Protocol):
    """A backend that reads raw samples itself, with no prompt (recurrent-memory models)."""

    name: str
    context_window: int | None

    def settings(self) -> dict[str, Any]:
        """Everything that changes the answers: part of the run's identity."""

    def answer_samples(self, samples: Iterable[Sample], max_new_tokens: int) -> Iterator[tuple[int, Generation]]:
        """Answer every sample, drawn lazily as for ``PromptModel.generate``."""

    def close(self) -> None:
        """Release the model."""


@runtime_checkable
class ContextStep(Protocol):
    """A step before the prompt that chooses what context the model sees (retrieval)."""

    def rewrite_sample(self, sample: Sample) -> tuple[Sample, dict[str, Any] | None]:
        """The sample with its context replaced, and what to store about the choice."""


Model = Union[PromptModel, SampleModel]


def timed_share(total_seconds: float, count: int) -> float:
    """A batch's wall time shared out evenly over its items."""
    return total_seconds / max(count, 1)


def batches(items: Iterable[T], size: int) -> Iterator[tuple[int, list[T]]]:
    """``(position of the first, items)`` for consecutive groups of ``size``, drawn lazily."""
    iterator = iter(items)
    start = 0
    while batch := list(itertools.islice(iterator, size)):
        yield start, batch
        start += len(batch)
