"""``openai``: any OpenAI-compatible server (chat or completions endpoint).

Requests run with bounded concurrency on one asyncio loop in a thread of its own, so answers
arrive while the caller builds the next prompts. Each attempt has a total deadline
(``timeout`` covers connecting, sending and the whole answer, so a server that drips one byte
at a time cannot hold a request longer). 429, 5xx, timeouts, dropped connections and malformed
replies are retried by ``tenacity`` with exponential backoff plus jitter; a ``Retry-After``
header is honoured and pauses every request. After ``max_failures`` requests in a row fail
(each after its retries), or when no request is answered for ``idle_timeout`` seconds while requests
are in flight, the run stops with :class:`ServerUnavailable`; those failed samples are not recorded,
so rerunning the same command retries them.

Reasoning models: unless ``budget_field=`` and ``temperature=`` are given, one small request at
start learns how this server wants a request written (``max_completion_tokens`` where
``max_tokens`` is refused with a 400; no temperature where only the default is allowed), and
``settings()`` says what was learned. Thinking sent apart (``reasoning_content``) is returned
beside the answer, and ``finish_reason`` says whether the token budget ran out.

The API key is sent in a header and nowhere else: it is not part of ``settings()``, so it never
reaches a run store, manifest, report or configuration hash, and error texts that a server
writes are scrubbed of it before they are shortened and stored. Answers are scrubbed too (a model
may repeat a key it was shown); a record whose output lost a key says so (``output_masked``).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import queue
import random
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple
from urllib.parse import quote

from babilong.errors import BabilongError, ServerUnavailable
from babilong.models import float_arg, int_arg, prefixed_args
from babilong.models.base import Generation, Prompt
from babilong.models.chat_tokenizer import ChatTokenizer, load_tokenizer
from babilong.models.fleet import AllResting, Fleet, Server

ARGS = {
    "model": "model name the server expects (required)",
    "base_url": "server URL ending in /v1 (default $OPENAI_BASE_URL or https://api.openai.com/v1); several servers of one "
                "model as a quoted list, base_url=\"http://a:8000/v1,http://b:8000/v1\": requests go to the least loaded",
    "api_key": "API key (default $OPENAI_API_KEY; never stored)",
    "mode": "chat | completions (default chat)",
    "concurrency": "requests in flight at once on each server (default 4), or one number per server (quoted list)",
    "timeout": "seconds one try of a short prompt may take in all, the whole answer included (default 120)",
    "timeout_per_mtok": "seconds added to timeout per million prompt tokens, estimated at 4 characters a token (default 600)",
    "rest": "seconds a failing server of several is left alone before it is tried again, doubling while it fails (default 30)",
    "max_retries": "retries of a failed request (default 5)",
    "backoff": "first retry delay in seconds, doubled each time, plus up to as much again at random (default 1)",
    "max_wait": "longest wait before a retry, Retry-After included (default 60)",
    "max_failures": "requests failing in a row (after their retries) that stop the run (default 3)",
    "idle_timeout": "seconds without any answer from the server, while requests are in flight, that stop the run (default 240)",
    "tokenizer": "HF tokenizer id/folder to count prompt tokens (default: none, no length check)",
    "context_window": "the served model's context window in tokens (needs tokenizer)",
    "budget_field": "max_tokens | max_completion_tokens: the field carrying --max-new-tokens (default: learned at start)",
    "temperature": "0 | default: send temperature 0, or leave it to the server (default: learned at start)",
    "reasoning_effort": "sent as is to a reasoning model, e.g. minimal | low | medium | high",
    "chat_template.*": "chat_template.KEY=VALUE: options for the server's chat template (e.g. enable_thinking=false)",
    "body.*": "body.KEY=VALUE: any other request field the server takes (e.g. a thinking budget)",
}
BUDGET_FIELDS = ("max_tokens", "max_completion_tokens")
TEMPERATURES = ("0", "default")
PROBE_BUDGET = 8  # tokens of the one small request that learns what the server accepts
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
ERROR_CHARS = 200  # how much of a server's error text is kept
SHORTEST_SECRET = 16  # keys shorter than this are no secrets worth hunting in pieces
KEY_PIECE = 8  # of a longer key, any this many characters in a row are blotted out, in any letter case
# The reachability probe's patience is its own: a short per-request timeout (a few seconds for
# tiny prompts) must not call a live server on a busy machine unreachable.
REACH_SECONDS = 10.0


class RetryableError(Exception):
    """A failure worth another try; ``retry_after`` is the wait the server asked for, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Fatal(Exception):
    """A failure another try will not fix (e.g. HTTP 400); ``detail`` is the server's whole text."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class _Reply(NamedTuple):
    """What one answer holds: the answer text, token usage, thinking sent apart, why it stopped."""

    text: str
    usage: dict[str, Any]
    reasoning: str | None
    finish_reason: str | None
    masked: bool = False  # the key was blotted out of the text


class OpenAIModel:
    """A client for one model on one server, or on several servers of it (``babilong.models.fleet``)."""

    name = "openai"

    def __init__(self, args: dict[str, str]) -> None:
        self.model = args.get("model") or ""
        if not self.model:
            raise BabilongError("--model openai needs --model-args model=NAME (the name the server serves)")
        self.base_urls = _urls(args.get("base_url") or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1")
        self.base_url = ", ".join(self.base_urls)
        self._key = args.get("api_key") or os.environ.get("OPENAI_API_KEY") or ""
        if self._key and not (self._key.isascii() and self._key.isprintable()):
            raise BabilongError("the API key holds characters an HTTP header cannot carry: check --model-args api_key or $OPENAI_API_KEY")
        self._key_forms = key_forms(self._key)
        self._hunted = len(self._key) >= SHORTEST_SECRET  # answers are searched for a key of this length only
        self.mode = args.get("mode", "chat")
        if self.mode not in ("chat", "completions"):
            raise BabilongError(f"--model-args mode={self.mode!r}: use chat or completions")
        self.concurrencies = _per_server(args.get("concurrency", "4"), len(self.base_urls))
        self.concurrency = sum(self.concurrencies)
        self.timeout = float_arg(args, "timeout", 120.0, low=0.001)
        self.timeout_per_mtok = float_arg(args, "timeout_per_mtok", 600.0)
        self.rest = float_arg(args, "rest", 30.0)
        self._longest = 0.0  # the most time a prompt's size adds to its deadline: added to the idle deadline too
        self.max_retries = int_arg(args, "max_retries", 5, low=0)
        self.backoff = float_arg(args, "backoff", 1.0)
        self.max_wait = float_arg(args, "max_wait", 60.0)
        self.max_failures = int_arg(args, "max_failures", 3)
        self.idle_timeout = float_arg(args, "idle_timeout", 240.0, low=0.001)
        self._last_answer = 0.0  # time.monotonic() of the last answer, or of the start of generate()
        self.tokenizer_name = args.get("tokenizer")
        self.context_window = int_arg(args, "context_window", None)
        if self.context_window and not self.tokenizer_name:
            raise BabilongError("--model-args context_window needs tokenizer=... too, to count prompt tokens")
        self._read_request_args(args)
        # Without a tokenizer prompts are sent as plain text and not counted (no length check).
        self.chat = ChatTokenizer(load_tokenizer(self.tokenizer_name), self.template_options) if self.tokenizer_name else None
        self._failures = 0  # requests failed in a row, server side
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="babilong-openai", daemon=True)
        self._thread.start()
        weakref.finalize(self, _stop_loop, self._loop)  # a client dropped without close() leaves no thread behind
        try:
            self._fleet = self._call(self._open())
            self._call(self._check_reachable())
            if self._learn:
                self._call(self._learn_request_form())
        except BaseException:
            self.close()
            raise

    def _call(self, coroutine: Any) -> Any:
        """Run a coroutine on the client's event-loop thread and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _open(self) -> Fleet:
        import httpx

        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        servers = [Server(url, slots, httpx.AsyncClient(base_url=url, headers=headers, timeout=None,
                                                        limits=httpx.Limits(max_connections=slots)))
                   for url, slots in zip(self.base_urls, self.concurrencies)]
        return Fleet(servers, self.max_failures, self.rest)

    def _read_request_args(self, args: dict[str, str]) -> None:
        """How requests are written: the budget's field, the temperature, and fields passed through."""
        self.budget_field = args.get("budget_field", "max_tokens")
        if self.budget_field not in BUDGET_FIELDS:
            raise BabilongError(f"--model-args budget_field={self.budget_field!r}: use {' or '.join(BUDGET_FIELDS)}")
        temperature = args.get("temperature", "0")
        if temperature not in TEMPERATURES:
            raise BabilongError(f"--model-args temperature={temperature!r}: use 0 (greedy) or default (the server's own)")
        self.send_temperature = temperature == "0"
        self._learn = {name for name in ("budget_field", "temperature") if name not in args}
        self.reasoning_effort = args.get("reasoning_effort") or None
        self.template_options = prefixed_args(args, "chat_template")
        self.extra_fields = prefixed_args(args, "body")
        taken = sorted(set(self.extra_fields) & {"model", "messages", "prompt", "stream", *BUDGET_FIELDS, "temperature"})
        if taken:
            raise BabilongError(f"--model-args body.{taken[0]} is set by babilong itself: leave it out")

    def settings(self) -> dict[str, Any]:
        # The server address is left out: the same model served elsewhere continues the same run.
        # Request fields appear only when they differ from the defaults, so older runs keep their hash.
        settings: dict[str, Any] = {"model": self.model, "mode": self.mode, "tokenizer": self.tokenizer_name}
        if self.budget_field != "max_tokens":
            settings["budget_field"] = self.budget_field
        if not self.send_temperature:
            settings["temperature"] = "server default"
        optional = {"reasoning_effort": self.reasoning_effort, "chat_template_kwargs": self.template_options,
                    "extra_fields": self.extra_fields}
        settings.update({key: value for key, value in optional.items() if value})
        return settings

    def render(self, prompt: Prompt) -> str:
        return self.chat.render(prompt) if self.chat else prompt.plain_text()

    def count_tokens(self, prompt: Prompt) -> int | None:
        return self.chat.count_tokens(prompt) if self.chat else None

    # ---- answering ----------------------------------------------------------------------------

    def generate(self, prompts: Iterable[Prompt], max_new_tokens: int) -> Iterator[tuple[int, Generation]]:
        """Answers as they complete, ``concurrency`` requests in flight all along.

        The next prompt is drawn the moment a request finishes (a few are drawn ahead, waiting
        for a slot, so building them overlaps the requests), never in chunks that wait for their
        slowest answer. Requests run on the client's own event-loop thread, so answers keep
        arriving while the caller builds the next sample. Server failures are held back until
        the server answers again; if it does not (``max_failures`` in a row),
        :class:`ServerUnavailable` stops the run.
        """
        finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
        flying: dict[Future, int] = {}
        held: list[tuple[int, Generation]] = []
        drawn = enumerate(prompts)
        window = self.concurrency + max(1, self.concurrency // 4)
        more = True
        try:
            while True:
                while more and len(flying) < window:
                    item = next(drawn, None)
                    if item is None:
                        more = False
                        break
                    if not flying:
                        self._last_answer = time.monotonic()  # the idle clock runs only while requests are in flight
                    self._send(item, max_new_tokens, flying, finished)
                if not flying:
                    break
                done = self._next_finished(finished)
                position = flying.pop(done)
                yield from self._settle(position, done.result(), held)
            yield from held
        finally:
            self._cancel(flying)

    def _send(self, item: tuple[int, Prompt], max_new_tokens: int, flying: dict[Future, int],
              finished: queue.SimpleQueue) -> None:
        position, prompt = item
        self._longest = max(self._longest, self.deadline(prompt) - self.timeout)
        future = asyncio.run_coroutine_threadsafe(self._answer(prompt, max_new_tokens), self._loop)
        flying[future] = position
        future.add_done_callback(finished.put)

    def _settle(self, position: int, outcome: tuple[Generation, bool],
                held: list[tuple[int, Generation]]) -> Iterator[tuple[int, Generation]]:
        generation, server_failed = outcome
        if not server_failed:
            self._last_answer = time.monotonic()
            self._failures = 0
            yield from held
            held.clear()
            yield position, generation
            return
        self._failures += 1
        held.append((position, generation))
        if self._failures >= self.max_failures:
            raise ServerUnavailable(
                f"{self._fleet.describe()} stopped answering ({self._failures} requests in a row failed, "
                f"last: {generation.error}): results so far are saved; once the server is back, "
                "rerun the same command to resume")

    def _next_finished(self, finished: queue.SimpleQueue) -> Future:
        """The next request to finish; a server silent for ``idle_timeout`` seconds stops the run."""
        idle = self.idle_timeout + self._longest  # a 1M-token prompt may be read for minutes before any answer
        idle_left = self._last_answer + idle - time.monotonic()
        try:
            return finished.get(timeout=max(idle_left, 0.0))
        except queue.Empty:  # a hung server stops the run long before every retry of every request times out
            raise ServerUnavailable(
                f"{self._fleet.describe()} stopped answering (no answer to any request for {idle:g} s, "
                "--model-args idle_timeout): results so far are saved; once the server is back, rerun the same "
                "command to resume") from None

    def _cancel(self, flying: dict[Future, int]) -> None:
        """Stop the requests still in flight and wait until each has let go of its connection."""
        for future in flying:
            future.cancel()
        if flying and self._thread.is_alive():
            concurrent.futures.wait(list(flying), timeout=10)

    async def _answer(self, prompt: Prompt, max_new_tokens: int) -> tuple[Generation, bool]:
        """One prompt's answer, and whether it failed because of the server (timeouts, 5xx, no connection)."""
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

        began = time.perf_counter()
        retrying = AsyncRetrying(stop=stop_after_attempt(self.max_retries + 1), wait=self._retry_wait,
                                 retry=retry_if_exception_type(RetryableError), reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    reply = await self._request(prompt, max_new_tokens)
        except RetryableError as failure:
            tries = retrying.statistics.get("attempt_number", self.max_retries + 1)
            return Generation("", time.perf_counter() - began, error=f"gave up after {tries} tries: {failure}"), True
        except _Fatal as failure:
            return Generation("", time.perf_counter() - began, error=str(failure)), False
        usage = reply.usage
        return Generation(reply.text, time.perf_counter() - began, usage.get("prompt_tokens"), usage.get("completion_tokens"),
                          finish_reason=reply.finish_reason, reasoning=reply.reasoning, masked=reply.masked), False

    def _retry_wait(self, state: Any) -> float:
        """Seconds before the next try: the server's Retry-After, else exponential backoff plus jitter."""
        failure = state.outcome.exception() if state.outcome else None
        asked = getattr(failure, "retry_after", None)
        if asked is not None:
            return min(asked, self.max_wait)
        exponential = self.backoff * 2 ** (state.attempt_number - 1)
        return min(exponential + random.uniform(0, exponential), self.max_wait)

    def _body(self, prompt: Prompt, max_new_tokens: int) -> tuple[str, dict[str, Any]]:
        """The endpoint and request body, written as this server takes them."""
        if self.mode == "chat":
            path, body = "/chat/completions", {"messages": prompt.messages()}
            if self.template_options:
                body["chat_template_kwargs"] = dict(self.template_options)
        else:
            path, body = "/completions", {"prompt": self.render(prompt)}
        body.update(self.extra_fields)
        body.update({"model": self.model, self.budget_field: max_new_tokens})
        if self.send_temperature:
            body["temperature"] = 0.0
        if self.reasoning_effort:
            body["reasoning_effort"] = self.reasoning_effort
        return path, body

    def deadline(self, prompt: Prompt) -> float:
        """Seconds one try of this prompt may take: a 1M-token prompt is not answered in the time that suits 1k."""
        characters = len(prompt.user) + len(prompt.system or "")
        return self.timeout + characters / 4 / 1e6 * self.timeout_per_mtok

    async def _request(self, prompt: Prompt, max_new_tokens: int) -> _Reply:
        """One try on one server of the fleet; how it went counts toward that server's health."""
        path, body = self._body(prompt, max_new_tokens)
        try:
            server = await self._fleet.take()
        except AllResting as resting:
            raise RetryableError(str(resting), resting.retry_after) from None
        failed: bool | None = True  # until the server answers: no connection and timeouts count against it
        try:
            reply = await self._post(server, path, body, self.deadline(prompt))
            failed = None if reply.status_code == 429 else reply.status_code >= 500  # busy is not broken
            parsed = self._reply(server, reply)
            failed = False
            return parsed
        except RetryableError:
            failed = True if failed is False else failed  # a 200 that could not be read
            raise
        finally:
            await self._fleet.give_back(server, failed)

    async def _post(self, server: Server, path: str, body: dict[str, Any], deadline: float) -> Any:
        import httpx

        pause = server.paused_until - self._loop.time()
        if pause > 0:
            await asyncio.sleep(pause)
        try:
            return await asyncio.wait_for(server.client.post(path, json=body), deadline)
        except (asyncio.TimeoutError, httpx.TimeoutException):
            raise RetryableError(f"{server.url}: no complete answer within {deadline:.3g} s") from None
        except httpx.TransportError as failure:
            raise RetryableError(f"cannot connect to {server.url}: {type(failure).__name__}") from None

    def _reply(self, server: Server, reply: Any) -> _Reply:
        """The parsed answer, or the failure a status code means (a retry for 429 and 5xx)."""
        if reply.status_code in RETRY_STATUS:
            retry_after = _retry_after(reply.headers.get("Retry-After"))
            if retry_after is not None:
                server.paused_until = max(server.paused_until, self._loop.time() + min(retry_after, self.max_wait))
            raise RetryableError(f"HTTP {reply.status_code}: {self._excerpt(reply.text)}", retry_after)
        if reply.status_code != 200:
            raise _Fatal(f"HTTP {reply.status_code}: {self._excerpt(reply.text)}", reply.text)
        return self._parse(reply)

    def _parse(self, reply: Any) -> _Reply:
        """The answer (the key blotted out), its thinking when sent in a field of its own, and why generation stopped."""
        try:
            data = reply.json()
            choice = data["choices"][0]
            message = choice["message"] if self.mode == "chat" else choice
            text = message["content"] if self.mode == "chat" else message["text"]
            reasoning = _reasoning_of(message)
            finish_reason = choice.get("finish_reason")
            if text is None and (reasoning is not None or finish_reason is not None):
                text = ""  # a reasoning model cut while thinking, or thinking only: a reply without an answer
            if not isinstance(text, str):
                raise TypeError("answer is not text")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as failure:
            raise RetryableError(f"malformed reply ({type(failure).__name__}): {self._excerpt(reply.text)}") from None
        usage = data.get("usage") or {}
        finish_reason = finish_reason if isinstance(finish_reason, str) else None
        masked = mask_secret(text, self._key_forms) if self._hunted else text  # a model may repeat the key too
        # raw (but for the key): the store keeps the final answer apart, stripped, as 'answer'
        return _Reply(masked, usage if isinstance(usage, dict) else {}, reasoning, finish_reason, masked != text)

    async def _learn_request_form(self) -> None:
        """One small request learns what this server accepts: a 400 that names ``max_tokens`` moves
        the budget to ``max_completion_tokens``, one that names ``temperature`` leaves it to the
        server. What is learned is in ``settings()``, so the run's identity says what was sent."""
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

        probe = Prompt("Reply with one word: ready.")
        for _ in range(len(BUDGET_FIELDS) + len(TEMPERATURES)):
            try:
                async for attempt in AsyncRetrying(stop=stop_after_attempt(self.max_retries + 1), wait=self._retry_wait,
                                                   retry=retry_if_exception_type(RetryableError), reraise=True):
                    with attempt:
                        await self._request(probe, PROBE_BUDGET)
                return
            except RetryableError as failure:
                raise ServerUnavailable(f"{self._fleet.describe()} stopped answering (a first small request, which "
                                        f"learns what it accepts, failed: {failure}): once the server is back, rerun "
                                        "the same command") from None
            except _Fatal as refusal:
                if not self._adapt(refusal.detail.lower()):
                    raise BabilongError(f"{self._fleet.describe()} refuses a small request for model {self.model!r} "
                                        f"({refusal}): check --model-args model=, budget_field= and temperature=") from None

    def _adapt(self, refusal: str) -> bool:
        """Change what the server refused, if it is ours to learn; whether anything changed."""
        if "budget_field" in self._learn and self.budget_field == "max_tokens" and "max_tokens" in refusal:
            self.budget_field = "max_completion_tokens"
            return True
        if "temperature" in self._learn and self.send_temperature and "temperature" in refusal:
            self.send_temperature = False
            return True
        return False

    async def _check_reachable(self) -> None:
        """Every server is asked for its models; unreachable ones rest, and none reachable is an error."""
        import httpx

        async def unreachable_because(server: Server) -> str | None:
            try:
                await asyncio.wait_for(server.client.get("/models"), REACH_SECONDS)
            except (asyncio.TimeoutError, httpx.TransportError) as failure:
                timed_out = isinstance(failure, (asyncio.TimeoutError, httpx.TimeoutException))
                return "no answer" if timed_out else type(failure).__name__
            return None

        # all servers at once: one frozen server costs the probe's patience once, not once each
        answers = await asyncio.gather(*map(unreachable_because, self._fleet.servers))
        reasons = {}
        for server, reason in zip(self._fleet.servers, answers):
            if reason is not None:
                reasons[server.url] = reason
                self._fleet.rest_now(server)
        if len(reasons) == len(self._fleet.servers):
            where = ", ".join(f"{url} ({reason})" for url, reason in reasons.items())
            raise BabilongError(f"cannot reach the server at {where}: start it or fix --model-args base_url")
        for url, reason in reasons.items():
            print(f"babilong: warning: cannot reach {url} ({reason}): its share goes to the other servers "
                  f"until it answers (tried again after {self.rest:g} s)", file=sys.stderr)

    def _excerpt(self, text: str) -> str:
        """A server's text, key blotted out first, then shortened to ``ERROR_CHARS``."""
        return mask_secret(text, self._key_forms, ERROR_CHARS)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        fleet = getattr(self, "_fleet", None)
        if fleet is not None and self._thread.is_alive():
            for server in fleet.servers:
                self._call(server.client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def _reasoning_of(message: dict[str, Any]) -> str | None:
    """A server's thinking sent apart from the answer (``reasoning_content``, or ``reasoning``)."""
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str):
            return value
    return None


def key_forms(key: str) -> list[str]:
    """The ways a server may repeat a key: as sent, URL-encoded, JSON-escaped, base64 (longest first)."""
    if not key:
        return []
    forms = {key, quote(key, safe=""), json.dumps(key)[1:-1], base64.b64encode(key.encode()).decode().rstrip("=")}
    return sorted(forms, key=len, reverse=True)


def mask_secret(text: str, forms: list[str], limit: int | None = None) -> str:
    """``text`` without the secret, then cut to ``limit`` characters (masked first, cut after).

    Of a key of ``SHORTEST_SECRET``+ characters, any ``KEY_PIECE`` characters in a row of any of
    its forms are blotted out, in any letter case (a server may cut, re-case or re-encode it); a
    shorter key is no secret worth hunting, and only its whole forms are. Where the kept text
    ends in a key's first few characters (cut by the server or by ``limit``), they go too.
    """
    if not forms:
        return text if limit is None else text[:limit]
    # Only the kept part matters; a secret overlapping it lies wholly inside this window.
    window = text if limit is None else text[:limit + max(map(len, forms))]
    window = _blot(window, _pieces(forms))
    kept = window if limit is None else window[:limit]
    folded = kept.translate(_ASCII_LOWER)
    for form in forms:  # a secret's first characters where the text ends
        for size in range(min(len(form), len(kept)), 3, -1):
            if folded.endswith(form[:size].translate(_ASCII_LOWER)):
                kept = kept[:-size] + "***"
                break
    return kept


def _urls(text: str) -> list[str]:
    """The server URLs of ``base_url``: one, or several separated by commas or spaces."""
    urls = [url.strip().rstrip("/") for url in text.replace(",", " ").split()]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise BabilongError(f"--model-args base_url={url!r} is not an http(s) URL: give e.g. http://localhost:8000/v1")
    if not urls:
        raise BabilongError("--model-args base_url is empty: give the server's URL, e.g. http://localhost:8000/v1")
    if len(set(urls)) < len(urls):
        raise BabilongError(f"--model-args base_url names a server twice ({text}): give each server once")
    return urls


def _per_server(text: str, servers: int) -> list[int]:
    """``concurrency``: one number for every server, or one per server."""
    parts = text.replace(",", " ").split()
    if len(parts) not in (1, servers):
        raise BabilongError(f"--model-args concurrency={text!r}: give one number, or one per server ({servers})")
    values = [int_arg({"concurrency": part}, "concurrency", 1) for part in parts]
    return values * servers if len(values) == 1 else values


def _stop_loop(loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)


def _pieces(forms: list[str]) -> set[str]:
    """What to blot out, in lower case: every ``KEY_PIECE``-character run of the forms of a long key;
    the whole forms of a short one."""
    hunted = min(map(len, forms)) >= SHORTEST_SECRET  # the raw key is the shortest form
    pieces = set()
    for form in (form.translate(_ASCII_LOWER) for form in forms):
        pieces |= {form[i:i + KEY_PIECE] for i in range(len(form) - KEY_PIECE + 1)} if hunted else {form}
    return pieces


def _blot(text: str, pieces: set[str]) -> str:
    """Every character inside an occurrence of a piece (any letter case) replaced, each run by one ``***``."""
    folded = text.translate(_ASCII_LOWER)  # ASCII only: the length, so every position, stays the same
    covered = bytearray(len(text))
    for piece in pieces:
        at = folded.find(piece)
        while at >= 0:
            covered[at:at + len(piece)] = b"\1" * len(piece)
            at = folded.find(piece, at + 1)
    if not any(covered):
        return text
    parts, position = [], 0
    while position < len(text):
        end = covered.find(b"\1" if not covered[position] else b"\0", position)
        end = len(text) if end < 0 else end
        parts.append("***" if covered[position] else text[position:end])
        position = end
    return "".join(parts)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(seconds, 0.0) if seconds == seconds else None  # NaN is no advice


def load(args: dict[str, str]) -> OpenAIModel:
    return OpenAIModel(args)
