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
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from babilong import __version__, verdicts
from babilong.errors import BabilongError
from babilong.files import WriterLock, atomic_open, read_json_object
from babilong.prompts import PromptConfig, PromptFile
from babilong.published_prompt import PublishedPrompt
from babilong.scorers import accuracy_scorers, all_scorers, versions_text
from babilong.shards import WHOLE, Shard, shard_from_dict
from babilong.tasks import is_task

MANIFEST = "manifest.json"
RESULTS = "results.jsonl"
LOCK = ".lock"
OWNER = ".lock.owner"
FINAL = ("ok", "too_long", "cut")  # statuses that count as done; "error" is retried
# The shape of a result line. 1: lines without the field (before thinking models); 2: adds
# finish_reason and the thinking fields. Readers refuse lines of a newer schema than they know.
RESULT_SCHEMA = 2


@dataclass(frozen=True)
class RunConfig:
    """Everything that changes a run's answers; its hash names the run."""

    model: str
    model_settings: dict[str, Any]
    prompt: PromptConfig | PromptFile | PublishedPrompt
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


@dataclass(frozen=True)
class RunLayout:
    """Which samples a run folder is for: its ``task/length`` groups (samples each) and its shard.

    Not part of the configuration's identity: shards of one configuration share its hash, and
    a rerun may ask for more samples. Recorded in the manifest so ``merge`` can say which keys
    are still missing.
    """

    groups: dict[str, int] = field(default_factory=dict)
    shard: Shard = WHOLE

    def to_dict(self) -> dict[str, Any]:
        return {"groups": self.groups, "shard": self.shard.to_dict()}

    @classmethod
    def of(cls, manifest: dict[str, Any]) -> RunLayout:
        """The layout a manifest records (older manifests record none: no groups, the whole run)."""
        layout = manifest.get("layout") or {}
        groups = layout.get("groups") or {}
        if not isinstance(groups, dict) or not all(isinstance(v, int) for v in groups.values()):
            raise BabilongError(f"a run manifest records the groups {groups!r}: expected {{'task/length': samples}}")
        return cls(dict(groups), shard_from_dict(layout.get("shard")))


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
                               f"re-scored as read ({versions_text()}); 'babilong rescore' stores the new verdicts")
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
            if _newer_schema(record):
                raise BabilongError(f"{path}:{number} was written by a newer babilong (result schema "
                                    f"{record['schema_version']}; this one reads up to {RESULT_SCHEMA}): upgrade babilong")
            if problem:
                warnings.append(f"{path}:{number}: {problem}: line skipped, its sample will be run again")
                continue
            yield number, raw, record


def _newer_schema(record: dict[str, Any]) -> bool:
    version = record.get("schema_version", 1)
    return isinstance(version, int) and version > RESULT_SCHEMA


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
        if not is_task(str(record.get("task"))) or record.get("target") is None or record.get("question") is None:
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
    changed = dict.fromkeys(accuracy_scorers(), 0)  # other scorers are counted once they apply to a line

    def lines() -> Iterator[bytes]:
        with path.open("rb") as source:
            for raw in source:
                yield _rescored(raw, path, changed)

    try:
        _write_atomic_lines(path, lines())
    except OSError as error:  # reading the old file
        raise _store_error(path, error) from None
    return changed


def _rescored(raw: bytes, path: Path, changed: dict[str, int]) -> bytes:
    """One results line with current verdicts (unchanged when current or unreadable); counts changed verdicts."""
    record, problem = _parse_line(raw) if raw.strip() else ({}, "blank")
    if _newer_schema(record):
        raise BabilongError(f"{path} holds lines of a newer babilong (result schema {record['schema_version']}; "
                            f"this one reads up to {RESULT_SCHEMA}): upgrade babilong to re-score it")
    if problem or verdicts.is_current(record):
        return raw
    fresh = verdicts.score_record(record)
    for name in fresh["scorer_versions"]:
        stored = all_scorers()[name].stored
        changed[name] = changed.get(name, 0) + (stored(record) != stored(fresh))
    return _encode(fresh)


def run_lock(directory: Path) -> WriterLock:
    """The one-writer lock of a run folder: ``.lock`` inside it, its holder named in ``.lock.owner``."""
    return WriterLock(directory / LOCK, directory, "wait for it to finish, or choose another --output", directory / OWNER)


