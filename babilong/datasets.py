"""Reading and writing samples: our JSONL/Parquet files, local copies of the published hub
datasets (``RMT-team/babilong``: one config per length, one split per task), and the hub."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from babilong.errors import BabilongError
from babilong.files import atomic_write
from babilong.sample import Sample

PUBLISHED_DATASETS = ("RMT-team/babilong", "RMT-team/babilong-1k-samples")
_SUFFIXES = (".parquet", ".jsonl", ".json")


def write_samples(samples: Iterable[Sample], path: Path) -> None:
    """JSONL or Parquet by suffix, written to a temp file and renamed: never a half file."""
    records = [s.to_record() for s in samples]
    if path.suffix == ".jsonl":
        atomic_write(path, lambda f: f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()))
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([_parquet_safe(r) for r in records])
        atomic_write(path, lambda f: pq.write_table(table, f))
    else:
        raise BabilongError(f"cannot write {path}: use a .jsonl or .parquet file name")


def write_manifest(manifest: dict[str, Any], path: Path) -> None:
    atomic_write(path, lambda f: f.write((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()))


def load_samples(source: str | Path, tasks: list[str], lengths: list[str], limit: int | None = None) -> list[Sample]:
    """Samples for every (task, length) from a folder, a file or a hub dataset id, at most ``limit`` each.

    A folder in the hub layout may split a task into shards (``qa1-00000-of-00002.parquet``,
    ``qa1-00001-of-00002.parquet``): they are read in order and numbered as one file. Fewer
    samples than ``limit`` is not an error: callers compare ``len`` with what they asked.
    """
    path = Path(source).expanduser()
    samples: list[Sample] = []
    for length in lengths:
        for task in tasks:
            if path.is_dir():
                found = _read_files(task_files(path, length, task), task, length, limit)
            elif path.is_file():
                found = read_file(path, task, length)
            else:
                found = _from_hub(str(source), task, length)
            samples.extend(found[:limit] if limit else found)
    return samples


def count_samples(source: str | Path, task: str, length: str) -> int:
    """How many samples a folder holds for one task and length, from file metadata (Parquet) or lines."""
    total = 0
    for path in task_files(Path(source).expanduser(), length, task):
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            try:
                total += pq.ParquetFile(path).metadata.num_rows
            except Exception as error:
                raise BabilongError(f"{path} is not a readable Parquet file ({error})") from None
        else:
            total += sum(1 for _ in _read_json_lines(path))
    return total


def read_file(path: Path, task: str | None = None, length: str | None = None, first_index: int = 0) -> list[Sample]:
    """One JSONL/JSON/Parquet file of samples; ``task``/``length`` fill in what the file lacks.

    Records without an ``index`` are numbered from ``first_index`` (the samples of earlier shards).
    """
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            records = pq.read_table(path).to_pylist()
        except Exception as error:
            raise BabilongError(f"{path} is not a readable Parquet file ({error})") from None
    elif path.suffix in (".jsonl", ".json"):
        records = list(_read_json_lines(path))
    else:
        raise BabilongError(f"cannot read {path}: use .jsonl, .json or .parquet files")
    return [_to_sample(record, path, first_index + i, task, length) for i, record in enumerate(records)]


def task_files(folder: Path, length: str, task: str) -> list[Path]:
    """The files of one task at one length, in reading order.

    Ours: ``{length}/{task}.parquet`` (or ``.jsonl``/``.json``). The hub layout: every shard
    ``{length}/{task}-0000N-of-0000M.parquet``; a missing shard is an error, not fewer samples.
    """
    for suffix in _SUFFIXES:
        if (folder / length / f"{task}{suffix}").exists():
            return [folder / length / f"{task}{suffix}"]
    for suffix in _SUFFIXES:
        files = sorted((folder / length).glob(f"{task}-*{suffix}"))
        if files:
            return _in_shard_order(files, folder / length, task)
    raise BabilongError(f"no {task} data for length {length} in {folder} (looked for {length}/{task}.jsonl|.parquet)")


_SHARD = re.compile(r"-(\d+)-of-(\d+)(?:-[^.]*)?$")  # name-00001-of-00002[-hash]


def _in_shard_order(files: list[Path], folder: Path, task: str) -> list[Path]:
    shards = {path: _SHARD.search(path.name.split(".")[0]) for path in files}
    if not all(shards.values()):
        return files  # not numbered shards: name order
    totals = {int(match.group(2)) for match in shards.values()}
    numbers = sorted(int(match.group(1)) for match in shards.values())
    if len(totals) != 1 or numbers != list(range(totals.pop())):
        names = ", ".join(path.name for path in files)
        raise BabilongError(f"the {task} shards in {folder} are incomplete or mixed ({names}): copy the missing shards")
    return sorted(files, key=lambda path: int(shards[path].group(1)))


def _read_files(files: list[Path], task: str, length: str, limit: int | None) -> list[Sample]:
    """Shards in order, numbered across them, reading no further shard once ``limit`` are in."""
    samples: list[Sample] = []
    for path in files:
        if limit and len(samples) >= limit:
            break
        samples.extend(read_file(path, task, length, first_index=len(samples)))
    return samples


def _from_hub(dataset_id: str, task: str, length: str) -> list[Sample]:
    if "/" not in dataset_id:
        raise BabilongError(f"data {dataset_id!r} not found: give a folder, a file, or a hub id such as {PUBLISHED_DATASETS[0]}")
    try:
        import datasets
    except ImportError:
        raise BabilongError("loading from the hub needs the datasets package: pip install 'babilong[hub]'") from None
    try:
        rows = datasets.load_dataset(dataset_id, name=length, split=task)
    except Exception as error:
        first_line = (str(error).splitlines() or [type(error).__name__])[0]
        raise BabilongError(f"could not load {dataset_id} config {length} split {task}: {first_line}") from None
    return [_to_sample(dict(row), Path(dataset_id), i, task, length) for i, row in enumerate(rows)]


def _to_sample(record: dict[str, Any], path: Path, index: int, task: str | None, length: str | None) -> Sample:
    missing = [f for f in ("input", "question", "target") if f not in record]
    if missing:
        raise BabilongError(f"{path} record {index + 1} lacks the field(s) {', '.join(missing)}: not BABILong data")
    record = dict(record)
    record.setdefault("task", task)
    record.setdefault("length", length)
    record.setdefault("index", index)
    if record["task"] is None or record["length"] is None:
        raise BabilongError(f"{path} does not say which task and length it holds: name them (e.g. --tasks qa1 --lengths 4k)")
    if isinstance(record.get("extra"), str):
        record["extra"] = json.loads(record["extra"])
    return Sample.from_record(record)


def _read_json_lines(path: Path):
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as error:
                    raise BabilongError(f"{path} line {number} is not valid JSON ({error.msg})") from None


def _parquet_safe(record: dict[str, Any]) -> dict[str, Any]:
    """Parquet needs one type per column: ``extra`` (free-form) is stored as a JSON string."""
    return {**record, "extra": json.dumps(record.get("extra") or {}, sort_keys=True)}
