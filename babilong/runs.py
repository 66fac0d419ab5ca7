"""A run: one model and prompt configuration over many samples, stored append-only.

A run directory holds ``manifest.json`` (the configuration and its hash) and
``results.jsonl`` (one line per finished sample, appended as each completes, one write per
line). Rerunning resumes: finished samples are skipped; samples that ended in an error are
tried again and their new line supersedes the old one. A different configuration is a
different run and cannot share the directory.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from babilong import __version__
from babilong.errors import BabilongError
from babilong.models.base import Model
from babilong.prompts import PromptConfig, build_prompt
from babilong.sample import Sample
from babilong.scoring import score

MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
FINAL = ("ok", "too_long")  # statuses that count as done; "error" is retried
CHUNK = 256  # samples prompted, counted and sent to the model at a time


@dataclass(frozen=True)
class RunConfig:
    """Everything that changes a run's answers; its hash names the run."""

    model: str
    model_settings: dict[str, Any]
    prompt: PromptConfig
    max_new_tokens: int
    data: dict[str, Any]  # where the samples come from (generator settings or a source)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_settings": self.model_settings,
            "prompt": {**self.prompt.__dict__, "name": self.prompt.name, "fingerprint": self.prompt.fingerprint()},
            "max_new_tokens": self.max_new_tokens,
            "data": self.data,
        }

    @cached_property
    def hash(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Loaded:
    """What a results file holds: the latest line per sample key, and what was wrong with it."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def done(self) -> set[str]:
        return {key for key, record in self.records.items() if record.get("status") in FINAL}


def read_results(path: Path) -> Loaded:
    """Every readable line of a results file; a corrupt line is skipped with a warning naming it."""
    loaded = Loaded()
    if not path.exists():
        return loaded
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
                key = record["key"]
            except (ValueError, KeyError, TypeError):
                loaded.warnings.append(f"{path}:{number}: unreadable line skipped (its sample will be run again)")
                continue
            loaded.records[key] = record
    return loaded


class ResultStore:
    """The append-only results file of one run directory."""

    def __init__(self, directory: Path, config: RunConfig) -> None:
        self.directory = directory
        self.path = directory / RESULTS
        self.config = config
        self._fd: int | None = None
        self._prepare()

    def _prepare(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            manifest = self.directory / MANIFEST
            if manifest.exists():
                self._check_same_run(read_manifest(manifest))
            else:
                _write_atomic(manifest, json.dumps(self._manifest(), indent=2, sort_keys=True, default=str) + "\n")
            self._drop_torn_tail()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as error:
            raise _store_error(self.directory, error) from None

    def _manifest(self) -> dict[str, Any]:
        return {"config_hash": self.config.hash, "config": self.config.to_dict(), "babilong_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def _check_same_run(self, manifest: dict[str, Any]) -> None:
        if manifest.get("config_hash") == self.config.hash:
            return
        old, new = manifest.get("config", {}), self.config.to_dict()
        changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
        raise BabilongError(
            f"{self.directory} holds a run with another configuration (changed: {', '.join(changed) or 'version'}; "
            f"hash {manifest.get('config_hash')} vs {self.config.hash}): choose another --output")

    def _drop_torn_tail(self) -> None:
        """A crash mid-write can leave a last line without its newline: cut it (it is re-run)."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb+") as handle:
            end = handle.seek(0, os.SEEK_END)
            handle.seek(end - 1)
            if handle.read(1) == b"\n":
                return
            handle.truncate(_last_newline(handle, end) + 1)
        print(f"babilong: warning: {self.path}: cut an unfinished last line left by an interrupted run", file=sys.stderr)

    def load(self) -> Loaded:
        return read_results(self.path)

    def append(self, record: dict[str, Any]) -> None:
        """One line, one write: a kill mid-run leaves whole lines (or a torn tail, cut on resume)."""
        line = (json.dumps(record) + "\n").encode()  # ASCII escapes: valid JSON, and 3x faster to encode
        try:
            written = os.write(self._fd, line)
            if written != len(line):
                raise OSError(errno.ENOSPC, "short write")
        except OSError as error:
            raise _store_error(self.path, error) from None

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass  # fsync is unsupported on some files (pipes, /dev/full); the data is already written
            os.close(self._fd)
            self._fd = None


def _last_newline(handle: Any, end: int, block: int = 1 << 16) -> int:
    """Offset of the last newline before ``end`` (-1 if none), read backwards in blocks."""
    position = end
    while position > 0:
        start = max(position - block, 0)
        handle.seek(start)
        found = handle.read(position - start).rfind(b"\n")
        if found >= 0:
            return start + found
        position = start
    return -1


def _store_error(path: Path, error: OSError) -> BabilongError:
    if error.errno == errno.ENOSPC:
        return BabilongError(f"cannot write {path}: the disk is full; results so far are kept, free space and rerun to resume")
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return BabilongError(f"cannot write {path}: permission denied; choose a writable --output")
    return BabilongError(f"cannot write {path}: {error.strerror or error}; choose another --output")


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


@dataclass
class Summary:
    """What one call of ``evaluate`` did."""

    total: int
    skipped: int = 0
    ok: int = 0
    too_long: int = 0
    errors: int = 0

    def count(self, status: str) -> None:
        name = "errors" if status == "error" else status
        setattr(self, name, getattr(self, name) + 1)


