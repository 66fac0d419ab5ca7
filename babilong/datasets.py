"""Reading and writing samples: our JSONL/Parquet files, local copies of the published hub
datasets (``RMT-team/babilong``: one config per length, one split per task), and the hub."""

from __future__ import annotations

import json
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
    """Samples for every (task, length) from a folder or a hub dataset id, at most ``limit`` each."""
    path = Path(source).expanduser()
    samples: list[Sample] = []
    for length in lengths:
        for task in tasks:
            if path.is_dir():
                found = read_file(_find_file(path, length, task), task, length)
            elif path.is_file():
                found = read_file(path, task, length)
            else:
                found = _from_hub(str(source), task, length)
            samples.extend(found[:limit] if limit else found)
    return samples


def read_file(path: Path, task: str | None = None, length: str | None = None) -> list[Sample]:
    """One JSONL/JSON/Parquet file of samples; ``task``/``length`` fill in what the file lacks."""
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
    return [_to_sample(record, path, i, task, length) for i, record in enumerate(records)]


def _find_file(folder: Path, length: str, task: str) -> Path:
    """``folder/{length}/{task}.parquet`` (ours) or ``folder/{length}/{task}-*.parquet`` (hub copies)."""
    for suffix in _SUFFIXES:
        for candidate in [folder / length / f"{task}{suffix}", *sorted((folder / length).glob(f"{task}-*{suffix}"))]:
            if candidate.exists():
                return candidate
    raise BabilongError(f"no {task} data for length {length} in {folder} (looked for {length}/{task}.jsonl|.parquet)")


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
