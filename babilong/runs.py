"""A run: one model and prompt configuration over many samples, stored append-only.

A run directory holds ``manifest.json`` (the configuration and its hash) and
``results.jsonl`` (one line per finished sample, appended as each completes, one write per
line), written by one process at a time (``.lock``). Rerunning resumes: finished samples are
skipped without being built; samples that ended in an error are tried again and their new
line supersedes the old one. A different configuration is a different run and cannot share
the directory. Verdicts are a step of their own (``babilong.verdicts``): each line carries
its scorers' versions, and lines scored by older versions are re-scored when read.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from babilong import __version__, verdicts
from babilong.errors import BabilongError
from babilong.models.base import Model
from babilong.prompts import PromptConfig, PromptFile, build_prompt
from babilong.sample import Sample, supporting_depths, supporting_excerpts
from babilong.scoring import LABELS, SCORER_VERSIONS, SCORERS

MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
LOCK = ".lock"
OWNER = ".lock.owner"
FINAL = ("ok", "too_long")  # statuses that count as done; "error" is retried
CHUNK = 256  # at most this many samples are prompted, counted and sent to the model at a time,
CHUNK_CHARS = 16_000_000  # and at most about this many characters of context (memory stays flat)
PROMPT_KEPT = 20_000  # characters of a longer prompt stored at each end; the middle is elided


@dataclass(frozen=True)
class RunConfig:
    """Everything that changes a run's answers; its hash names the run."""

    model: str
    model_settings: dict[str, Any]
    prompt: PromptConfig | PromptFile
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
    """What a results file holds: the latest line per sample key (verdicts current), and what was wrong."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    rescored: int = 0  # records whose stored verdicts came from older scorer versions

    def done(self) -> set[str]:
        return {key for key, record in self.records.items() if record.get("status") in FINAL}


def read_results(path: Path, config_hash: str | None = None) -> Loaded:
    """Every readable line of a results file, re-scored where its scorer versions are not current.

    A malformed line is skipped with a warning naming its number; lines written under another
    configuration than ``config_hash`` (two runs in one folder) are left out with one warning.
    """
    loaded = Loaded()
    foreign: dict[str, list[int]] = {}
    for number, _, record in _results_lines(path, loaded.warnings):
        if _is_foreign(record, config_hash):
            foreign.setdefault(str(record["config_hash"]), []).append(number)
            continue
        fresh = verdicts.current(record)
        loaded.rescored += fresh is not record
        loaded.records[record["key"]] = fresh
    loaded.warnings.extend(_foreign_warning(path, config_hash, foreign))
    if loaded.rescored:
        loaded.warnings.append(f"{path}: {loaded.rescored} results were scored by older scorer versions and are "
                               f"re-scored as read ({_versions_text()}); 'babilong rescore' stores the new verdicts")
    return loaded


def _results_lines(path: Path, warnings: list[str]) -> Iterator[tuple[int, bytes, dict[str, Any]]]:
    """``(line number, raw line, record)`` for every valid line; a warning for each invalid one."""
    if not path.exists():
        return
    try:
        handle = path.open("rb")
    except OSError as error:
        raise BabilongError(f"cannot read {path}: {error.strerror or error}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            record, problem = _parse_line(raw)
            if problem:
                warnings.append(f"{path}:{number}: {problem}: line skipped, its sample will be run again")
                continue
            yield number, raw, record


def _parse_line(raw: bytes) -> tuple[dict[str, Any], str | None]:
    """The record on one line, or why the line is not a result."""
    try:
        record = json.loads(raw)
    except ValueError:
        return {}, "not JSON"
    if not isinstance(record, dict) or not isinstance(record.get("key"), str):
        return {}, "not a result (no key)"
    if record.get("status") not in (*FINAL, "error"):
        return {}, f"unknown status {record.get('status')!r}"
    if record["status"] == "ok":
        if not isinstance(record.get("output"), str):
            return {}, "an ok result without its output"
        if record.get("task") not in LABELS or record.get("target") is None or record.get("question") is None:
            return {}, "an ok result without a known task, target and question"
    return record, None


def _is_foreign(record: dict[str, Any], config_hash: str | None) -> bool:
    return config_hash is not None and record.get("config_hash") not in (None, config_hash)


def _foreign_warning(path: Path, config_hash: str | None, foreign: dict[str, list[int]]) -> list[str]:
    if not foreign:
        return []
    count = sum(len(numbers) for numbers in foreign.values())
    first = min(min(numbers) for numbers in foreign.values())
    return [f"{path}: {count} lines (first at line {first}) belong to another configuration "
            f"({', '.join(sorted(foreign))}, not {config_hash}): two runs wrote this folder at once; "
            "those lines are left out"]


def rescore_file(path: Path) -> dict[str, int]:
    """Rewrite a results file with current verdicts, in place and atomically; changed verdicts per scorer.

    Lines whose verdicts are current, and lines that cannot be read, are copied byte for byte.
    """
    changed = dict.fromkeys(SCORERS, 0)
    partial = path.with_name(path.name + ".partial")
    try:
        with path.open("rb") as source, partial.open("wb") as target:
            for raw in source:
                record, problem = _parse_line(raw) if raw.strip() else ({}, "blank")
                if problem or verdicts.is_current(record):
                    target.write(raw)
                    continue
                fresh = verdicts.score_record(record)
                for name in changed:
                    changed[name] += (record.get("scores") or {}).get(name) != (fresh["scores"] or {}).get(name)
                target.write(_encode(fresh))
            target.flush()
            os.fsync(target.fileno())
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise _store_error(path, error) from None
    return changed


class RunLock:
    """One writer per run folder: an OS lock on ``.lock`` (freed when its process dies), owner in ``.lock.owner``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock: Any = None

    def acquire(self) -> None:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.directory / LOCK), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise BabilongError(f"{self.directory} is being written by {self._owner()}: wait for it to finish, "
                                "or choose another --output") from None
        self._lock = lock
        # no command line: --model-args may carry an API key, and nothing secret goes into a run folder
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        _write_atomic(self.directory / OWNER, json.dumps(owner) + "\n")

    def _owner(self) -> str:
        try:
            owner = json.loads((self.directory / OWNER).read_text())
            return f"another babilong process (pid {owner['pid']} on {owner['host']}, since {owner['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another babilong process"

    def release(self) -> None:
        if self._lock is not None:
            (self.directory / OWNER).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None


