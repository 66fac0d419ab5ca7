"""``babilong eval``: run a model over BABILong samples, store every answer, print the table."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from babilong import arguments
from babilong.errors import BabilongError
from babilong.files import file_sha256
from babilong.models import BACKENDS, DEFAULT_MODEL, load_model, parse_model_args
from babilong.pipeline import Planned
from babilong.prompts import parse_prompt_config
from babilong.published_prompt import PublishedPrompt
from babilong.runs import RunLayout, remove_if_resultless
from babilong.sample import Sample
from babilong.shards import WHOLE, Shard, keys_of_groups, parse_shard, select

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
    parser.add_argument("--prompt", default="full", help="full, bare, a name like instruction_yes_examples_no_post_prompt_yes_chat_template_yes_system_prompt_no, "
                        "a prompt file (.json), or a published predictions folder (or one of its .json files): the leaderboard's own prompts")
    parser.add_argument("--system-prompt", help="text of the system prompt (default: a short built-in one)")
    parser.add_argument("--max-new-tokens", type=arguments.positive,
                        help=f"answer length limit, thinking included (default {DEFAULT_MAX_NEW_TOKENS}, or a published --prompt's own; "
                             "thinking models need far more: docs/evaluation.md)")
    parser.add_argument("--output", type=arguments.output_folder, help="run folder (default runs/MODEL-CONFIGHASH); rerun with the same folder to resume")
    parser.add_argument("--export", type=arguments.output_folder, help="also write predictions in the public leaderboard layout under this folder")
    parser.add_argument("--shard", type=parse_shard, default=WHOLE, metavar="K/N",
                        help="run only the samples of shard K of N (0 <= K < N; a hash of each sample's key) into "
                             "their own run folder, e.g. one per GPU or per Slurm array task; 'babilong merge' joins them")
    parser.add_argument("--workers", type=arguments.non_negative, default=0,
                        help="processes that build generated samples ahead of the model (default 0: built in this "
                             "process); a served model given long samples (1M tokens) may answer faster than one "
                             "process builds them")
    parser.add_argument("--dry-run", action="store_true", help="print the plan (samples, already done, prompt tokens, "
                        "cost with --price-per-mtok) and stop: no model is called, no long sample is built")
    parser.add_argument("--price-per-mtok", metavar="IN,OUT[;ABOVE:IN,OUT]", help="with --dry-run: dollars per million "
                        "prompt and answer tokens, tiers by prompt length allowed (e.g. 1.25,10;200k:2.5,15)")
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="run data-parallel model replicas on a Ray cluster: ADDRESS of a running one "
                             "('ray start --head'; HOST:6379 or ray://HOST:10001), or none for a local cluster "
                             "(pip install 'babilong[ray]'; docs/scale.md)")
    parser.add_argument("--replicas", type=arguments.positive, help="with --ray: model replicas, each loading the model once (default 1)")
    parser.add_argument("--replica-gpus", type=arguments.number(0), help="with --ray: GPUs per replica, fractions allowed for small models (default 0)")
    parser.add_argument("--replica-cpus", type=arguments.number(0, low_open=True), help="with --ray: CPUs per replica, fractions allowed; also its torch threads (default 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from babilong.pipeline import evaluate
    from babilong.report import report_runs
    from babilong.runs import ResultStore, RunConfig

    prompt = parse_prompt_config(args.prompt, args.system_prompt)
    if isinstance(prompt, PublishedPrompt):
        prompt = _published_conditions(prompt, args)
    args.max_new_tokens = args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
    model_args = parse_model_args(args.model_args)
    resources = _ray_resources(args, model_args)
    plan = _plan(args)
    if args.dry_run:
        from babilong.dry_run import plan_only

        plan_only(args, prompt, model_args, plan.layout.groups, plan.generation)
        return 0
    if resources is not None:
        output, summary = _evaluate_on_ray(args, prompt, model_args, plan, resources)
    else:
        model = load_model(args.model, model_args)
        try:
            config = RunConfig(args.model, model.settings(), prompt, args.max_new_tokens, plan.data)
            output = _output(args, model.name, config)
            with _removed_if_resultless(output), ResultStore(output, config, plan.layout) as store:
                summary = evaluate(plan.samples, model, config, store, progress=not args.no_progress, total=plan.total,
                                   builders=args.workers)
        finally:
            model.close()
    print(f"run {output}: {summary.total} samples, {summary.skipped} already done, {summary.ok} answered, "
          f"{summary.too_long} too long, {summary.cut} cut, {summary.errors} errors", file=sys.stderr)
    if summary.cut:
        print(f"babilong: warning: {summary.cut} answers were cut by --max-new-tokens {args.max_new_tokens} before the "
              "model answered (a thinking model spends its budget on thinking): they are recorded as 'cut', not "
              "scored; rerun with a larger --max-new-tokens (see docs/evaluation.md)", file=sys.stderr)
    report_runs([output], None, args.export)
    if summary.errors:
        print(f"babilong: {summary.errors} samples failed (see 'error' in {output}/results.jsonl): rerun the same command to retry them", file=sys.stderr)
        return 1
    return 0


@contextmanager
def _removed_if_resultless(output: Path) -> Iterator[None]:
    """A run folder this run created is removed again when the run fails before any result."""
    new_folder = not output.exists()
    try:
        yield
    except BaseException:
        if new_folder:
            remove_if_resultless(output)
        raise


def _output(args: argparse.Namespace, model_name: str, config: Any) -> Path:
    return args.output or Path("runs") / f"{_slug(model_name)}-{config.hash[:8]}{_shard_suffix(args.shard)}"


def _ray_resources(args: argparse.Namespace, model_args: dict[str, str]) -> Any:
    """What one replica asks of the Ray cluster (None without --ray), checked before any work."""
    flags = {"--replicas": args.replicas, "--replica-gpus": args.replica_gpus, "--replica-cpus": args.replica_cpus}
    if args.ray is None:
        given = [flag for flag, value in flags.items() if value is not None]
        if given:
            raise BabilongError(f"{', '.join(given)} only apply with --ray: add --ray (a local cluster) or --ray ADDRESS")
        return None
    if args.workers:
        raise BabilongError("--workers builds samples in this process's helpers; with --ray the replicas build "
                            "their own: drop --workers")
    from babilong import ray_eval

    resources = ray_eval.Resources(args.replicas or 1, args.replica_gpus or 0.0, args.replica_cpus or 1.0)
    ray_eval.check_request(args.model, model_args, resources)
    return resources


def _evaluate_on_ray(args: argparse.Namespace, prompt: Any, model_args: dict[str, str], plan: Plan,
                     resources: Any) -> tuple[Path, Any]:
    """The run on Ray replicas: the driver sends sample keys and writes the run folder."""
    import math

    from babilong import ray_eval
    from babilong.runs import ResultStore, RunConfig

    keys = [item.key for item in plan.samples]  # --data is read here one group at a time; only keys travel
    source = ray_eval.SampleSource(plan.generation, str(args.data) if args.data else None, args.samples)
    spec = ray_eval.ReplicaSpec(args.model, model_args, prompt, args.max_new_tokens, plan.data, source,
                                threads=max(1, math.floor(resources.cpus)), gpus=resources.gpus)
    started = ray_eval.connect(args.ray or None)
    try:
        pool = ray_eval.start_replicas(spec, resources, plan.corpus)
        try:
            config = RunConfig(args.model, pool.first["settings"], prompt, args.max_new_tokens, plan.data)
            if config.hash != pool.first["config_hash"]:
                raise BabilongError(f"the replicas' configuration hashes to {pool.first['config_hash']}, the driver's to "
                                    f"{config.hash}: the model's settings do not survive the trip; run without --ray")
            output = _output(args, pool.first["name"], config)
            with _removed_if_resultless(output), ResultStore(output, config, plan.layout) as store:
                summary = ray_eval.evaluate_on_ray(keys, pool, config, store, progress=not args.no_progress)
        finally:
            pool.close()
    finally:
        if started:
            import ray

            ray.shutdown()
    return output, summary


def _published_conditions(prompt: PublishedPrompt, args: argparse.Namespace) -> PublishedPrompt:
    """A published prompt for this run's tasks and lengths; its answer budget unless one is given."""
    from babilong.lengths import parse_lengths
    from babilong.tasks import parse_tasks

    prompt = prompt.restricted(parse_tasks(args.tasks), parse_lengths(args.lengths))
    if args.max_new_tokens is None and prompt.max_new_tokens():
        args.max_new_tokens = prompt.max_new_tokens()
    for note in prompt.notes():
        print(f"babilong: note: {note}", file=sys.stderr)
    return prompt