class ResultStore:
    """The append-only results file of one run directory, held by one writer at a time."""

    def __init__(self, directory: Path, config: RunConfig, layout: RunLayout | None = None) -> None:
        self.directory = Path(directory)
        self.path = self.directory / RESULTS
        self.config = config
        self.layout = layout or RunLayout()
        self.finished: set[str] = set()  # keys whose result is final (ok, too_long or cut)
        self.warnings: list[str] = []
        self._fd: int | None = None
        self._lock = run_lock(self.directory)
        try:
            self._prepare()
        except BaseException:
            self._lock.release()
            raise

    def _prepare(self) -> None:
        try:
            self._refuse_foreign_manifest()  # before anything is created or locked in the folder
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
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "layout": self.layout.to_dict()}

    def _refuse_foreign_manifest(self) -> None:
        """A folder whose manifest.json is another kind of manifest (a dataset's) is not a run: refuse it whole."""
        path = self.directory / MANIFEST
        try:
            manifest = json.loads(path.read_bytes())
        except (OSError, ValueError):
            return  # absent, or damaged: _check_manifest decides under the lock
        if isinstance(manifest, dict) and "config_hash" not in manifest and "config" not in manifest:
            kind = "a dataset written by 'babilong generate'" if "files" in manifest else "another kind of folder"
            raise BabilongError(f"{self.directory} is not a run folder: its {MANIFEST} is the manifest of {kind}; "
                                "choose another --output (a run gets a folder of its own)")

    def _check_manifest(self) -> None:
        path = self.directory / MANIFEST
        if not path.exists():
            _write_atomic(path, _manifest_text(self._manifest()))
            return
        self._refuse_foreign_manifest()  # again under the lock: another process may have written it since
        try:
            manifest = read_manifest(path)
        except BabilongError as error:
            self._recover_manifest(error)
            return
        self._check_same_run(manifest)
        self._check_layout(manifest)

    def _check_layout(self, manifest: dict[str, Any]) -> None:
        """One shard per folder; a rerun asking for other samples records its groups."""
        recorded = RunLayout.of(manifest)
        if "layout" in manifest and recorded.shard != self.layout.shard:
            raise BabilongError(f"{self.directory} holds shard {recorded.shard} of this run, not shard {self.layout.shard}: "
                                "give each shard its own --output")
        if manifest.get("layout") != self.layout.to_dict():
            groups = {**recorded.groups, **self.layout.groups}
            updated = {**manifest, "layout": RunLayout(groups, self.layout.shard).to_dict()}
            _write_atomic(self.directory / MANIFEST, _manifest_text(updated))

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
                                 f"({versions_text()}; verdicts changed: {_changes_text(changed)})")

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


def write_run(directory: Path, manifest: dict[str, Any], records: Iterable[dict[str, Any]]) -> None:
    """A whole run folder at once (a merge of shards): results first, then the manifest, each
    replaced atomically, under the folder's lock."""
    lock = run_lock(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock.acquire()
        _write_atomic_lines(directory / RESULTS, map(_encode, records))
        _write_atomic(directory / MANIFEST, _manifest_text(manifest))
    except OSError as error:
        raise _store_error(directory, error) from None
    finally:
        lock.release()


def read_manifest(path: Path) -> dict[str, Any]:
    """A run's manifest; a damaged one is a one-line error naming the file and the place."""
    manifest = read_json_object(path, "run manifest")
    if not isinstance(manifest.get("config_hash"), str) or not isinstance(manifest.get("config"), dict):
        raise BabilongError(f"run manifest {path} is damaged (no config_hash and config)")
    return manifest


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
    _write_atomic_lines(path, [text.encode()])


def _write_atomic_lines(path: Path, lines: Iterable[bytes]) -> None:
    with atomic_open(path, describe=_store_error) as handle:
        handle.writelines(lines)


def load_run(directory: Path) -> tuple[dict[str, Any], Loaded]:
    """A finished or partial run directory: its manifest and its results (verdicts current)."""
    manifest = _run_manifest(Path(directory))
    return manifest, read_results(Path(directory) / RESULTS, manifest["config_hash"])


def _run_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a run folder, which must be one (and hold its results as one file)."""
    if not (directory / MANIFEST).is_file():
        raise BabilongError(f"{directory} is not a run directory (no {MANIFEST}): give a folder written by 'babilong eval'")
    if (directory / RESULTS).exists() and not (directory / RESULTS).is_file():
        raise BabilongError(f"{directory / RESULTS} is not a file: a run's results are one file; move that "
                            "folder away and try again")
    return read_manifest(directory / MANIFEST)


def rescore_run(directory: Path) -> dict[str, int]:
    """Re-score a run folder's stored results in place, under its lock (never racing a running eval)."""
    _run_manifest(directory)
    lock = run_lock(directory)
    try:
        lock.acquire()
    except OSError as error:
        raise BabilongError(f"cannot lock {directory}: {error.strerror or error}") from None
    try:
        return rescore_file(directory / RESULTS) if (directory / RESULTS).exists() else {}
    finally:
        lock.release()


def remove_if_resultless(directory: Path) -> None:
    """A run folder stopped before its first result is removed, so a refused run leaves nothing."""
    results = directory / RESULTS
    if results.is_file() and results.stat().st_size > 0:
        return  # answers were stored: they are kept for the rerun
    for name in (RESULTS, MANIFEST, OWNER, LOCK):
        (directory / name).unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError:
        pass  # it holds something else: left as it is
