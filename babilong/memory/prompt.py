"""How a question and its answer are laid out in the last segment (training and inference)."""

from __future__ import annotations

from typing import Protocol

END = "\n"  # the answer ends at the first newline; no tokenizer-specific end token needed


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


def question_ids(tokenizer: Tokenizer, question: str) -> list[int]:
    """The last segment before the answer: question, then the separator."""
    return tokenizer.encode(f"\nQuestion: {question.strip()}\nAnswer:")


def answer_ids(tokenizer: Tokenizer, target: str) -> list[int]:
    """The training target: the answer then the end marker."""
    return tokenizer.encode(f" {target.strip()}{END}")


def answer_choices(tokenizer: Tokenizer, labels: tuple[str, ...] | list[str]) -> list[list[int]] | None:
    """The token sequences a labelled model may answer with (None: any text)."""
    return [answer_ids(tokenizer, label) for label in labels] or None


def stop_ids(tokenizer: Tokenizer) -> set[int]:
    return set(tokenizer.encode(END))


def clean_answer(tokenizer: Tokenizer, ids: list[int]) -> str:
    """Generated ids -> the answer text before the end marker."""
    return tokenizer.decode(ids).split(END, 1)[0].strip()
