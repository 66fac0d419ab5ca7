"""``babilong rescore RUN...``: re-score stored outputs with the current scorers, without the model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babilong.errors import BabilongError
from babilong.runs import MANIFEST, RESULTS, read_manifest, rescore_file, run_lock
from babilong.scorers import versions_text

HELP = "re-score the stored outputs of eval runs with the current scorers (no model is called)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, help="run directories written by 'babilong eval'")


def run(args: argparse.Namespace) -> int:
    versions = versions_text()
    for directory in args.runs:
        if not (directory / MANIFEST).is_file():
            raise BabilongError(f"{directory} is not a run directory (no {MANIFEST}): give a folder written by 'babilong eval'")
        read_manifest(directory / MANIFEST)
        if (directory / RESULTS).exists() and not (directory / RESULTS).is_file():
            raise BabilongError(f"{directory / RESULTS} is not a file: a run's results are one file; move that "
                                "folder away and rescore again")
        lock = run_lock(directory)
        try:
            lock.acquire()  # the rewrite must not race a running eval
        except OSError as error:
            raise BabilongError(f"cannot lock {directory}: {error.strerror or error}") from None
        try:
            changed = rescore_file(directory / RESULTS) if (directory / RESULTS).exists() else {}
        finally:
            lock.release()
        summary = ", ".join(f"{name} {count}" for name, count in changed.items()) or "no results"
        print(f"{directory}: scored with {versions}; verdicts changed: {summary}", file=sys.stderr)
    return 0
