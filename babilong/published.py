"""The public leaderboard's predictions layout: read a folder of it as a run, write a run as one.

A model's folder holds ``{task}_{length}_{prompt config}.csv`` files with the columns
``(index), target, output, question`` (one row per sample, ``output`` the raw generated text)
and, optionally, a ``.json`` beside each holding the prompt and generation settings. One
folder can hold several prompt configurations; each is a run of its own. Read back, every
output is scored again with our scorers, so published results and ours are judged alike.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babilong.errors import BabilongError
from babilong.tasks import is_task
from babilong.verdicts import score_record

FILE_NAME = re.compile(r"(qa[1-9][0-9]*)_([0-9]+(?:\.[0-9]+)?[kKmM]?)_(.+)\.csv")  # a task we know: ``_file_parts``
COLUMNS = ("target", "output", "question")
INDEX_HEADERS = ("", "Unnamed: 0", "index")  # ours, and what pandas writes for an unnamed index
# Our export writes a sample the model did not answer as one of these outputs; reading it back
# restores the status, so the sample is counted as unscored, not as a wrong answer.
UNANSWERED = {"[too_long]": "too_long", "[cut]": "cut", "[error]": "error"}


@dataclass
class PublishedRun:
    """One prompt configuration of one model folder: its prediction files and settings."""

    folder: Path
    prompt: str
    files: list[tuple[str, str, Path]] = field(default_factory=list)  # (task, length, csv)

    @property
    def model(self) -> str:
        return self.folder.name

    @property
    def org(self) -> str:
        return self.folder.parent.name

    def settings(self) -> dict[str, Any]:
        """The ``.json`` beside the first file that has one ({} if none is readable)."""
        for _, _, path in self.files:
            settings_path = path.with_suffix(".json")
            if settings_path.is_file():
                try:
                    return json.loads(settings_path.read_text())
                except (OSError, ValueError):
                    print(f"babilong: warning: {settings_path}: unreadable settings file ignored", file=sys.stderr)
        return {}


def is_published_folder(folder: Path) -> bool:
    return folder.is_dir() and any(_file_parts(path.name) for path in folder.glob("*.csv"))


def _file_parts(name: str) -> tuple[str, str, str] | None:
    """``(task, length, prompt configuration)`` of a predictions file name, if its task is one we know."""
    match = FILE_NAME.fullmatch(name)
    return match.groups() if match and is_task(match.group(1)) else None


def find_runs(folder: Path, prompts: list[str] | None = None) -> list[PublishedRun]:
    """Every prompt configuration in a model folder, or those of ``prompts`` it has (at least one)."""
    runs: dict[str, PublishedRun] = {}
    for path in sorted(folder.glob("*.csv")):
        parts = _file_parts(path.name)
        if parts:
            task, length, name = parts
            runs.setdefault(name, PublishedRun(folder, name)).files.append((task, length, path))
    if not prompts:
        return list(runs.values())
    chosen = [runs[name] for name in runs if name in prompts]
    if not chosen:
        raise BabilongError(f"{folder} has no prompt configuration {' or '.join(map(repr, prompts))}; "
                            f"it has: {', '.join(sorted(runs))}")
    return chosen


def load_records(run: PublishedRun) -> dict[str, dict[str, Any]]:
    """Every prediction of a run as a result record (as ``babilong eval`` stores them), scored afresh."""
    records: dict[str, dict[str, Any]] = {}
    if not run.files:
        raise BabilongError(f"{run.folder} has no prediction files for prompt configuration {run.prompt!r}")
    for task, length, path in run.files:
        for index, target, output, question in _rows(path):
            key = f"{task}/{length}/{index}"
            if key in records:
                raise BabilongError(f"{path}: index {index} appears twice; each row must be one sample")
            status = UNANSWERED.get(output, "ok")
            records[key] = score_record({"key": key, "task": task, "length": length, "index": index, "status": status,
                                    "target": target, "question": question, "output": output if status == "ok" else None})
    if not records:
        raise BabilongError(f"{run.folder}: the files of prompt configuration {run.prompt!r} hold no predictions "
                            "(a header and no rows): copy them again")
    return records


def _rows(path: Path) -> Iterator[tuple[int, str, str, str]]:
    """(index, target, output, question) per row, streamed; the row number when there is no index column."""
    csv.field_size_limit(sys.maxsize)  # outputs can be long: whole echoed contexts
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: a spreadsheet's byte-order mark is dropped
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise BabilongError(f"{path} is empty (not even a header row): copy it again, or move it out of the folder")
            columns = _column_positions(path, header)
            has_index = header[0].strip() in INDEX_HEADERS
            for number, row in enumerate(reader):
                if len(row) != len(header):
                    raise BabilongError(f"{path}:{reader.line_num}: {len(row)} fields where the header has "
                                        f"{len(header)}; the file is damaged, copy it again")
                index = _index(path, reader.line_num, row[0]) if has_index else number
                yield (index, *(row[columns[name]] for name in COLUMNS))
    except UnicodeDecodeError:
        raise BabilongError(f"{path} is not UTF-8 text; save it as UTF-8 CSV") from None
    except csv.Error as error:
        raise BabilongError(f"{path}: not a readable CSV ({error})") from None
    except OSError as error:
        raise BabilongError(f"cannot read {path}: {error.strerror or error}") from None


def _column_positions(path: Path, header: list[str]) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        raise BabilongError(f"{path} lacks the column(s) {', '.join(missing)}: a predictions file has "
                            f"columns (index), target, output, question")
    return {name: names.index(name) for name in COLUMNS}


def _index(path: Path, line: int, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BabilongError(f"{path}:{line}: index {text!r} is not a whole number") from None


def export_predictions(manifest: dict[str, Any], records: dict[str, dict[str, Any]], root: Path) -> Path:
    """A run of ours in the leaderboard layout: ``root/{org}/{model}/{task}_{length}_{prompt}.csv`` plus a ``.json``."""
    config = manifest["config"]
    org, model = org_and_model(config)
    prompt = config["prompt"]
    folder = root / org / model
    folder.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records.values():
        groups.setdefault((record["task"], record["length"]), []).append(record)
    settings = {"prompt": prompt, "generation": {"max_new_tokens": config["max_new_tokens"], "do_sample": False},
                "model": config["model"], "model_settings": config["model_settings"], "config_hash": manifest["config_hash"]}
    for (task, length), group in groups.items():
        stem = f"{task}_{length}_{prompt['name']}"  # a length like 1.5k holds a dot: never Path.with_suffix
        with (folder / f"{stem}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["", *COLUMNS])
            for record in sorted(group, key=lambda r: r["index"]):
                writer.writerow([record["index"], record["target"], _export_output(record), record["question"]])
        (folder / f"{stem}.json").write_text(json.dumps(settings, indent=2, default=str) + "\n")
    return folder


def _export_output(record: dict[str, Any]) -> str:
    return record["output"] if record.get("status") == "ok" else f"[{record.get('status')}]"


def org_and_model(config: dict[str, Any]) -> tuple[str, str]:
    """The leaderboard's ``{org}/{model}`` for a run of ours (``local`` when the name has no org)."""
    settings = config.get("model_settings", {})
    name = str(settings.get("pretrained") or settings.get("model") or config["model"])
    org, _, model = name.rpartition("/")
    return safe_name(org or "local"), safe_name(model)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "model"
