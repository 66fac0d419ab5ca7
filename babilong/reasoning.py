"""Thinking models: where the thinking ends and the answer begins, and whether an answer came at all.

A reasoning model thinks before it answers: inline, as ``<think>…</think>`` before the answer
(Qwen3, DeepSeek-R1 distills through ``hf``, ``vllm`` or a server without a reasoning parser;
a chat template may open the block itself, so the output holds only its end), or in a field
of its own (a server's ``reasoning_content``). Scorers read the final answer only. An output
that the token budget cut before any answer is ``cut``: not a wrong answer, a sample the run
could not score.
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
CUT_REASONS = ("length", "max_tokens")  # what servers and engines call a budget that ran out


@dataclass(frozen=True)
class Reply:
    """One output split: the final answer (raw, '' when none) and the thinking (None when none)."""

    answer: str
    thinking: str | None


def prompt_opens_thinking(rendered_prompt: str) -> bool:
    """Whether a chat template left a ``<think>`` open at the end of the prompt (the output continues it)."""
    tail = rendered_prompt[-2000:]
    return tail.rfind(THINK_OPEN) > tail.rfind(THINK_CLOSE)


def split_reply(output: str, reasoning: str | None = None, opened: bool = False) -> Reply:
    """The thinking and the final answer of one output.

    ``reasoning`` is thinking a server sent in a field of its own; ``opened`` says the prompt
    opened the thinking block, so an output without ``</think>`` is thinking only.
    """
    inline, answer = _split_inline(output, opened)
    parts = [part for part in (reasoning, inline) if part is not None]
    return Reply(answer, "\n".join(parts) if parts else None)


def _split_inline(output: str, opened: bool) -> tuple[str | None, str]:
    end = output.rfind(THINK_CLOSE)
    if end >= 0:
        return output[:end].lstrip().removeprefix(THINK_OPEN), output[end + len(THINK_CLOSE):]
    if opened or output.lstrip().startswith(THINK_OPEN):
        return output.lstrip().removeprefix(THINK_OPEN), ""  # still thinking when the output ended
    return None, output


def reply_status(answer: str, finish_reason: str | None) -> str:
    """``cut`` when the token budget ran out before any answer was given, else ``ok``."""
    return "cut" if finish_reason in CUT_REASONS and not answer.strip() else "ok"
