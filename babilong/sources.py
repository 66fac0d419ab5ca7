"""What a report reads: runs of ours and published prediction folders, as sources of records.

A published folder with several prompt configurations gives one source per configuration;
shard folders of one run become one source, as ``babilong merge`` would join them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babilong.errors import BabilongError
from babilong.published import (
    PublishedRun,
    find_runs,
    is_published_folder,
    load_records,
    org_and_model,
    safe_name,
)


@dataclass
class Source:
    """Results to report: a run of ours or one prompt configuration of a published folder."""

    title: str
    name: str  # file-system safe, unique among the sources of one report
    records: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)  # lines for report.md: where the results come from
    run_folder: Path | None = None  # set for runs of ours: their files go there by default
    manifest: dict[str, Any] | None = None  # set for runs of ours: what an export needs
    expected: set[str] | None = None  # runs of ours: the keys asked for (missing ones are unfinished)


def load_sources(paths: list[Path], prompts: list[str] | None = None) -> list[Source]:
    """Each path as one or more sources; the same run given twice is told apart by a number."""
    sources: list[Source] = []
    for path in paths:
        sources.extend(_load(Path(path), prompts))
    sources = _join_shards(sources)
    taken: set[str] = set()
    for source in sources:
        name, title, number = source.name, source.title, 1
        while source.name in taken:
            number += 1
            source.name, source.title = f"{name}-{number}", f"{title} #{number}"
        taken.add(source.name)
    return sources


def _load(path: Path, prompts: list[str] | None) -> list[Source]:
    from babilong.runs import MANIFEST

    if (path / MANIFEST).is_file():
        return [_our_run(path)]
    if is_published_folder(path):
        return [_published_run(run) for run in find_runs(path, prompts)]
    inner = sorted(str(p.relative_to(path)) for p in path.glob("*/*") if is_published_folder(p)) if path.is_dir() else []
    hint = f"; it holds published model folders, give one of them: {', '.join(inner)}" if inner else ""
    raise BabilongError(f"{path} is not a run directory (no {MANIFEST}) nor a published predictions folder "
                        f"(no {{task}}_{{length}}_{{prompt}}.csv files){hint}")


def _our_run(path: Path) -> Source:
    from babilong.runs import RunLayout, load_run
    from babilong.shards import keys_of_groups

    manifest, loaded = load_run(path)
    for warning in loaded.warnings:
        print(f"babilong: warning: {warning}", file=sys.stderr)
    if not loaded.records:
        raise BabilongError(f"{path} has no results yet: run 'babilong eval' with --output {path} first")
    layout = RunLayout.of(manifest)
    config = manifest["config"]
    _, model = org_and_model(config)
    short_hash = manifest["config_hash"][:8]
    shard = f", shard {layout.shard}" if layout.shard.count > 1 else ""
    title = f"{model} ({config['model']}, {short_hash}{shard})"
    return Source(title, safe_name(f"{model}-{short_hash}"), loaded.records, [f"Run folder: `{path}`."],
                  run_folder=path, manifest=manifest, expected=set(keys_of_groups(layout.groups, layout.shard)))


def _join_shards(sources: list[Source]) -> list[Source]:
    """Shard folders of one configuration become one source, as ``babilong merge`` would join them."""
    from babilong.merge import merge_runs
    from babilong.runs import RunLayout
    from babilong.shards import keys_of_groups

    sharded: dict[str, list[Source]] = {}
    for source in sources:
        if source.manifest is not None and RunLayout.of(source.manifest).shard.count > 1:
            sharded.setdefault(source.manifest["config_hash"], []).append(source)
    joined: list[Source] = []
    for source in sources:
        group = sharded.get(source.manifest["config_hash"]) if source.manifest is not None else None
        if not group:
            joined.append(source)
        elif group[0] is source:
            merged = merge_runs([(s.run_folder, s.manifest, s.records) for s in group])  # loaded once, not read again
            title = source.title.rsplit(", shard", 1)[0] + f", {len(group)} shards)"
            notes = [f"Run folders (shards of one run): {', '.join(f'`{s.run_folder}`' for s in group)}."]
            joined.append(Source(title, source.name, merged.records, notes, run_folder=None,
                                 manifest=merged.merged_manifest(), expected=set(keys_of_groups(merged.groups))))
    return joined


def _published_run(run: PublishedRun) -> Source:
    records = load_records(run)
    notes = [f"Published predictions: `{run.folder}`, prompt configuration `{run.prompt}` "
             f"({len(run.files)} files), re-scored from the raw outputs."]
    settings = run.settings()
    generation = settings.get("generate_kwargs") or settings.get("generation")
    if generation:
        notes.append("Generation settings: " + ", ".join(f"{k}={v}" for k, v in generation.items()) + ".")
    title = f"{run.org}/{run.model} [{run.prompt}]"
    return Source(title, safe_name(f"{run.org}-{run.model}-{run.prompt}"), records, notes)
