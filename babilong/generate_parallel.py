"""``generate --workers N`` and ``generate --ray``: the same files as one process writes, built on many cores.

The samples of each output file are cut into blocks of consecutive indices. A worker (a
local process, or a Ray task) builds one block with the code one process uses and writes it
to part files in a scratch folder inside ``--out``; only the block's description travels to
the worker and only the part names come back. The driver takes the blocks in order, a
bounded number ahead, and puts each file together:

- a file of one block: its parts are renamed into place (the bytes one process writes, JSONL
  and Parquet alike);
- a file of several blocks: the JSONL parts are concatenated (the same bytes) and the
  Parquet parts' row groups are copied into one file (the same records; row groups end
  where blocks end).

So memory stays that of one process per worker (a long input is streamed to its JSONL part
as ``generate`` streams it), the driver holds at most one Parquet row group, and the disk
holds at most the window's blocks beyond the output.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import chain, groupby
from pathlib import Path
from typing import Any, Protocol

from babilong.errors import BabilongError
from babilong.lengths import length_tokens

BLOCK_TOKENS = 1_000_000  # the most tokens of input in one block (one sample at 1M and more)
MIN_SAMPLE_COST = 500  # the tokens a shorter sample counts for (a 0k sample still costs its story)
WINDOW_PER_WORKER = 4  # blocks handed out ahead of the one the driver waits for, per worker
SCRATCH_PREFIX = ".generate-parts-"

Outputs = dict[tuple[str, str], list[Path]]  # (length, task) -> the files of that task at that length
Progress = Callable[[int], object]


@dataclass(frozen=True)
class Block:
    """Consecutive samples of one task at one length, and the files they belong to."""

    number: int
    length: str
    task: str
    indices: range
    outputs: tuple[Path, ...]
    whole_file: bool  # the only block of its files: its parts are the files

    def parts(self, scratch: Path) -> list[Path]:
        """Where a worker writes this block, one part per output file: the file's own format when
        the block is the whole file, else JSONL, or the Parquet rows as an Arrow stream (the driver
        encodes them to Parquet once, instead of decoding a Parquet part and encoding it again)."""
        suffixes = [path.suffix if self.whole_file or path.suffix == ".jsonl" else ".arrow" for path in self.outputs]
        return [scratch / f"{self.number:07d}-{i}{suffix}" for i, suffix in enumerate(suffixes)]


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def block_ranges(length: str, indices: range) -> list[range]:
    """The blocks of one file: consecutive samples holding at most ``BLOCK_TOKENS`` tokens.

    They depend on the length and the indices only, never on the number of workers: a
    Parquet row group ends at each block's end however the file is built, so its bytes are
    the same for any ``--workers``.
    """
    size = max(1, BLOCK_TOKENS // max(length_tokens(length), MIN_SAMPLE_COST))
    return [range(first, min(first + size, indices.stop)) for first in range(indices.start, indices.stop, size)]


def plan_blocks(outputs: Outputs, indices: range) -> list[Block]:
    """Every file's blocks, in output order."""
    blocks: list[Block] = []
    for (length, task), paths in outputs.items():
        ranges = block_ranges(length, indices)
        for block in ranges:
            blocks.append(Block(len(blocks), length, task, block, tuple(paths), len(ranges) == 1))
    return blocks


def build_block(block: Block, config, scratch: Path) -> list[Path]:
    """In a worker: write one block's samples to its part files, as one process writes a whole file."""
    parts = block.parts(scratch)
    write_task(parts, block.task, block.length, block.indices, config, lambda: None)
    return parts


# ---- the driver -------------------------------------------------------------------------------


class Builders(Protocol):
    """Somewhere blocks are built: ``submit`` hands one out, ``collect`` waits for its parts."""

    workers: int  # blocks built at once

    def submit(self, block: Block, config, scratch: Path): ...

    def collect(self, handle) -> list[Path]: ...

    def close(self) -> None: ...


