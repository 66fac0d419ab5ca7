"""The original generator's reference samples: one ``qaN_*.txt`` (or ``.txt.bz2``) per task in a folder."""

from __future__ import annotations

import bz2
from pathlib import Path

from babilong.babi_format import parse_babi
from babilong.errors import BabilongError
from babilong.tasks import Story


def reference_file(task: str, folder: Path) -> Path:
    """The one ``qaN_*.txt`` or ``qaN_*.txt.bz2`` file of ``task`` in ``folder``."""
    found = sorted(folder.glob(f"{task}_*.txt")) + sorted(folder.glob(f"{task}_*.txt.bz2"))
    if len(found) != 1:
        raise BabilongError(f"expected one {task}_*.txt or {task}_*.txt.bz2 in {folder}, found {len(found)}:"
                            " name the folder holding the original generator's samples")
    return found[0]


def reference_text(path: Path) -> str:
    """The text of a reference file, decompressed when it ends in ``.bz2``."""
    if path.suffix == ".bz2":
        return bz2.decompress(path.read_bytes()).decode("utf-8")
    return path.read_text(encoding="utf-8")


def read_reference(task: str, folder: Path) -> list[Story]:
    """Every question of ``task``'s reference file as a Story, as written."""
    path = reference_file(task, folder)
    return parse_babi(reference_text(path), task, source=str(path))
