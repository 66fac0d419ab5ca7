"""Files and folders that readers never see half-written, and caches that several processes
may fill at once.

Every writer in babilong goes through ``atomic_open``/``atomic_write`` (one file) or ``atomic_folder`` (a
folder built aside and renamed into place). One writer at a time is ``WriterLock``: run folders
keep theirs inside (with a note of its holder); work that several processes could start at
the same moment (preparing a corpus, installing assets, writing a dataset) runs under
``exclusive(target)``, a lock beside the target, and looks again for the target once it holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from babilong.errors import BabilongError

PARTIAL = ".partial"  # the suffix of every file or folder still being written


@contextmanager
def atomic_open(path: Path, describe: Callable[[Path, OSError], BabilongError] | None = None) -> Iterator[BinaryIO]:
    """A binary file to write; it appears at ``path`` whole when the block ends, never half.

    It is written under a temporary name beside ``path`` and renamed at the end; on an
    error it is removed. It gets the mode any new file gets (0666 less the umask), not a
    temporary file's 0600. A failure of the system is one line: ``describe(path, error)``
    where the caller knows better what to advise, else a plain "could not write".
    """
    path = Path(path)
    temporary = _partial_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise (describe(path, error) if describe else
               BabilongError(f"cannot write to {path.parent}: {error.strerror or error}")) from None
    with _cleaned_up(path, temporary, describe):
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)


def atomic_write_path(path: Path, write: Callable[[Path], Any],
                      describe: Callable[[Path, OSError], BabilongError] | None = None) -> None:
    """For a writer that takes a file name (matplotlib, csv): ``write(temporary name)``, then
    renamed over ``path``; on any failure the temporary file is removed."""
    path = Path(path)
    temporary = _partial_name(path)
    with _cleaned_up(path, temporary, describe):
        path.parent.mkdir(parents=True, exist_ok=True)
        write(temporary)
        os.replace(temporary, path)


@contextmanager
def _cleaned_up(path: Path, temporary: Path, describe: Callable[[Path, OSError], BabilongError] | None) -> Iterator[None]:
    """On any failure the temporary file goes; a failure of the system becomes one line."""
    try:
        yield
    except BaseException as error:
        with contextlib.suppress(OSError):  # the folder itself may be what failed
            temporary.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise (describe(path, error) if describe else
                   BabilongError(f"could not write {path}: {error.strerror or error}")) from None
        raise


def atomic_write(path: Path, write: Callable[[BinaryIO], Any],
                 describe: Callable[[Path, OSError], BabilongError] | None = None) -> None:
    """Call ``write`` on a file that appears at ``path`` whole (see ``atomic_open``)."""
    with atomic_open(path, describe) as handle:
        write(handle)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """``text`` as UTF-8, written atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_folder(target: Path, fill: Callable[[Path], None]) -> None:
    """Build a folder with ``fill(staging)`` beside ``target``, then rename it to ``target``.

    A folder already at ``target`` is replaced. Call it under ``exclusive(target)`` when
    other processes may build the same folder.
    """
    target = Path(target)
    staging = _partial_name(target)
    try:
        staging.mkdir(parents=True)
        fill(staging)
        if target.exists():
            retired = _partial_name(target)
            target.rename(retired)
            staging.rename(target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            staging.rename(target)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, OSError):
            raise BabilongError(f"could not write {target}: {error.strerror or error}") from None
        raise


class WriterLock:
    """One writer at a time: an OS lock on ``lock_file``, freed when its process dies.

    With ``owner_file``, the holder leaves a note (pid, host, since when; never its command
    line, which may carry an API key) that a refused writer is shown.
    """

    def __init__(self, lock_file: Path, what: Path, advice: str, owner_file: Path | None = None) -> None:
        self.lock_file = Path(lock_file)
        self.what = what  # what the lock guards, and what to do when it is held: for the refusal
        self.advice = advice
        self.owner_file = owner_file
        self._lock: Any = None

    def acquire(self, wait: bool = False) -> None:
        """Take the lock (or wait for it), or refuse in one line naming the holder and the advice."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.lock_file), timeout=-1 if wait else 0)
        try:
            lock.acquire()
        except Timeout:
            raise BabilongError(f"{self.what} is being written by {self._owner()}: {self.advice}") from None
        self._lock = lock
        if self.owner_file is not None:
            note = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            atomic_write_text(self.owner_file, json.dumps(note) + "\n")

    def _owner(self) -> str:
        try:
            owner = json.loads(Path(self.owner_file).read_text())
            return f"another babilong process (pid {owner['pid']} on {owner['host']}, since {owner['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another babilong process"

    def release(self) -> None:
        if self._lock is not None:
            if self.owner_file is not None:
                Path(self.owner_file).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None


@contextmanager
def exclusive(target: Path, wait: bool = True, flag: str = "--output") -> Iterator[None]:
    """Hold the lock for creating ``target`` (a file or folder), across processes.

    While it is held, leftovers of writers of ``target`` that were killed are removed: only
    the holder writes there. With ``wait=False`` a held lock is refused in one line naming ``flag``.
    The lock file sits beside ``target``, so a dataset folder holds only its data.
    """
    target = Path(target) if Path(target).name else Path(target).resolve()  # "." has no name to lock by
    lock = WriterLock(target.with_name(f".{target.name}.lock"), target, f"wait for it to finish, or choose another {flag}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire(wait=wait)
    except OSError as error:
        raise BabilongError(f"cannot lock {target} for writing: {error.strerror or error}") from None
    try:
        remove_leftovers(target)
        yield
    finally:
        lock.release()


def remove_leftovers(target: Path) -> None:
    """Remove what killed writers of ``target`` left (their temporary files or folders).

    Only for a caller that is the one writer of ``target`` now.
    """
    for leftover in Path(target).parent.glob(f".{Path(target).name}.*{PARTIAL}"):
        _remove(leftover)


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """A JSON file that must hold an object (``what`` names it in errors): every problem is one line."""
    try:
        content = json.loads(Path(path).read_bytes())
    except OSError as error:
        raise BabilongError(f"cannot read {what} {path}: {error.strerror or error}") from None
    except ValueError as error:
        where = f" at line {error.lineno}: {error.msg}" if isinstance(error, json.JSONDecodeError) else " (not UTF-8 text)"
        raise BabilongError(f"{what} {path} is not valid JSON{where}") from None
    if not isinstance(content, dict):
        raise BabilongError(f"{what} {path} must hold a JSON object")
    return content


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in blocks (data files may be gigabytes)."""
    import hashlib

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as error:
        raise BabilongError(f"cannot read {path}: {error.strerror or error}") from None
    return digest.hexdigest()


def _partial_name(path: Path) -> Path:
    """A hidden name beside ``path``, unique to this writer."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
