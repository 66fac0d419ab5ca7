"""Reading and writing samples: our JSONL/Parquet files, local copies of the published hub
datasets (``RMT-team/babilong``: one config per length, one split per task), and the hub."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from babilong.errors import BabilongError
from babilong.files import atomic_open, atomic_write
from babilong.sample import InputText, Sample

PUBLISHED_DATASETS = ("RMT-team/babilong", "RMT-team/babilong-1k-samples")
_SUFFIXES = (".parquet", ".jsonl", ".json")


ROW_GROUP_CHARACTERS = 64_000_000  # a Parquet row group is written once its inputs hold this much text


def write_samples(samples: Iterable[Sample], path: Path) -> None:
    """JSONL or Parquet by suffix, one sample at a time; the file appears whole or not at all."""
    with sample_writer(path) as write:
        for sample in samples:
            write(sample)


class SampleWriter(Protocol):
    """``write(sample)`` or ``write(sample, input_text)``: see ``sample_writer``."""

    def __call__(self, sample: Sample, input_text: InputText | None = None) -> None: ...

    def end_row_group(self) -> None:
        """Parquet: the samples so far end a row group (so files built in blocks have the same bytes). JSONL: nothing."""


@contextmanager
def sample_writer(path: Path) -> Iterator[SampleWriter]:
    """A function that appends one sample to a JSONL or Parquet file; the file appears when the block ends.

    ``write(sample)`` writes ``sample.input``; ``write(sample, input_text)`` writes the
    ``InputText`` in its place, chunk by chunk into a JSONL file (a 100M-token input is
    never held whole; Parquet needs its UTF-8 bytes at once). Samples go to disk as they
    come (Parquet in row groups of bounded size, or ended by ``write.end_row_group()``), so
    memory does not grow with their number.
    """
    if path.suffix not in (".jsonl", ".parquet", ".arrow"):
        raise BabilongError(f"cannot write {path}: use a .jsonl or .parquet file name")
    with atomic_open(path) as handle:
        if path.suffix == ".jsonl":
            yield _JsonLines(handle)
        else:
            rows = _ParquetRows(handle, arrow=path.suffix == ".arrow")
            try:
                yield rows
            except BaseException:
                with suppress(Exception):  # the file is dropped; only release the writer
                    rows.close()
                raise
            rows.close()


class _JsonLines:
    """Samples as JSON lines."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def __call__(self, sample: Sample, input_text: InputText | None = None) -> None:
        _write_json_line(self._handle, sample, input_text)

    def end_row_group(self) -> None:
        pass


def _write_json_line(handle: BinaryIO, sample: Sample, input_text: InputText | None) -> None:
    """One sample as a JSON line; an ``input_text`` is escaped and written a chunk at a time.

    JSON escapes character by character, so the escaped chunks make the same bytes as the
    escaped whole.
    """
    line = json.dumps(sample.to_record(), ensure_ascii=False)
    if input_text is None:
        handle.write((line + "\n").encode())
        return
    empty_input = '{"input": ""'
    if not line.startswith(empty_input):
        raise ValueError("a sample written with its input text apart must have an empty input, its first field")
    handle.write(b'{"input": "')
    for chunk in input_text.chunks():
        handle.write(json.dumps(chunk, ensure_ascii=False)[1:-1].encode())
    handle.write(('"' + line[len(empty_input):] + "\n").encode())


class _ParquetRows:
    """Parquet rows with one fixed schema, flushed in row groups of bounded text size.

    With ``arrow``, the row groups are written as the record batches of an Arrow IPC stream
    instead: ``generate --workers`` parts, which the driver turns into the Parquet row groups
    this class would have written (``copy_row_groups``), without decoding Parquet.
    """

    def __init__(self, handle: BinaryIO, arrow: bool = False) -> None:
        self._schema = sample_schema()
        if arrow:
            import pyarrow as pa

            self._writer = pa.ipc.new_stream(handle, self._schema)
        else:
            self._writer = parquet_writer(handle)
        self._pending: list[dict[str, Any]] = []
        self._characters = 0

    def __call__(self, sample: Sample, input_text: InputText | None = None) -> None:
        record = _parquet_safe(sample.to_record())
        record["input"] = _utf8(input_text) if input_text is not None else sample.input.encode("utf-8")
        self._pending.append(record)
        self._characters += len(input_text) if input_text is not None else len(sample.input)
        if self._characters >= ROW_GROUP_CHARACTERS:
            self._flush()

    def end_row_group(self) -> None:
        self._flush()

    def close(self) -> None:
        self._flush()
        self._writer.close()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._pending:
            schema = self._schema
            columns = [
                _text_column([record.pop("input") for record in self._pending]) if name == "input"
                else pa.array([record[name] for record in self._pending], type=schema.field(name).type)
                for name in schema.names
            ]
            self._writer.write_table(pa.Table.from_arrays(columns, schema=schema))
        self._pending, self._characters = [], 0


def parquet_writer(handle: BinaryIO):
    """A ``pyarrow.parquet.ParquetWriter`` of samples, with the options every sample file is written with."""
    import pyarrow.parquet as pq

    schema = sample_schema()
    small = [name for name in schema.names if name != "input"]
    # min/max statistics and a dictionary of the long input texts would cost several copies of each
    return pq.ParquetWriter(handle, schema, use_dictionary=small, write_statistics=small)


def copy_row_groups(arrow_part: Path, writer) -> None:
    """Write the row groups of an Arrow IPC stream written by ``sample_writer`` to a ``parquet_writer``: one each."""
    import pyarrow as pa

    with pa.memory_map(str(arrow_part)) as source:
        for batch in pa.ipc.open_stream(source):
            writer.write_table(pa.Table.from_batches([batch]))


