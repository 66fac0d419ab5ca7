"""The small interface every backend implements, and the values that cross it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


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
    masked: bool = False  # the output had a secret (an API key) blotted out: it is not the raw text


class Model(Protocol):
    """A backend: renders and counts prompts, answers them greedily.

    Optional: ``rewrite_sample(sample) -> (sample, info)``, called before the prompt is built
    (retrieval models replace the context); ``info`` is stored in the record as ``retrieval``.
    """

    name: str
    context_window: int | None  # tokens of prompt + answer the model takes; None = unknown

    def settings(self) -> dict[str, Any]:
        """Everything that changes the answers (no secrets): part of the run's identity."""

    def render(self, prompt: Prompt) -> str:
        """The prompt exactly as the model will read it (chat template applied if used)."""

    def count_tokens(self, prompt: Prompt) -> int | None:
        """Prompt tokens under the model's own tokenizer and template; None if unknown."""

    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int) -> Iterator[tuple[int, Generation]]:
        """Answer every prompt; yield ``(position, generation)`` as each completes."""

    def close(self) -> None:
        """Release the model (servers' connections, GPU memory)."""


def timed_share(total_seconds: float, count: int) -> float:
    """A batch's wall time shared out evenly over its items."""
    return total_seconds / max(count, 1)
