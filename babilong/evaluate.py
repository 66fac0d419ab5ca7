"""``babilong eval``: run a model over BABILong samples, store every answer, print the table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from babilong import arguments
from babilong.errors import BabilongError
from babilong.files import file_sha256
from babilong.models import BACKENDS, DEFAULT_MODEL, load_model, parse_model_args
from babilong.prompts import parse_prompt_config
from babilong.runs import Planned
from babilong.sample import Sample

HELP = "Evaluate a model on BABILong: resumable runs, accuracy table, heatmap, leaderboard export"
DEFAULT_MAX_NEW_TOKENS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from babilong.generate import add_generation_arguments

    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"backend: {', '.join(BACKENDS)} (default {DEFAULT_MODEL}, the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--model-args", default="", help="key=value,... for the backend, e.g. pretrained=PATH,batch_size=4")
    parser.add_argument("--tasks", default="qa1-qa5", help="e.g. qa1-qa5,qa7 or all (default qa1-qa5)")
    parser.add_argument("--lengths", default="0k,1k", help="e.g. 0k,4k,128k or 0k-32k (default 0k,1k)")
    parser.add_argument("--samples", type=arguments.positive, default=100, help="samples per task and length (default 100)")
    parser.add_argument("--data", type=arguments.data_source, help="read samples from a folder written by 'babilong generate' or a hub dataset id, instead of generating them")
    add_generation_arguments(parser)  # how samples are generated when --data is not given
    parser.add_argument("--prompt", default="full", help="full, bare, a name like instruction_yes_examples_no_post_prompt_yes_chat_template_yes_system_prompt_no, or a prompt file (.json)")
    parser.add_argument("--system-prompt", help="text of the system prompt (default: a short built-in one)")
    parser.add_argument("--max-new-tokens", type=arguments.positive, default=DEFAULT_MAX_NEW_TOKENS, help=f"answer length limit (default {DEFAULT_MAX_NEW_TOKENS})")
    parser.add_argument("--output", type=arguments.output_folder, help="run folder (default runs/MODEL-CONFIGHASH); rerun with the same folder to resume")
    parser.add_argument("--export", type=arguments.output_folder, help="also write predictions in the public leaderboard layout under this folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from babilong.report import report_runs
    from babilong.runs import ResultStore, RunConfig, evaluate

    prompt = parse_prompt_config(args.prompt, args.system_prompt)
    model_args = parse_model_args(args.model_args)
    plan, total, data = _plan(args)
    model = load_model(args.model, model_args)
    try:
        config = RunConfig(args.model, model.settings(), prompt, args.max_new_tokens, data)
        output = args.output or Path("runs") / f"{_slug(model.name)}-{config.hash[:8]}"
        new_folder = not output.exists()
        try:
            with ResultStore(output, config) as store:
                summary = evaluate(plan, model, config, store, progress=not args.no_progress, total=total)
        except BaseException:
            if new_folder:
                _remove_if_resultless(output)
            raise
    finally:
        model.close()
    print(f"run {output}: {summary.total} samples, {summary.skipped} already done, {summary.ok} answered, "
          f"{summary.too_long} too long, {summary.errors} errors", file=sys.stderr)
    report_runs([output], None, args.export)
    if summary.errors:
        print(f"babilong: {summary.errors} samples failed (see 'error' in {output}/results.jsonl): rerun the same command to retry them", file=sys.stderr)
        return 1
    return 0


def _remove_if_resultless(output: Path) -> None:
    """A run folder this command made, stopped before its first result: removed, so a refusal leaves nothing."""
    from babilong.runs import LOCK, MANIFEST, OWNER, RESULTS

    results = output / RESULTS
    if results.is_file() and results.stat().st_size > 0:
        return  # answers were stored: they are kept for the rerun
    for name in (RESULTS, MANIFEST, OWNER, LOCK):
        (output / name).unlink(missing_ok=True)
    try:
        output.rmdir()
    except OSError:
        pass  # it holds something else: left as it is


def _plan(args: argparse.Namespace) -> tuple[Iterable[Planned | Sample], int | None, dict[str, Any]]:
    """The samples to run (built or read only when their turn comes), how many if known, and
    a description of where they come from (part of the run's identity)."""
    from babilong.lengths import parse_lengths
    from babilong.tasks import parse_tasks

    tasks, lengths = parse_tasks(args.tasks), parse_lengths(args.lengths)
    if args.data:
        identity = data_identity(args.data, tasks, lengths)
        _check_data(args.data, tasks, lengths, args.samples)  # before the run folder is created
        return _read_groups(args.data, tasks, lengths, args.samples), None, identity
    from dataclasses import asdict

    from babilong.generate import build_sample, check_babi_count, check_length, check_memory, generation_config, prepare_haystack

    generation = generation_config(args)
    for length in lengths:  # what building a sample would refuse, refused before the run folder is made
        check_length(length, generation)
    prepare_haystack(generation, lengths)
    for length in lengths:
        check_memory(length, generation)
    check_babi_count(generation, tasks, args.samples)
    plan = [Planned(f"{task}/{length}/{index}", partial(build_sample, task, length, index, generation))
            for length in lengths for task in tasks for index in range(args.samples)]
    return plan, len(plan), {"generator": asdict(generation)}


def _read_groups(source: str, tasks: list[str], lengths: list[str], limit: int) -> Iterator[Sample]:
    """Samples of one (task, length) at a time, saying so when a group has fewer than asked."""
    from babilong.datasets import load_samples

    for length in lengths:
        for task in tasks:
            samples = load_samples(source, [task], [length], limit=limit)
            if len(samples) < limit:
                print(f"babilong: warning: {source} has {len(samples)} {task} samples at {length}, fewer than "
                      f"--samples {limit}: running those", file=sys.stderr)
            yield from samples


def _check_data(source: str, tasks: list[str], lengths: list[str], limit: int) -> None:
    """Refuse data with no samples to run, or where two samples share a (task, length, index)
    key; one group in memory at a time."""
    from babilong.datasets import load_samples

    found = 0
    for length in lengths:
        for task in tasks:
            keys = [sample.key for sample in load_samples(source, [task], [length], limit=limit)]
            found += len(keys)
            if len(keys) != len(set(keys)):
                duplicate = next(key for key in keys if keys.count(key) > 1)
                raise BabilongError(f"two samples share the key {duplicate} in {source}: the data has duplicate "
                                    "(task, length, index); fix or regenerate it")
    if not found:
        raise BabilongError(f"no samples for {','.join(tasks)} at {','.join(lengths)} in {source}{_holds(source)}: "
                            "check --data, --tasks and --lengths")


def _holds(source: str) -> str:
    """`` (it holds qa1 at 1k, ...)`` for a data file, whose samples say their task and length; else nothing."""
    from babilong.datasets import file_groups

    path = Path(source).expanduser()
    if not path.is_file():
        return ""
    groups = file_groups(path)
    return f" (it holds {', '.join(groups[:6])}{', ...' if len(groups) > 6 else ''})"


def data_identity(source: str, tasks: list[str], lengths: list[str]) -> dict[str, Any]:
    """Where samples come from, by content: the sha256 of every data file a local source reads.

    A folder regenerated with other settings hashes differently, so its run is a different
    run and old answers are never reused for new samples.
    """
    path = Path(source).expanduser()
    if path.is_file():
        return {"source": str(path.resolve()), "files": {path.name: file_sha256(path)}}
    if not path.is_dir():
        return {"source": source}  # a hub dataset id: identified by its name
    files: dict[str, str] = {}
    for length in lengths:
        for task in tasks:
            found = [f for f in sorted((path / length).glob(f"{task}[.-]*")) if f.suffix in _DATA_SUFFIXES]
            if not found:
                raise BabilongError(f"no {task} data for length {length} in {path} (looked for {length}/{task}.jsonl|.parquet)")
            files.update({str(f.relative_to(path)): file_sha256(f) for f in found})
    return {"source": str(path.resolve()), "files": files}


_DATA_SUFFIXES = (".jsonl", ".json", ".parquet")


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
