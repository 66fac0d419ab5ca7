"""``babilong show FILE``: one sample, with its facts highlighted and long background elided."""

from __future__ import annotations

import argparse
import sys

from babilong import arguments
from babilong.datasets import read_file
from babilong.errors import BabilongError
from babilong.sample import Sample

HELP = "print one sample of a data file with its facts highlighted"
CONTEXT_CHARS = 160


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=arguments.existing_file, help="a .jsonl or .parquet file written by 'babilong generate'")
    parser.add_argument("--index", type=arguments.non_negative, default=0, help="which sample (default 0)")
    parser.add_argument("--full", action="store_true", help="print the whole input instead of the text around the facts")
    parser.add_argument("--color", choices=["auto", "always", "never"], default="auto")


def run(args: argparse.Namespace) -> int:
    samples = read_file(args.file)
    if not samples:
        raise BabilongError(f"{args.file} holds no samples: regenerate it with 'babilong generate'")
    if not 0 <= args.index < len(samples):
        raise BabilongError(f"{args.file} has {len(samples)} samples: --index must be 0..{len(samples) - 1}")
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    print(render(samples[args.index], color=color, full=args.full))
    return 0


def render(sample: Sample, color: bool = False, full: bool = False) -> str:
    mark_on, mark_off = ("\x1b[1;33m", "\x1b[0m") if color else ("[[", "]]")
    header = [
        f"{sample.key}  tokens={sample.token_count}  tokenizer={sample.tokenizer}  haystack={sample.haystack}"
        + ("  (background reused)" if sample.background_reused else ""),
        f"question: {sample.question}",
        f"target:   {sample.target}",
    ]
    spans = _fact_spans(sample)
    for number, (start, end) in enumerate(spans):
        depth = sample.fact_positions[number].depth
        support = " (supporting)" if number in sample.supporting else ""
        header.append(f"fact {number} at char {start}, {depth:.1f}% deep{support}: {sample.input[start:end]}")
    return "\n".join(header) + "\n\n" + _highlight(sample.input, spans, mark_on, mark_off, full)


def _fact_spans(sample: Sample) -> list[tuple[int, int]]:
    return [(p.char, p.char + len(fact)) for p, fact in zip(sample.fact_positions, sample.facts)]


def _highlight(text: str, spans: list[tuple[int, int]], on: str, off: str, full: bool) -> str:
    parts: list[str] = []
    cursor = 0
    for start, end in spans:
        parts.append(_gap(text[cursor:start], full, first=not parts, last=False))
        parts.append(on + text[start:end] + off)
        cursor = end
    parts.append(_gap(text[cursor:], full, first=not parts, last=True))
    return "".join(parts)


def _gap(text: str, full: bool, first: bool, last: bool) -> str:
    """Background between facts: kept whole with --full, else its ends around a marker."""
    if full or len(text) <= 2 * CONTEXT_CHARS:
        return text
    head = "" if first else text[:CONTEXT_CHARS]
    tail = "" if last else text[-CONTEXT_CHARS:]
    return f"{head} … [{len(text) - len(head) - len(tail):,} characters] … {tail}"
