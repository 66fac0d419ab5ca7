"""A transformers tokenizer with the model's chat template: prompts rendered and counted one way for every backend."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from babilong.errors import BabilongError
from babilong.models.base import Prompt


class ChatTokenizer:
    """Renders a prompt as the model reads it and counts its tokens.

    A chat prompt goes through the tokenizer's chat template (with ``options``, e.g.
    ``enable_thinking=False``) when it has one; anything else is the prompt's plain text.
    The last ``keep`` prompts' texts and token ids are remembered: the eval loop counts,
    stores and then sends each prompt, and at 1M tokens each tokenization takes seconds.
    """

    def __init__(self, tokenizer: Any, options: dict[str, Any] | None = None, keep: int = 1) -> None:
        self.tokenizer = tokenizer
        self.options = options or {}
        self.has_template = bool(getattr(tokenizer, "chat_template", None))
        self.keep = max(1, keep)
        self._recent: OrderedDict[Prompt, tuple[str, list[int] | None]] = OrderedDict()
        self._lock = threading.Lock()  # the openai client renders on its event-loop thread too

    def templated(self, prompt: Prompt) -> bool:
        return prompt.chat and self.has_template

    def render(self, prompt: Prompt) -> str:
        remembered = self._remembered(prompt)
        if remembered:
            return remembered[0]
        text = self._render(prompt)
        self._remember(prompt, text, None)
        return text

    def encode(self, prompt: Prompt) -> list[int]:
        text, ids = self._remembered(prompt) or (self._render(prompt), None)
        if ids is None:
            # A chat template writes its own special tokens; plain text gets the tokenizer's.
            ids = self.tokenizer(text, add_special_tokens=not self.templated(prompt))["input_ids"]
            self._remember(prompt, text, ids)
        return ids

    def count_tokens(self, prompt: Prompt) -> int:
        return len(self.encode(prompt))

    def _render(self, prompt: Prompt) -> str:
        if self.templated(prompt):
            return self.tokenizer.apply_chat_template(prompt.messages(), tokenize=False, add_generation_prompt=True,
                                                      **self.options)
        return prompt.plain_text()

    def _remembered(self, prompt: Prompt) -> tuple[str, list[int] | None] | None:
        with self._lock:
            return self._recent.get(prompt)

    def _remember(self, prompt: Prompt, text: str, ids: list[int] | None) -> None:
        with self._lock:
            self._recent[prompt] = (text, ids)
            self._recent.move_to_end(prompt)
            while len(self._recent) > self.keep:
                self._recent.popitem(last=False)


def load_tokenizer(name: str) -> Any:
    """A transformers tokenizer from a hub id or local folder; one line when it cannot be loaded."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=Path(name).exists())
    except (OSError, ValueError) as error:
        raise BabilongError(f"cannot load tokenizer {name!r}: {str(error).splitlines()[0] if str(error) else error}") from None