def evaluate(samples: Sequence[Sample], model: Model, config: RunConfig, store: ResultStore,
             progress: bool = True) -> Summary:
    """Run every sample not yet done, appending each result the moment it is known."""
    done = store.load()
    for warning in done.warnings:
        print(f"babilong: warning: {warning}", file=sys.stderr)
    _check_unique(samples)
    todo = [s for s in samples if s.key not in done.done()]
    summary = Summary(total=len(samples), skipped=len(samples) - len(todo))
    bar = _progress_bar(len(samples), summary.skipped, progress)
    warned = False
    try:
        for start in range(0, len(todo), CHUNK):
            for record in _run_chunk(todo[start:start + CHUNK], model, config):
                store.append(record)
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


def _check_unique(samples: Sequence[Sample]) -> None:
    seen: set[str] = set()
    for sample in samples:
        if sample.key in seen:
            raise BabilongError(f"two samples share the key {sample.key}: the data has duplicate (task, length, index)")
        seen.add(sample.key)


def _run_chunk(samples: Sequence[Sample], model: Model, config: RunConfig) -> Iterator[dict[str, Any]]:
    """Records for one chunk: too-long ones at once, the rest as the model answers them."""
    answer_samples = getattr(model, "answer_samples", None)  # memory models read raw samples, no prompt
    if answer_samples:
        yield from _answer_directly(samples, answer_samples, config)
        return
    prompts, counts, runnable, retrievals = [], [], [], []
    rewrite = getattr(model, "rewrite_sample", None)  # retrieval models choose the context themselves
    for sample in samples:
        shown, retrieval = rewrite(sample) if rewrite else (sample, None)
        prompt = build_prompt(shown, config.prompt)
        tokens = model.count_tokens(prompt)
        if tokens is not None and model.context_window and tokens + config.max_new_tokens > model.context_window:
            yield _record(sample, config, model.render(prompt), "too_long", prompt_tokens=tokens, retrieval=retrieval,
                          error=f"prompt {tokens} + {config.max_new_tokens} new tokens > context window {model.context_window}")
            continue
        prompts.append(prompt)
        counts.append(tokens)
        runnable.append(sample)
        retrievals.append(retrieval)
    for position, generation in model.generate(prompts, config.max_new_tokens):
        sample, retrieval = runnable[position], retrievals[position]
        rendered = model.render(prompts[position])
        tokens = generation.prompt_tokens if generation.prompt_tokens is not None else counts[position]
        if generation.error is not None:
            yield _record(sample, config, rendered, "error", prompt_tokens=tokens, latency=generation.latency,
                          error=generation.error, retrieval=retrieval)
            continue
        yield _record(sample, config, rendered, "ok", output=generation.output, prompt_tokens=tokens,
                      output_tokens=generation.output_tokens, latency=generation.latency, retrieval=retrieval,
                      scores=score(generation.output, sample.target, sample.question, sample.task))


def _answer_directly(samples: Sequence[Sample], answer_samples: Any, config: RunConfig) -> Iterator[dict[str, Any]]:
    """Records for a model that answers samples itself (it reads the raw context, unlimited)."""
    for position, generation in answer_samples(samples, config.max_new_tokens):
        sample = samples[position]
        shown = f"[{len(sample.input):,} characters of context, read segment by segment]\nQuestion: {sample.question}"
        if generation.error is not None:
            yield _record(sample, config, shown, "error", latency=generation.latency, error=generation.error)
            continue
        yield _record(sample, config, shown, "ok", output=generation.output, latency=generation.latency,
                      scores=score(generation.output, sample.target, sample.question, sample.task))


def _record(sample: Sample, config: RunConfig, prompt: str, status: str, *, output: str | None = None,
            prompt_tokens: int | None = None, output_tokens: int | None = None, latency: float | None = None,
            scores: dict[str, bool] | None = None, error: str | None = None,
            retrieval: dict[str, Any] | None = None) -> dict[str, Any]:
    record = {
        "key": sample.key, "task": sample.task, "length": sample.length, "index": sample.index,
        "config_hash": config.hash, "status": status, "target": sample.target, "question": sample.question,
        "output": output, "scores": scores, "prompt_tokens": prompt_tokens, "output_tokens": output_tokens,
        "latency": latency, "error": error, "prompt": prompt,
    }
    if retrieval is not None:
        record["retrieval"] = retrieval
    return record


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="sample", dynamic_ncols=True,
                desc="eval", file=sys.stderr, mininterval=0.5)


def load_run(directory: Path) -> tuple[dict[str, Any], Loaded]:
    """A finished or partial run directory: its manifest and its results."""
    manifest_path = Path(directory) / MANIFEST
    if not manifest_path.is_file():
        raise BabilongError(f"{directory} is not a run directory (no {MANIFEST}): give a folder written by 'babilong eval'")
    return read_manifest(manifest_path), read_results(Path(directory) / RESULTS)


def read_manifest(path: Path) -> dict[str, Any]:
    """A run's manifest; a damaged one is a one-line error naming it."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BabilongError(f"cannot read {path} ({error}): the run folder is damaged; choose another --output or restore it") from None
    if not isinstance(manifest, dict):
        raise BabilongError(f"{path} is not a run manifest (a JSON object): the run folder is damaged; choose another folder")
    return manifest