def _utf8(text: InputText) -> bytearray:
    """The UTF-8 bytes of a long input, in one buffer sized up front (joining encoded chunks would hold them twice)."""
    size = sum(len(chunk.encode("utf-8")) for chunk in text.chunks())
    data = bytearray(size)
    at = 0
    for chunk in text.chunks():
        encoded = chunk.encode("utf-8")
        data[at:at + len(encoded)] = encoded
        at += len(encoded)
    return data


def _text_column(encoded: list[bytes | bytearray]):
    """A Parquet string column laid over the texts' UTF-8 bytes, made once (building it row by row copies them twice more)."""
    import numpy as np
    import pyarrow as pa

    offsets = np.concatenate([[0], np.cumsum([len(data) for data in encoded])])
    if offsets[-1] >= 2**31:
        raise BabilongError(f"a sample of {offsets[-1]:,} bytes is too long for a Parquet string column: use --format jsonl")
    data = encoded[0] if len(encoded) == 1 else b"".join(encoded)
    del encoded
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data))


def sample_schema():
    """The Parquet schema of our samples: the same types in every file, so all splits of a config agree."""
    import pyarrow as pa

    position = pa.struct([("char", pa.int64()), ("token", pa.int64()), ("depth", pa.float64())])
    return pa.schema([
        ("input", pa.string()), ("question", pa.string()), ("target", pa.string()), ("task", pa.string()),
        ("length", pa.string()), ("index", pa.int64()), ("seed", pa.int64()), ("token_count", pa.int64()),
        ("tokenizer", pa.string()), ("haystack", pa.string()), ("facts", pa.list_(pa.string())),
        ("supporting", pa.list_(pa.int64())), ("fact_positions", pa.list_(position)),
        ("background_reused", pa.bool_()), ("extra", pa.string()),
    ])


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
            elif path.is_file():  # one file may hold several tasks and lengths: only this group's samples
                found = [s for s in read_file(path, task, length) if s.task == task and _same_length(s.length, length)]
            else:
                found = _from_hub(str(source), task, length)
            samples.extend(found[:limit] if limit else found)
    return samples


def _same_length(label: str, asked: str) -> bool:
    from babilong.lengths import length_tokens

    try:
        return length_tokens(label) == length_tokens(asked)
    except BabilongError:
        return label == asked


def file_groups(path: Path) -> list[str]:
    """What a data file holds, as ``task at length`` (for messages)."""
    groups = dict.fromkeys(f"{s.task} at {s.length}" for s in read_file(path, "?", "?"))
    return list(groups)


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
    if not isinstance(record, dict):
        raise BabilongError(f"{path} record {index + 1} is a {type(record).__name__}, not an object: not BABILong data")
    missing = [f for f in ("input", "question", "target") if f not in record]
    if missing:
        raise BabilongError(f"{path} record {index + 1} lacks the field(s) {', '.join(missing)}: not BABILong data")
    not_text = [f for f in ("input", "question") if not isinstance(record[f], str)]
    if not_text:
        raise BabilongError(f"{path} record {index + 1}: {', '.join(not_text)} must be text: not BABILong data")
    record = dict(record)
    record.setdefault("task", task)
    record.setdefault("length", length)
    record.setdefault("index", index)
    if record["task"] is None or record["length"] is None:
        raise BabilongError(f"{path} does not say which task and length it holds: name them (e.g. --tasks qa1 --lengths 4k)")
    try:
        if isinstance(record.get("extra"), str):
            record["extra"] = json.loads(record["extra"])
        return Sample.from_record(record)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        raise BabilongError(f"{path} record {index + 1} is malformed ({type(error).__name__}: {error}): regenerate the file") from None


def _read_json_lines(path: Path):
    with path.open(encoding="utf-8") as handle:
        number = 0
        try:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as error:
                        raise BabilongError(f"{path} line {number} is not valid JSON ({error.msg})") from None
        except UnicodeDecodeError:
            raise BabilongError(f"{path} line {number + 1} is not UTF-8 text: is it a JSONL file?") from None


def _parquet_safe(record: dict[str, Any]) -> dict[str, Any]:
    """Parquet needs one type per column: ``extra`` (free-form) is stored as a JSON string."""
    return {**record, "extra": json.dumps(record.get("extra") or {}, sort_keys=True)}


def hub_card(outputs: dict[tuple[str, str], list[Path]], folder: Path, command: str) -> str:
    """A dataset card (README.md) whose YAML lists one config per length and one split per task.

    With it, ``datasets.load_dataset(FOLDER, "1k", split="qa1")`` reads the folder offline,
    and the folder can be pushed to the hub as it is.
    """
    lines = ["---", "configs:"]
    for length in dict.fromkeys(length for length, _ in outputs):
        lines += [f"- config_name: {json.dumps(length)}", "  data_files:"]
        for (other, task), paths in outputs.items():
            if other == length:
                lines += [f"  - split: {json.dumps(task)}", f"    path: {json.dumps(str(paths[0].relative_to(folder)))}"]
    lines += ["---", "", "# BABILong samples", "",
              "Made by the babilong toolkit (`babilong generate`) with:", "", f"    {command}", "",
              "One config per context length, one split per task, as in the published `RMT-team/babilong` datasets:", "",
              "```python", "import datasets", "",
              f"rows = datasets.load_dataset(FOLDER_OR_REPO_ID, {json.dumps(next(iter(outputs))[0])}, split={json.dumps(next(iter(outputs))[1])})",
              "```", "",
              "Columns: `input` (background text with the facts), `question` and `target` are the published fields; the",
              "others record where each sample came from (`facts`, `supporting`, `fact_positions`, `seed`, `token_count`,",
              "`tokenizer`, `haystack`...). `manifest.json` lists the settings and the sha256 of every file.", ""]
    return "\n".join(lines)