class ResultStore:
    """The append-only results file of one run directory, held by one writer at a time."""

    def __init__(self, directory: Path, config: RunConfig) -> None:
        self.directory = Path(directory)
        self.path = self.directory / RESULTS
        self.config = config
        self.finished: set[str] = set()  # keys whose result is final (ok or too_long)
        self.warnings: list[str] = []
        self._fd: int | None = None
        self._lock = RunLock(self.directory)
        try:
            self._prepare()
        except BaseException:
            self._lock.release()
            raise

    def _prepare(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock.acquire()
            self._check_manifest()
            self._drop_torn_tail()
            self._scan()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as error:
            raise _store_error(self.directory, error) from None

    def _manifest(self) -> dict[str, Any]:
        return {"config_hash": self.config.hash, "config": self.config.to_dict(), "babilong_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def _check_manifest(self) -> None:
        path = self.directory / MANIFEST
        if not path.exists():
            _write_atomic(path, _manifest_text(self._manifest()))
            return
        try:
            manifest = read_manifest(path)
        except BabilongError as error:
            self._recover_manifest(error)
            return
        self._check_same_run(manifest)

    def _recover_manifest(self, error: BabilongError) -> None:
        """A damaged manifest is rewritten only when every stored result says it was this configuration."""
        hashes = {record.get("config_hash") for _, _, record in _results_lines(self.path, [])}
        if hashes - {self.config.hash}:
            raise BabilongError(f"{error}; its results are of another configuration: choose another --output") from None
        _write_atomic(self.directory / MANIFEST, _manifest_text(self._manifest()))
        self.warnings.append(f"{error}; rewritten, since every stored result is of this configuration")

    def _check_same_run(self, manifest: dict[str, Any]) -> None:
        if manifest.get("config_hash") == self.config.hash:
            return
        old, new = manifest.get("config", {}), json.loads(json.dumps(self.config.to_dict(), default=str))
        changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
        old_data, new_data = old.get("data") or {}, new.get("data") or {}
        if changed == ["data"] and old_data.get("source") == new_data.get("source") and "files" in new_data:
            raise BabilongError(
                f"the data in {new_data['source']} changed since {self.directory} was run (regenerated?): its stored "
                "answers are for other samples; choose another --output for the new data")
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
        self.warnings.append(f"{self.path}: cut an unfinished last line left by an interrupted run")

    def _scan(self) -> None:
        """One pass over the results: which keys are final, and whether any verdict is out of date."""
        status: dict[str, str] = {}
        foreign: dict[str, list[int]] = {}
        stale = 0
        for number, _, record in _results_lines(self.path, self.warnings):
            if _is_foreign(record, self.config.hash):
                foreign.setdefault(str(record["config_hash"]), []).append(number)
                continue
            status[record["key"]] = record["status"]
            stale += not verdicts.is_current(record)
        self.warnings.extend(_foreign_warning(self.path, self.config.hash, foreign))
        self.finished = {key for key, value in status.items() if value in FINAL}
        if stale:
            changed = rescore_file(self.path)
            self.warnings.append(f"{self.path}: re-scored {stale} stored results with the current scorers "
                                 f"({_versions_text()}; verdicts changed: {_changes_text(changed)})")

    def load(self) -> Loaded:
        return read_results(self.path, self.config.hash)

    def append(self, record: dict[str, Any]) -> None:
        """One line, one write: a kill mid-run leaves whole lines (or a torn tail, cut on resume)."""
        line = _encode(record)
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
        self._lock.release()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _encode(record: dict[str, Any]) -> bytes:
    return (json.dumps(record) + "\n").encode()  # ASCII escapes: valid JSON, and 3x faster to encode


def _manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"


def read_manifest(path: Path) -> dict[str, Any]:
    """A run's manifest; a damaged one is a one-line error naming the file and the place."""
    try:
        manifest = json.loads(path.read_bytes())
    except OSError as error:
        raise BabilongError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        where = f"line {error.lineno}" if isinstance(error, json.JSONDecodeError) else "not UTF-8"
        raise BabilongError(f"{path} is damaged ({where}: {getattr(error, 'msg', error)})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config_hash"), str) \
            or not isinstance(manifest.get("config"), dict):
        raise BabilongError(f"{path} is damaged (no config_hash and config)")
    return manifest


def _versions_text() -> str:
    return ", ".join(f"{name} {version}" for name, version in SCORER_VERSIONS.items())


def _changes_text(changed: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in changed.items())


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

    total: int = 0
    skipped: int = 0
    ok: int = 0
    too_long: int = 0
    errors: int = 0

    def count(self, status: str) -> None:
        name = "errors" if status == "error" else status
        setattr(self, name, getattr(self, name) + 1)


@dataclass(frozen=True)
class Planned:
    """A sample known by its key before it is built: finished ones are skipped unbuilt."""

    key: str
    build: Callable[[], Sample]


def evaluate(samples: Iterable[Sample | Planned], model: Model, config: RunConfig, store: ResultStore,
             progress: bool = True, total: int | None = None) -> Summary:
    """Run every sample not yet done, appending each result the moment it is known.

    Samples are built (when ``Planned``) only when their turn comes, a few at a time, so
    memory does not grow with their number; finished keys are skipped without building them.
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
        for chunk in _chunks(_pending(samples, store.finished, summary, bar)):
            for record in _run_chunk(chunk, model, config):
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


def _pending(samples: Iterable[Sample | Planned], finished: set[str], summary: Summary, bar: Any) -> Iterator[Sample]:
    """The samples still to run, built one at a time; each key is checked once (O(1) per sample)."""
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
        yield item.build() if isinstance(item, Planned) else item


def _chunks(samples: Iterator[Sample]) -> Iterator[list[Sample]]:
    """Groups of at most ``CHUNK`` samples and about ``CHUNK_CHARS`` characters of context."""
    chunk: list[Sample] = []
    size = 0
    for sample in samples:
        chunk.append(sample)
        size += len(sample.input)
        if len(chunk) >= CHUNK or size >= CHUNK_CHARS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _run_chunk(samples: Sequence[Sample], model: Model, config: RunConfig) -> Iterator[dict[str, Any]]:
    """Unscored records for one chunk: too-long ones at once, the rest as the model answers them."""
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
                      output_tokens=generation.output_tokens, latency=generation.latency, retrieval=retrieval)


def _answer_directly(samples: Sequence[Sample], answer_samples: Any, config: RunConfig) -> Iterator[dict[str, Any]]:
    """Records for a model that answers samples itself (it reads the raw context, unlimited)."""
    for position, generation in answer_samples(samples, config.max_new_tokens):
        sample = samples[position]
        shown = f"[{len(sample.input):,} characters of context, read segment by segment]\nQuestion: {sample.question}"
        if generation.error is not None:
            yield _record(sample, config, shown, "error", latency=generation.latency, error=generation.error)
            continue
        yield _record(sample, config, shown, "ok", output=generation.output, latency=generation.latency)


def _record(sample: Sample, config: RunConfig, prompt: str, status: str, *, output: str | None = None,
            prompt_tokens: int | None = None, output_tokens: int | None = None, latency: float | None = None,
            error: str | None = None, retrieval: dict[str, Any] | None = None) -> dict[str, Any]:
    """What happened to one sample, before scoring: the raw output and the answer (stripped) both."""
    record = {
        "key": sample.key, "task": sample.task, "length": sample.length, "index": sample.index,
        "config_hash": config.hash, "status": status, "target": sample.target, "question": sample.question,
        "output": output, "answer": None if output is None else output.strip(), "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens, "latency": latency, "error": error, **_stored_prompt(prompt),
        **_fact_fields(sample),
    }
    if retrieval is not None:
        record["retrieval"] = retrieval
    return record


def _fact_fields(sample: Sample) -> dict[str, Any]:
    """Where the supporting facts sit (depth %, and an excerpt around each), when the sample knows."""
    depths = supporting_depths(sample)
    return {"depths": depths, "supporting_facts": supporting_excerpts(sample)} if depths else {}


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


def load_run(directory: Path) -> tuple[dict[str, Any], Loaded]:
    """A finished or partial run directory: its manifest and its results (verdicts current)."""
    manifest_path = Path(directory) / MANIFEST
    if not manifest_path.is_file():
        raise BabilongError(f"{directory} is not a run directory (no {MANIFEST}): give a folder written by 'babilong eval'")
    manifest = read_manifest(manifest_path)
    return manifest, read_results(Path(directory) / RESULTS, manifest["config_hash"])
