"""``openai``: any OpenAI-compatible server (chat or completions endpoint).

Requests run with bounded concurrency; 429, 5xx, timeouts, dropped connections and
malformed replies are retried with exponential backoff. The API key is sent in a header
and nowhere else: it is not part of ``settings()``, so it never reaches a run store,
manifest, report or configuration hash.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from babilong.errors import BabilongError
from babilong.models import float_arg, int_arg
from babilong.models.base import Generation, Prompt

ARGS = {
    "model": "model name the server expects (required)",
    "base_url": "server URL ending in /v1 (default $OPENAI_BASE_URL or https://api.openai.com/v1)",
    "api_key": "API key (default $OPENAI_API_KEY; never stored)",
    "mode": "chat | completions (default chat)",
    "concurrency": "requests in flight at once (default 4)",
    "timeout": "seconds per request (default 120)",
    "max_retries": "retries of a failed request (default 5)",
    "backoff": "first retry delay in seconds, doubled each time (default 1)",
    "tokenizer": "HF tokenizer id/folder to count prompt tokens (default: none, no length check)",
    "context_window": "the served model's context window in tokens (needs tokenizer)",
}
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
DEAD_AFTER = 3  # consecutive requests that could not reach the server before the run stops


class RetryableError(Exception):
    """A failure worth another try."""


class OpenAIModel:
    """A client for one model on one server."""

    name = "openai"

    def __init__(self, args: dict[str, str]) -> None:
        self.model = args.get("model") or ""
        if not self.model:
            raise BabilongError("--model openai needs --model-args model=NAME (the name the server serves)")
        self.base_url = (args.get("base_url") or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self._key = args.get("api_key") or os.environ.get("OPENAI_API_KEY") or ""
        self.mode = args.get("mode", "chat")
        if self.mode not in ("chat", "completions"):
            raise BabilongError(f"--model-args mode={self.mode!r}: use chat or completions")
        self.concurrency = int_arg(args, "concurrency", 4)
        self.timeout = float_arg(args, "timeout", 120.0, low=0.001)
        self.max_retries = int_arg(args, "max_retries", 5, low=0)
        self.backoff = float_arg(args, "backoff", 1.0)
        self.tokenizer_name = args.get("tokenizer")
        self.context_window = int_arg(args, "context_window", None)
        if self.context_window and not self.tokenizer_name:
            raise BabilongError("--model-args context_window needs tokenizer=... too, to count prompt tokens")
        self._tokenizer = _load_tokenizer(self.tokenizer_name) if self.tokenizer_name else None
        self._dead = 0
        self._lock = threading.Lock()
        import httpx

        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        limits = httpx.Limits(max_connections=self.concurrency)
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=self.timeout, limits=limits)
        self._check_reachable()

    def settings(self) -> dict[str, Any]:
        # The server address is left out: the same model served elsewhere continues the same run.
        return {"model": self.model, "mode": self.mode, "tokenizer": self.tokenizer_name}

    def render(self, prompt: Prompt) -> str:
        if prompt.chat and self._tokenizer is not None and getattr(self._tokenizer, "chat_template", None):
            return self._tokenizer.apply_chat_template(prompt.messages(), tokenize=False, add_generation_prompt=True)
        return prompt.plain_text()

    def count_tokens(self, prompt: Prompt) -> int | None:
        if self._tokenizer is None:
            return None
        templated = prompt.chat and bool(getattr(self._tokenizer, "chat_template", None))
        return len(self._tokenizer(self.render(prompt), add_special_tokens=not templated)["input_ids"])

    def generate(self, prompts: Sequence[Prompt], max_new_tokens: int) -> Iterator[tuple[int, Generation]]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            pending: dict[Future, int] = {}
            queue = iter(enumerate(prompts))
            try:
                for position, prompt in queue:
                    pending[pool.submit(self._answer, prompt, max_new_tokens)] = position
                    if len(pending) >= self.concurrency * 2:
                        yield from self._drain(pending)
                while pending:
                    yield from self._drain(pending)
            finally:
                for future in pending:
                    future.cancel()

    def _drain(self, pending: dict[Future, int]) -> Iterator[tuple[int, Generation]]:
        done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for future in done:
            yield pending.pop(future), future.result()
        if self._dead >= DEAD_AFTER:
            raise BabilongError(
                f"the server at {self.base_url} stopped answering ({self._dead} requests in a row failed to connect); "
                "results so far are saved: start the server again and rerun the same command to resume")

    def _answer(self, prompt: Prompt, max_new_tokens: int) -> Generation:
        began = time.perf_counter()
        error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                text, usage = self._request(prompt, max_new_tokens)
            except RetryableError as failure:
                error = self._clean(str(failure))
                continue
            except _Fatal as failure:
                return Generation("", time.perf_counter() - began, error=self._clean(str(failure)))
            with self._lock:
                self._dead = 0
            return Generation(text, time.perf_counter() - began, usage.get("prompt_tokens"), usage.get("completion_tokens"))
        if error.startswith("cannot connect"):
            with self._lock:
                self._dead += 1
        return Generation("", time.perf_counter() - began, error=f"gave up after {self.max_retries + 1} tries: {error}")

    def _request(self, prompt: Prompt, max_new_tokens: int) -> tuple[str, dict[str, Any]]:
        import httpx

        if self.mode == "chat":
            path, body = "/chat/completions", {"messages": prompt.messages()}
        else:
            path, body = "/completions", {"prompt": self.render(prompt)}
        body.update(model=self.model, max_tokens=max_new_tokens, temperature=0.0)
        try:
            reply = self._client.post(path, json=body)
        except httpx.TimeoutException:
            raise RetryableError(f"timed out after {self.timeout:g} s") from None
        except httpx.TransportError as failure:
            raise RetryableError(f"cannot connect to {self.base_url}: {type(failure).__name__}") from None
        if reply.status_code in RETRY_STATUS:
            raise RetryableError(f"HTTP {reply.status_code}: {reply.text[:200]}")
        if reply.status_code != 200:
            raise _Fatal(f"HTTP {reply.status_code}: {reply.text[:300]}")
        return self._parse(reply)

    def _parse(self, reply: Any) -> tuple[str, dict[str, Any]]:
        try:
            data = reply.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] if self.mode == "chat" else choice["text"]
            if not isinstance(text, str):
                raise TypeError("answer is not text")
        except (ValueError, KeyError, IndexError, TypeError) as failure:
            raise RetryableError(f"malformed reply ({type(failure).__name__}): {reply.text[:200]}") from None
        usage = data.get("usage") or {}
        return text.strip(), usage if isinstance(usage, dict) else {}

    def _check_reachable(self) -> None:
        import httpx

        try:
            self._client.get("/models", timeout=min(self.timeout, 10.0))
        except httpx.TransportError as failure:
            raise BabilongError(
                f"cannot reach the server at {self.base_url} ({type(failure).__name__}): start it or fix --model-args base_url") from None

    def _clean(self, text: str) -> str:
        """An error text with the key blotted out, in case a server echoes it."""
        return text.replace(self._key, "***") if self._key else text

    def close(self) -> None:
        self._client.close()


class _Fatal(Exception):
    """A failure another try will not fix (e.g. HTTP 400)."""


def _load_tokenizer(name: str) -> Any:
    from pathlib import Path

    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, local_files_only=Path(name).exists())
    except (OSError, ValueError) as error:
        raise BabilongError(f"cannot load tokenizer {name!r}: {str(error).splitlines()[0] if str(error) else error}") from None


def load(args: dict[str, str]) -> OpenAIModel:
    return OpenAIModel(args)
