"""``babilong merge SHARD_FOLDERS... --output RUN``: join the shards of one run into one run folder.

Shards come from ``babilong eval --shard K/N`` (one per GPU, Slurm array task or pod). They
must be of one configuration; a key answered twice (a requeued job) is kept once when both
answers agree and refused when they do not; keys no shard has finished are named, so an
unfinished shard is found before its figures are trusted.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babilong import arguments
from babilong.errors import BabilongError
from babilong.runs import FINAL, MANIFEST, RunLayout, load_run, write_run
from babilong.shards import WHOLE, keys_of_groups

HELP = "join the shard folders of one run (eval --shard K/N) into one run folder"
SHOWN_MISSING = 10  # keys named in the message when more are missing
_VOLATILE = ("latency",)  # what may differ between two runs of one key that agree


@dataclass
class Merged:
    """The records of several folders of one configuration, and what is missing from them."""

    manifest: dict[str, Any]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)  # task/length -> samples asked (the most any folder asked)
    folders: list[Path] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        done = {key for key, record in self.records.items() if record.get("status") in FINAL}
        return sorted(set(keys_of_groups(self.groups)) - done)

    def merged_manifest(self) -> dict[str, Any]:
        return {**self.manifest, "layout": RunLayout(self.groups, WHOLE).to_dict(),
                "merged_from": [str(folder) for folder in self.folders]}


def merge_folders(folders: list[Path]) -> Merged:
    """One configuration's records from every folder, checked key by key."""
    runs = []
    for folder in folders:
        manifest, loaded = load_run(folder)
        for warning in loaded.warnings:
            print(f"babilong: warning: {warning}", file=sys.stderr)
        runs.append((folder, manifest, loaded.records))
    return merge_runs(runs)


def merge_runs(runs: list[tuple[Path, dict[str, Any], dict[str, dict[str, Any]]]]) -> Merged:
    """Loaded runs ``(folder, manifest, records)`` of one configuration, joined and checked key by key."""
    merged: Merged | None = None
    owner: dict[str, Path] = {}
    for folder, manifest, records in runs:
        if merged is None:
            merged = Merged(manifest)
        elif manifest["config_hash"] != merged.manifest["config_hash"]:
            raise BabilongError(f"{folder} is a run of configuration {manifest['config_hash']}, {merged.folders[0]} of "
                                f"{merged.manifest['config_hash']}: merge only the shards of one configuration")
        merged.folders.append(folder)
        for group, count in RunLayout.of(manifest).groups.items():
            merged.groups[group] = max(merged.groups.get(group, 0), count)
        for key, record in records.items():
            _add(merged.records, owner, key, record, folder)
    if merged is None:
        raise BabilongError("no run folders to merge")
    return merged


def _add(records: dict[str, dict[str, Any]], owner: dict[str, Path], key: str, record: dict[str, Any], folder: Path) -> None:
    """Keep one record per key: a final one over an error, equal final ones once; differing final ones are refused."""
    kept = records.get(key)
    if kept is None or (kept.get("status") not in FINAL and record.get("status") in FINAL):
        records[key], owner[key] = record, folder
        return
    if record.get("status") not in FINAL or _same(kept, record):
        return
    raise BabilongError(f"{key} has different results in {owner[key]} and {folder} (status, output or verdicts "
                        "differ): the same sample was run twice with different answers; keep one of the folders")


def _same(one: dict[str, Any], other: dict[str, Any]) -> bool:
    strip = lambda record: {k: v for k, v in record.items() if k not in _VOLATILE}  # noqa: E731
    return strip(one) == strip(other)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", nargs="+", type=arguments.existing_folder, help="run folders of 'babilong eval --shard K/N'")
    parser.add_argument("--output", "--out", dest="output", required=True, type=arguments.output_folder,
                        help="the merged run folder (new, or an earlier merge of the same configuration)")


def run(args: argparse.Namespace) -> int:
    if args.output.resolve() in {folder.resolve() for folder in args.shards}:
        raise BabilongError(f"--output {args.output} is one of the shards: give a new folder for the merged run")
    merged = merge_folders(args.shards)
    if (args.output / MANIFEST).is_file():
        manifest, _ = load_run(args.output)
        if manifest["config_hash"] != merged.manifest["config_hash"]:
            raise BabilongError(f"{args.output} holds a run of another configuration: choose another --output")
    write_run(args.output, merged.merged_manifest(), merged.records.values())
    missing = merged.missing
    print(f"merged {len(merged.folders)} folders into {args.output}: {len(merged.records)} results, "
          f"{len(missing)} samples without a result", file=sys.stderr)
    if missing:
        shown = ", ".join(missing[:SHOWN_MISSING]) + (" ..." if len(missing) > SHOWN_MISSING else "")
        print(f"babilong: warning: {len(missing)} samples have no result yet ({shown}): a shard is unfinished or "
              "missing; rerun it, then merge again", file=sys.stderr)
    return 0