@dataclass
class Plan:
    """What a run will do: its samples (built or read only when their turn comes), how many
    if known, where they come from (part of the run's identity) and its layout (the groups
    and the shard, recorded in the manifest so shards can be merged and checked)."""

    samples: Iterable[Planned | Sample]
    total: int | None
    data: dict[str, Any]
    layout: RunLayout
    generation: Any = None  # the GenerationConfig when samples are generated
    corpus: Any = None  # the prepared haystack, when some length needs one (shipped to --ray replicas)


def _plan(args: argparse.Namespace) -> Plan:
    from babilong.lengths import parse_lengths
    from babilong.tasks import parse_tasks

    tasks, lengths = parse_tasks(args.tasks), parse_lengths(args.lengths)
    if args.data:
        identity = data_identity(args.data, tasks, lengths)
        groups = _check_data(args.data, tasks, lengths, args.samples)  # before the run folder is created
        samples = select(_read_groups(args.data, tasks, lengths, args.samples), args.shard)
        return Plan(samples, None, identity, RunLayout(groups, args.shard))
    from dataclasses import asdict

    from babilong.generate import (
        build_sample,
        check_babi_count,
        check_length,
        check_memory,
        generation_config,
        needs_haystack,
        prepared_corpus,
    )

    generation = generation_config(args)
    for length in lengths:  # what building a sample would refuse, refused before the run folder is made
        check_length(length, generation)
    corpus = prepared_corpus(generation) if needs_haystack(generation, lengths) else None  # a bad one fails now
    for length in lengths:
        check_memory(length, generation)
    check_babi_count(generation, tasks, args.samples)
    groups = {f"{task}/{length}": args.samples for length in lengths for task in tasks}
    planned = [Planned(key, partial(build_sample, *_key_parts(key), generation)) for key in keys_of_groups(groups, args.shard)]
    return Plan(planned, len(planned), {"generator": asdict(generation)}, RunLayout(groups, args.shard), generation, corpus)


def _key_parts(key: str) -> tuple[str, str, int]:
    task, length, index = key.split("/")
    return task, length, int(index)


def _shard_suffix(shard: Shard) -> str:
    return "" if shard == WHOLE else f"-shard{shard.index}of{shard.count}"


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


def _check_data(source: str, tasks: list[str], lengths: list[str], limit: int) -> dict[str, int]:
    """Samples per ``task/length`` group; refuse data with no samples to run, or where two
    samples share a (task, length, index) key. One group in memory at a time."""
    from babilong.datasets import load_samples

    found = 0
    groups: dict[str, int] = {}
    for length in lengths:
        for task in tasks:
            keys = [sample.key for sample in load_samples(source, [task], [length], limit=limit)]
            found += len(keys)
            groups[f"{task}/{length}"] = len(keys)
            if len(keys) != len(set(keys)):
                duplicate = next(key for key in keys if keys.count(key) > 1)
                raise BabilongError(f"two samples share the key {duplicate} in {source}: the data has duplicate "
                                    "(task, length, index); fix or regenerate it")
    if not found:
        raise BabilongError(f"no samples for {','.join(tasks)} at {','.join(lengths)} in {source}{_holds(source)}: "
                            "check --data, --tasks and --lengths")
    return groups


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
