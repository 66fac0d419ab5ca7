"""``echo``: an instant TEST backend, no model at all. Answers with the last word of the context.

It exists to test the harness and to measure its overhead; its scores mean nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

from babilong.models import float_arg, int_arg
from babilong.models.base import Generation, Prompt

ARGS = {
    "reply": "answer every prompt with this text instead of the context's last word",
    "context_window": "pretend context window in words (default: unlimited)",
    "delay": "seconds to wait before each answer, to test interruptions (default 0)",
}
_LAST_WORD = re.compile(r"(\w+)\W*</context>")


class EchoModel:
    """Instant answers; a prompt's 'tokens' are its spaces and line breaks plus one (about its words)."""

    name = "echo"

    def __init__(self, reply: str | None, context_window: int | None, delay: float = 0.0) -> None:
        self.reply = reply
        self.context_window = context_window
        self.delay = delay

    def settings(self) -> dict[str, Any]:
        return {"reply": self.reply, "context_window": self.context_window}

    def render(self, prompt: Prompt) -> str:
        return prompt.plain_text()

    def count_tokens(self, prompt: Prompt) -> int:
        text = self.render(prompt)
        return text.count(" ") + text.count("\n") + 1

    def generate(self, prompts: Iterable[Prompt], max_new_tokens: int) -> Iterator[tuple[int, Generation]]:
        for position, prompt in enumerate(prompts):
            start = time.perf_counter()
            if self.delay:
                time.sleep(self.delay)
            output = self.reply if self.reply is not None else self._last_word(prompt.user)
            yield position, Generation(output, time.perf_counter() - start, output_tokens=len(output.split()))

    @staticmethod
    def _last_word(text: str) -> str:
        end = text.rfind("</context>")
        match = _LAST_WORD.search(text, max(end - 100, 0)) if end >= 0 else None
        return match.group(1) if match else ""

    def close(self) -> None:
        pass


def load(args: dict[str, str]) -> EchoModel:
    return EchoModel(args.get("reply"), int_arg(args, "context_window", None), float_arg(args, "delay", 0.0))
