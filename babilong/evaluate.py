"""``babilong eval``: run a model over BABILong samples, store every answer, print the table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from babilong import arguments
from babilong.errors import BabilongError
from babilong.models import BACKENDS, DEFAULT_MODEL, load_model, parse_model_args
from babilong.prompts import parse_prompt_config
from babilong.sample import Sample

HELP = "Evaluate a model on BABILong: resumable runs, accuracy table, heatmap, leaderboard export"
DEFAULT_MAX_NEW_TOKENS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"backend: {', '.join(BACKENDS)} (default {DEFAULT_MODEL}, the embedded SmolLM2-135M-Instruct)")
    parser.add_argument("--model-args", default="", help="key=value,... for the backend, e.g. pretrained=PATH,batch_size=4")
    parser.add_argument("--tasks", default="qa1-qa5", help="e.g. qa1-qa5,qa7 or all (default qa1-qa5)")
    parser.add_argument("--lengths", default="0k,1k", help="e.g. 0k,4k,128k or 0k-32k (default 0k,1k)")
    parser.add_argument("--samples", type=arguments.positive, default=100, help="samples per task and length (default 100)")
    parser.add_argument("--data", type=arguments.data_source, help="read samples from a folder written by 'babilong generate' or a hub dataset id, instead of generating them")
    parser.add_argument("--seed", type=arguments.seed, default=0, help="generator seed when samples are generated (default 0)")
    parser.add_argument("--haystack", default="gutenberg", help="background corpus when samples are generated (default gutenberg)")
    parser.add_argument("--tokenizer", default="gpt2", help="tokenizer that measures lengths when samples are generated (default gpt2)")
    parser.add_argument("--reserve", type=arguments.non_negative, default=0, help="tokens of each length kept free for the prompt when generating (the reference data keeps about 300)")
    parser.add_argument("--prompt", default="full", help="full, bare, or a name like instruction_yes_examples_no_post_prompt_yes_chat_template_yes_system_prompt_no")
    parser.add_argument("--system-prompt", help="text of the system prompt (default: a short built-in one)")
    parser.add_argument("--max-new-tokens", type=arguments.positive, default=DEFAULT_MAX_NEW_TOKENS, help=f"answer length limit (default {DEFAULT_MAX_NEW_TOKENS})")
    parser.add_argument("--output", type=arguments.output_folder, help="run folder (default runs/MODEL-CONFIGHASH); rerun with the same folder to resume")
    parser.add_argument("--export", type=arguments.output_folder, help="also write predictions in the public leaderboard layout under this folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from babilong.report import report_runs
    from babilong.runs import ResultStore, RunConfig, _check_unique, evaluate

    if args.samples < 1:
        raise BabilongError("--samples must be at least 1")
    if args.max_new_tokens < 1:
        raise BabilongError("--max-new-tokens must be at least 1")
    prompt = parse_prompt_config(args.prompt, args.system_prompt)
    model_args = parse_model_args(args.model_args)
    samples, data = _samples(args)
    _check_unique(samples)  # before the run folder is created
    model = load_model(args.model, model_args)
    try:
        config = RunConfig(args.model, model.settings(), prompt, args.max_new_tokens, data)
        output = args.output or Path("runs") / f"{_slug(model.name)}-{config.hash[:8]}"
        store = ResultStore(output, config)
        try:
            summary = evaluate(samples, model, config, store, progress=not args.no_progress)
        finally:
            store.close()
    finally:
        model.close()
    print(f"run {output}: {summary.total} samples, {summary.skipped} already done, {summary.ok} answered, "
          f"{summary.too_long} too long, {summary.errors} errors", file=sys.stderr)
    report_runs([output], None, args.export)
    if summary.errors:
        print(f"babilong: {summary.errors} samples failed (see 'error' in {output}/results.jsonl): rerun the same command to retry them", file=sys.stderr)
        return 1
    return 0


def _samples(args: argparse.Namespace) -> tuple[list[Sample], dict[str, Any]]:
    """The samples to run and a description of where they come from (part of the run's identity)."""
    from babilong.lengths import parse_lengths
    from babilong.tasks import parse_tasks

    tasks, lengths = parse_tasks(args.tasks), parse_lengths(args.lengths)
    if args.data:
        from babilong.datasets import load_samples

        source = Path(args.data).expanduser()
        samples = load_samples(args.data, tasks, lengths, limit=args.samples)
        if not samples:
            raise BabilongError(f"no samples for {args.tasks} at {args.lengths} in {args.data}: check --data, --tasks and --lengths")
        return samples, {"source": str(source.resolve()) if source.exists() else args.data}
    from babilong.generate import generate_samples

    samples = [
        sample
        for length in lengths
        for task in tasks
        for sample in generate_samples(task, length, args.samples, seed=args.seed, haystack=args.haystack,
                                       tokenizer=args.tokenizer, reserve=args.reserve)
    ]
    data = {"generator": {"seed": args.seed, "haystack": args.haystack, "tokenizer": args.tokenizer,
                          "reserve": args.reserve, "split": "test"}}
    return samples, data


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)
