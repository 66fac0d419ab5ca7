"""``babilong rescore RUN...``: re-score stored outputs with the current scorers, without the model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babilong.runs import rescore_run
from babilong.scorers import versions_text

HELP = "re-score the stored outputs of eval runs with the current scorers (no model is called)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, help="run directories written by 'babilong eval'")


def run(args: argparse.Namespace) -> int:
    versions = versions_text()
    for directory in args.runs:
        changed = rescore_run(directory)
        summary = ", ".join(f"{name} {count}" for name, count in changed.items()) or "no results"
        print(f"{directory}: scored with {versions}; verdicts changed: {summary}", file=sys.stderr)
    return 0
