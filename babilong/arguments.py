"""Argument types for the command line: each checks one value at the edge, before any work,
and explains a refusal in one line (argparse prints it as ``argument --flag: <message>``)."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

MAX_SEED = 2**63 - 1  # seeds are stored in Parquet's signed 64-bit integers
MAX_COUNT = 2**31 - 1  # sample counts, indexes, token counts: far beyond any real run


def whole_number(low: int = 0, high: int = MAX_COUNT) -> Callable[[str], int]:
    """A type for an integer in ``[low, high]``."""

    def convert(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (give one from {low} to {high})") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: give a whole number from {low} to {high}")
        return value

    convert.__name__ = "whole number"
    return convert


def number(low: float = -math.inf, high: float = math.inf, low_open: bool = False) -> Callable[[str], float]:
    """A type for a finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    limits = [f"{'above' if low_open else 'at least'} {low:g}"] if low > -math.inf else []
    limits += [f"at most {high:g}"] if high < math.inf else []
    bounds = " and ".join(limits)

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value) or value < low or value > high or (low_open and value == low):
            raise argparse.ArgumentTypeError(f"{text} is out of range: give a finite number{' ' + bounds if bounds else ''}")
        return value

    convert.__name__ = "number"
    return convert


positive = whole_number(1)
non_negative = whole_number(0)
seed = whole_number(0, MAX_SEED)


def output_folder(text: str) -> Path:
    """A folder to write into: it may not exist yet, but it must not be a file, and the nearest
    existing folder above it must be writable. Nothing is created here."""
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file, not a folder: choose a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"{existing} is a file, so {path} cannot be a folder: choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{existing} is not writable: choose a folder you can write to")
    return path


def existing_file(text: str) -> Path:
    """A file that exists and can be read."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path} not found")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{path} is not a file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{path} is not readable: check its permissions")
    return path


def existing_folder(text: str) -> Path:
    """A folder that exists and can be listed."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is not a folder" if path.exists() else f"{path} not found")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{path} is not readable: check its permissions")
    return path


def data_source(text: str) -> str:
    """A local file or folder of samples, or a hub dataset id (``org/name``); a path must exist."""
    path = Path(text).expanduser()
    if path.exists() or text.startswith(("/", "./", "../", "~")) or text.count("/") != 1:
        return existing_path(text)
    return text


def existing_path(text: str) -> str:
    """A file or folder that exists and can be read, kept as the text given."""
    if Path(text).expanduser().is_dir():
        existing_folder(text)
    else:
        existing_file(text)
    return text
