"""``babilong show-verdict``: why each scorer judged an output right or wrong.

Either a sample of a run or published folder (``SOURCE KEY``, e.g. ``runs/demo qa1/1k/3``) or a
raw output given on the command line. What is printed comes from ``scorers.explainers()``, the
same code that makes the verdicts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from babilong import arguments
from babilong.errors import BabilongError
from babilong.scorers import explainers
from babilong.scoring import Explanation
from babilong.tasks import is_task

HELP = "explain each scorer's verdict on one output: the answer statement, the labels read, the rule that decided"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", nargs="?", type=arguments.existing_folder,
                        help="a run folder written by 'babilong eval' or a published predictions folder")
    parser.add_argument("key", nargs="?", help="the sample, as task/length/index (e.g. qa1/1k/3)")
    parser.add_argument("--output", dest="text", help="explain this output instead (with --target, --question, --task)")
    parser.add_argument("--target", help="the expected answer (with --output)")
    parser.add_argument("--question", default="", help="the question asked (with --output)")
    parser.add_argument("--task", help="qa1...qa20 (with --output)")
    parser.add_argument("--color", choices=["auto", "always", "never"], default="auto")


def run(args: argparse.Namespace) -> int:
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    for record in _records(args):
        print(render(record, color))
    return 0


def _records(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The records to explain: one raw output, or the sample KEY of every source in SOURCE."""
    if args.text is not None:
        if args.source or args.key:
            raise BabilongError("give either SOURCE KEY or --output, not both")
        if not is_task(str(args.task)) or args.target is None:
            raise BabilongError("--output needs --target and --task (qa1...qa20); --question is advised")
        return [{"key": "(given output)", "task": args.task, "status": "ok", "output": args.text,
                 "target": args.target, "question": args.question}]
    if not args.source or not args.key:
        raise BabilongError("give SOURCE KEY (e.g. runs/demo qa1/1k/3), or --output with --target and --task")
    return _records_of(args.source, args.key)


def _records_of(source: Path, key: str) -> list[dict[str, Any]]:
    from babilong.sources import load_sources

    found = []
    for loaded in load_sources([source]):
        record = loaded.records.get(key)
        if record is not None:
            found.append({**record, "key": f"{loaded.title}: {key}"})
    if not found:
        raise BabilongError(f"{source} has no sample {key}: give a key as task/length/index, e.g. qa1/1k/0")
    return found


def render(record: dict[str, Any], color: bool = False) -> str:
    """The sample's question, target and output (answer statement marked), then each scorer's reasons."""
    lines = [record["key"], f"question: {str(record.get('question', '')).strip()}", f"target:   {record.get('target')}"]
    if record.get("status") != "ok":
        return "\n".join([*lines, f"not scored: {record.get('status')} ({record.get('error') or 'no output'})"])
    output = str(record["output"])
    explanations = {name: explain(output, str(record["target"]), str(record["question"]), record["task"])
                    for name, explain in explainers().items()}
    lines += ["output:", _indent(_marked(output, explanations["babilong"].span, color))]
    for name, explanation in explanations.items():
        lines += _explanation_lines(name, explanation)
    return "\n".join(lines) + "\n"


def _explanation_lines(name: str, explanation: Explanation) -> list[str]:
    verdict = "right" if explanation.correct else "wrong"
    lines = [f"{name}: {verdict} (rule {explanation.rule}: {explanation.reason})"]
    if explanation.statement is not None:
        lines.append(f"  statement: {explanation.statement!r}")
    lines.append(f"  labels read: {', '.join(explanation.labels) or 'none'}")
    lines += [f"  - {note}" for note in explanation.notes]
    return lines


def _marked(output: str, span: tuple[int, int] | None, color: bool) -> str:
    if span is None:
        return output
    on, off = ("\x1b[1;33m", "\x1b[0m") if color else ("[[", "]]")
    start, end = span
    return output[:start] + on + output[start:end] + off + output[end:]


def _indent(text: str) -> str:
    return "\n".join("  | " + line for line in text.splitlines() or [""])
