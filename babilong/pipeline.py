"""The eval loop as declared steps: sample -> context step -> prompt -> model -> scorers -> store.

Each step is swappable and typed by a protocol (``babilong.models.base``): a
``ContextStep`` (retrieval) may replace a sample's context; a ``PromptModel`` answers
prompts, a ``SampleModel`` (a memory model) reads raw samples itself; verdicts come from
``babilong.verdicts``; the ``ResultStore`` (``babilong.runs``) keeps one line per sample.

Samples stream through without barriers: the model draws the next prompt the moment it has
room (a free request slot, a batch to fill), so ``concurrency`` requests stay in flight
while answers arrive, and memory is bounded by what is in flight, never by the run's size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from babilong import verdicts
from babilong.errors import BabilongError
from babilong.models.base import (
    ContextStep,
    Generation,
    Model,
    PromptModel,
    SampleModel,
)
from babilong.prompts import build_prompt
from babilong.reasoning import prompt_opens_thinking, reply_status, split_reply
from babilong.runs import RESULT_SCHEMA, ResultStore, RunConfig
from babilong.sample import Sample, supporting_depths, supporting_excerpts

PROMPT_KEPT = 20_000  # characters of a longer prompt stored at each end; the middle is elided
OUTPUT_CHARS_PER_TOKEN = 16  # an answer is stored up to this many characters per --max-new-tokens (a server
OUTPUT_KEPT_MIN = 4_000      # that ignores max_tokens cannot fill the store), and at least this many


@dataclass
class Summary:
    """What one call of ``evaluate`` did."""

    total: int = 0
    skipped: int = 0
    ok: int = 0
    too_long: int = 0
    cut: int = 0
    errors: int = 0

    def count(self, status: str) -> None:
        name = "errors" if status == "error" else status
        setattr(self, name, getattr(self, name) + 1)


@dataclass(frozen=True)
class Planned:
    """A sample known by its key before it is built: finished ones are skipped unbuilt."""

    key: str
    build: Callable[[], Sample]


@dataclass(frozen=True)
class Pending:
    """What the loop keeps of a sample while the model holds it: never its (long) context."""

    sample: Sample  # the sample without its input
    prompt: dict[str, Any]  # the stored form of the prompt as the model reads it
    facts: dict[str, Any]  # where the supporting facts sit (read from the input while it is at hand)
    tokens: int | None = None
    retrieval: dict[str, Any] | None = None


class Pipeline:
    """The steps for one model and configuration; ``records`` turns samples into unscored records."""

    def __init__(self, model: Model, config: RunConfig) -> None:
        if not isinstance(model, (PromptModel, SampleModel)):
            raise TypeError(f"{type(model).__name__} answers neither prompts nor samples")
        self.model = model
        self.config = config
        self.context = model if isinstance(model, ContextStep) else None

    def records(self, samples: Iterable[Sample]) -> Iterator[dict[str, Any]]:
        """One unscored record per sample, in the order answers complete."""
        if isinstance(self.model, SampleModel):
            return self._read_by_model(samples)
        return self._prompted(samples)

    def _prompted(self, samples: Iterable[Sample]) -> Iterator[dict[str, Any]]:
        model: PromptModel = self.model  # type: ignore[assignment]
        waiting: dict[int, Pending] = {}
        settled: deque[dict[str, Any]] = deque()  # too-long records, stored at the model's next answer

        def prompts() -> Iterator[Any]:
            for sample in samples:
                shown, retrieval = self.context.rewrite_sample(sample) if self.context else (sample, None)
                prompt = build_prompt(shown, self.config.prompt)
                tokens = model.count_tokens(prompt)
                stored = _stored_prompt(model.render(prompt))
                if self._too_long(tokens):
                    window = model.context_window
                    settled.append(_record(sample, self.config, stored, "too_long", _fact_fields(sample), prompt_tokens=tokens,
                                           retrieval=retrieval, error=f"prompt {tokens} + {self.config.max_new_tokens} "
                                           f"new tokens > context window {window}"))
                    continue
                waiting[next(drawn)] = Pending(_head(sample), stored, _fact_fields(sample), tokens, retrieval)
                yield prompt

        drawn = itertools.count()
        for position, generation in model.generate(prompts(), self.config.max_new_tokens):
            while settled:
                yield settled.popleft()
            yield _answered(waiting.pop(position), generation, self.config)
        yield from settled

    def _too_long(self, tokens: int | None) -> bool:
        window = self.model.context_window
        return tokens is not None and bool(window) and tokens + self.config.max_new_tokens > window

    def _read_by_model(self, samples: Iterable[Sample]) -> Iterator[dict[str, Any]]:
        """Records for a model that reads raw samples itself (the whole context, unlimited)."""
        model: SampleModel = self.model  # type: ignore[assignment]
        waiting: dict[int, Pending] = {}

        def unread() -> Iterator[Sample]:
            for sample in samples:
                shown = f"[{len(sample.input):,} characters of context, read segment by segment]\nQuestion: {sample.question}"
                waiting[next(drawn)] = Pending(_head(sample), {"prompt": shown}, _fact_fields(sample))
                yield sample

        drawn = itertools.count()
        for position, generation in model.answer_samples(unread(), self.config.max_new_tokens):
            yield _answered(waiting.pop(position), generation, self.config)


def evaluate(samples: Iterable[Sample | Planned], model: Model, config: RunConfig, store: ResultStore,
             progress: bool = True, total: int | None = None, builders: int = 0) -> Summary:
    """Run every sample not yet done, appending each scored result the moment it is known.

    Samples are built (when ``Planned``) only when the model has room for them, so memory does
    not grow with their number; finished keys are skipped without building them. With
    ``builders`` processes, samples are built that many at a time, a few ahead of the model
    (a served model at 1M tokens answers faster than one process builds its prompts).
    """
    for warning in store.warnings:
        print(f"babilong: warning: {warning}", file=sys.stderr)
    store.warnings.clear()
    if total is None and isinstance(samples, Sequence):
        total = len(samples)
    summary = Summary()
    bar = _progress_bar(total, progress)
    warned = False
    try:
        pending = _built(_pending(samples, store.finished, summary, bar), builders)
        for record in Pipeline(model, config).records(pending):
            store.append(verdicts.score_record(record))
            summary.count(record["status"])
            if record["status"] == "too_long" and not warned:
                warned = True
                print(f"babilong: warning: {record['key']} needs {record['prompt_tokens']} prompt tokens + "
                      f"{config.max_new_tokens} new, over the model's {model.context_window}: such samples are "
                      "recorded as too_long (not truncated) and shown in the report", file=sys.stderr)
            bar.update(1)
    finally:
        bar.close()
    return summary


def _pending(samples: Iterable[Sample | Planned], finished: set[str], summary: Summary,
             bar: Any) -> Iterator[Sample | Planned]:
    """The samples still to run, not yet built; each key is checked once (O(1) per sample)."""
    seen: set[str] = set()
    for item in samples:
        if item.key in seen:
            raise BabilongError(f"two samples share the key {item.key}: the data has duplicate (task, length, index)")
        seen.add(item.key)
        summary.total += 1
        if item.key in finished:
            summary.skipped += 1
            bar.update(1)
            continue
        yield item


def _built(items: Iterator[Sample | Planned], builders: int) -> Iterator[Sample]:
    """The samples in order, each ``Planned`` one built in this process or, with ``builders``,
    in that many processes, at most twice as many samples ahead of the caller."""
    if builders <= 0:
        for item in items:
            yield item.build() if isinstance(item, Planned) else item
        return
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    ahead: deque[Future | Sample] = deque()
    # spawn, not fork: the caller may hold threads (an HTTP client's event loop) a fork would copy mid-step
    pool = ProcessPoolExecutor(builders, mp_context=multiprocessing.get_context("spawn"))
    try:
        for item in items:
            ahead.append(pool.submit(item.build) if isinstance(item, Planned) else item)
            if len(ahead) > 2 * builders:
                yield _ready(ahead.popleft())
        while ahead:
            yield _ready(ahead.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ready(item: Any) -> Sample:
    return item if isinstance(item, Sample) else item.result()


def _head(sample: Sample) -> Sample:
    """The sample without its context, kept while the model answers."""
    return dataclasses.replace(sample, input="")


def _answered(job: Pending, generation: Generation, config: RunConfig) -> dict[str, Any]:
    """The record of one answer (or of the error that replaced it)."""
    tokens = generation.prompt_tokens if generation.prompt_tokens is not None else job.tokens
    if generation.error is not None:
        return _record(job.sample, config, job.prompt, "error", job.facts, prompt_tokens=tokens,
                       latency=generation.latency, error=generation.error, retrieval=job.retrieval)
    return _record(job.sample, config, job.prompt, "ok", job.facts, output=generation.output, prompt_tokens=tokens,
                   output_tokens=generation.output_tokens, latency=generation.latency, retrieval=job.retrieval,
                   finish_reason=generation.finish_reason, reasoning=generation.reasoning, output_masked=generation.masked)


def _record(sample: Sample, config: RunConfig, prompt: dict[str, Any], status: str, facts: dict[str, Any], *,
            output: str | None = None,
            prompt_tokens: int | None = None, output_tokens: int | None = None, latency: float | None = None,
            error: str | None = None, retrieval: dict[str, Any] | None = None, finish_reason: str | None = None,
            reasoning: str | None = None, output_masked: bool = False) -> dict[str, Any]:
    """What happened to one sample, before scoring: the raw output and the final answer (stripped) both.

    A thinking model's output also gets its thinking's length (and the thinking itself when the
    server sent it apart); one cut by the token budget before any answer becomes ``cut``. An
    output longer than ``max_new_tokens`` tokens could be (``OUTPUT_CHARS_PER_TOKEN``) is stored
    cut, with ``output_chars`` (its whole length) and ``output_cut``. ``output_masked``: the
    backend blotted a secret out of the output, so it is not the raw text.
    """
    kept = max(OUTPUT_KEPT_MIN, OUTPUT_CHARS_PER_TOKEN * config.max_new_tokens)
    whole = len(output) if output is not None else 0
    output = output[:kept] if output is not None else None
    record = {
        "schema_version": RESULT_SCHEMA, "key": sample.key, "task": sample.task, "length": sample.length, "index": sample.index,
        "config_hash": config.hash, "status": status, "target": sample.target, "question": sample.question,
        "output": output, "answer": None if output is None else output.strip(), "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens, "latency": latency, "error": error, "finish_reason": finish_reason, **prompt,
        **facts,
    }
    if output is not None:
        record.update(_thinking_fields(output, reasoning, prompt_opens_thinking(prompt["prompt"]), finish_reason, status))
    if retrieval is not None:
        record["retrieval"] = retrieval
    if output_masked:
        record["output_masked"] = True
    if whole > kept:
        record.update(output_chars=whole, output_cut=True)
    return record


def _fact_fields(sample: Sample) -> dict[str, Any]:
    """Where the supporting facts sit (depth %, and an excerpt around each), when the sample knows."""
    depths = supporting_depths(sample)
    return {"depths": depths, "supporting_facts": supporting_excerpts(sample)} if depths else {}


def _thinking_fields(output: str, reasoning: str | None, opened: bool, finish_reason: str | None,
                     status: str) -> dict[str, Any]:
    """The final answer, the thinking's length (and text when sent apart), and ok or cut."""
    reply = split_reply(output, reasoning, opened)
    fields: dict[str, Any] = {"answer": reply.answer.strip()}
    if opened:
        fields["prompt_opens_thinking"] = True  # the output continues a <think> the chat template opened
    if reply.thinking is not None:
        fields["thinking_chars"] = len(reply.thinking)
    if reasoning is not None:
        fields["thinking"] = reasoning  # not in the output: kept here, never scored
    if status == "ok":
        fields["status"] = reply_status(reply.answer, finish_reason)
    return fields


def _stored_prompt(prompt: str) -> dict[str, Any]:
    """The prompt as the model read it; a very long one keeps its ends, its length and its hash."""
    if len(prompt) <= 2 * PROMPT_KEPT + 100:
        return {"prompt": prompt}
    elided = len(prompt) - 2 * PROMPT_KEPT
    return {"prompt": f"{prompt[:PROMPT_KEPT]}\n[... {elided:,} characters elided ...]\n{prompt[-PROMPT_KEPT:]}",
            "prompt_chars": len(prompt), "prompt_sha256": hashlib.sha256(prompt.encode()).hexdigest()}


def _progress_bar(total: int | None, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit="sample", dynamic_ncols=True,
                desc="eval", file=sys.stderr, mininterval=0.5)