def write_blocks(blocks: list[Block], config, builders: Builders, out: Path, done: Progress) -> None:
    """Build ``blocks`` with ``builders`` and put every output file together in ``out``, in order."""
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=out))
    try:
        finished = _in_order(blocks, lambda block: builders.submit(block, config, scratch), builders.collect,
                             builders.workers * WINDOW_PER_WORKER)
        for _, group in groupby(finished, key=lambda item: item[0].outputs):
            _assemble(group, done)
    finally:
        builders.close()  # first: no worker may write into the scratch folder once it is removed
        shutil.rmtree(scratch, ignore_errors=True)


def remove_scratch(out: Path) -> None:
    """Remove the scratch folders of runs that were killed (call as the one writer of ``out``)."""
    for leftover in Path(out).glob(f"{SCRATCH_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _in_order(blocks: Iterable[Block], submit, collect, window: int) -> Iterator[tuple[Block, list[Path]]]:
    """Each block with its parts, in order, keeping ``window`` blocks handed out ahead."""
    waiting = iter(blocks)
    pending = deque((block, submit(block)) for _, block in zip(range(max(window, 1)), waiting))
    while pending:
        block, handle = pending.popleft()
        parts = collect(handle)
        following = next(waiting, None)
        if following is not None:
            pending.append((following, submit(following)))
        yield block, parts


def _assemble(group: Iterator[tuple[Block, list[Path]]], done: Progress) -> None:
    """One task's files at one length from its blocks' parts."""
    first = next(group)
    second = next(group, None)
    if second is None:
        block, parts = first
        for part, path in zip(parts, block.outputs):
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, path)
        done(len(block.indices))
        return
    with ExitStack() as stack:
        appenders = [stack.enter_context(_appender(path)) for path in first[0].outputs]
        for block, parts in chain([first, second], group):
            for append, part in zip(appenders, parts):
                append(part)
                part.unlink()
            done(len(block.indices))


@contextmanager
def _appender(path: Path) -> Iterator[Callable[[Path], None]]:
    """A function that appends a part's samples to ``path``, which appears whole when the block ends."""
    from babilong.files import atomic_open

    with atomic_open(path) as handle:
        if path.suffix == ".jsonl":
            yield lambda part: _copy_bytes(part, handle)
            return
        from babilong.datasets import copy_row_groups, parquet_writer

        writer = parquet_writer(handle)
        try:
            yield lambda part: copy_row_groups(part, writer)
        finally:
            writer.close()


def _copy_bytes(part: Path, handle) -> None:
    with open(part, "rb") as source:
        shutil.copyfileobj(source, handle, 1 << 20)


# ---- local processes ----------------------------------------------------------------------------


class ProcessBuilders(Builders):
    """A pool of local processes (forked where the system allows it, so they share the loaded corpus)."""

    def __init__(self, workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
        self._pool.submit(os.getpid).result()  # start the processes now, before the progress bar's thread exists

    def submit(self, block: Block, config, scratch: Path):
        return self._pool.submit(build_block, block, config, scratch)

    def collect(self, handle) -> list[Path]:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return handle.result()
        except BrokenProcessPool:
            raise BabilongError("a generation worker process died (out of memory, or killed): "
                                "rerun with fewer --workers or shorter --lengths") from None

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def write_task(paths: list[Path], task: str, length: str, indices: range, config: Any, done: Callable[[], Any]) -> None:
    """Build the samples one at a time and append each to every output file: memory stays flat in their number,
    and a long input goes to JSONL chunk by chunk. Parquet row groups end where the blocks of
    ``--workers`` end (``block_ranges``), so the bytes do not depend on the number of workers."""
    from babilong.datasets import sample_writer
    from babilong.generation import build_sample_in_pieces

    with ExitStack() as files:
        writers = [files.enter_context(sample_writer(path)) for path in paths]
        for block in block_ranges(length, indices):
            for index in block:
                sample, input_text = build_sample_in_pieces(task, length, index, config)
                for write in writers:
                    write(sample, input_text)
                done()
            for write in writers:
                write.end_row_group()
