"""``babilong eval ... --dry-run``: the plan and its cost before anything is spent.

No model is called and no long sample is built: a generated sample's context has exactly
its length in tokens (less ``--reserve``), so only the prompt's own words are counted, once
per task, with the model's tokenizer where the model args name one (else the generator's).
A 0k sample (the facts alone) is short and is built to be counted.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babilong.errors import BabilongError
from babilong.lengths import length_tokens
from babilong.shards import keys_of_groups, shard_of

_TIER = re.compile(r"^(?:(?P<above>[0-9.]+[kKmM]?):)?(?P<input>[0-9.]+),(?P<output>[0-9.]+)$")


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens, in and out, for prompts of more than ``above`` tokens."""

    above: int
    input: float
    output: float


def parse_prices(text: str) -> list[Price]:
    """``"1.25,10"`` or tiers by prompt length: ``"1.25,10;200k:2.5,15"`` (prompts over 200k tokens cost more)."""
    prices = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        match = _TIER.match(part)
        if not match:
            raise BabilongError(f"--price-per-mtok item {part!r}: write IN,OUT dollars per million tokens, with tiers "
                                "as ABOVE:IN,OUT separated by ';', e.g. 1.25,10;200k:2.5,15")
        above = length_tokens(match["above"]) if match["above"] else 0
        prices.append(Price(above, float(match["input"]), float(match["output"])))
    if not prices or prices[0].above != 0:
        raise BabilongError("--price-per-mtok needs a first price for all prompts (IN,OUT) before any ABOVE:IN,OUT tier")
    return sorted(prices, key=lambda price: price.above)


def cost(prompt_tokens: int, output_tokens: int, prices: list[Price]) -> float:
    """Dollars for one request at the tier its prompt length falls in."""
    price = [p for p in prices if prompt_tokens > p.above or p.above == 0][-1]
    return (prompt_tokens * price.input + output_tokens * price.output) / 1e6


@dataclass
class Row:
    """One length of the plan."""

    samples: int = 0
    done: int = 0
    prompt_tokens: int = 0
    cost: float = 0.0


def print_plan(args: argparse.Namespace, groups: dict[str, int], tokens_of: dict[str, int], done: set[str],
               counter: str) -> None:
    """The plan as a table: samples, already done, prompt tokens and cost per length, then totals."""
    prices = parse_prices(args.price_per_mtok) if args.price_per_mtok else None
    rows: dict[str, Row] = defaultdict(Row)
    shares: dict[int, int] = defaultdict(int)
    for key in keys_of_groups(groups):
        group, _, _ = key.rpartition("/")
        length = group.split("/")[1]
        shard = shard_of(key, args.shard.count)
        shares[shard] += 1
        if shard != args.shard.index:
            continue
        row = rows[length]
        row.samples += 1
        if key in done:
            row.done += 1
            continue
        row.prompt_tokens += tokens_of[group]
        if prices:
            row.cost += cost(tokens_of[group], args.max_new_tokens, prices)
    head = f"plan for --model {args.model}" + (f", shard {args.shard}" if args.shard.count > 1 else "")
    print(f"{head} (nothing is run; prompt tokens counted with {counter}):")
    columns = ["length", "samples", "done", "to run", "prompt tokens", "answer tokens (at most)"] + (["cost $"] if prices else [])
    print("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    total = Row()
    for length, row in rows.items():
        print(_table_row(length, row, args.max_new_tokens, bool(prices)))
        total.samples, total.done = total.samples + row.samples, total.done + row.done
        total.prompt_tokens, total.cost = total.prompt_tokens + row.prompt_tokens, total.cost + row.cost
    print(_table_row("all", total, args.max_new_tokens, bool(prices)))
    if args.shard.count > 1:
        listed = ", ".join(f"{k}/{args.shard.count}: {shares.get(k, 0)}" for k in range(args.shard.count))
        print(f"samples per shard, all {args.shard.count} shards: {listed}")
    if prices:
        print("cost: prompt tokens at the tier of their length plus every answer at --max-new-tokens (an upper bound); "
              "a retried request is billed again")


def _table_row(label: str, row: Row, max_new_tokens: int, priced: bool) -> str:
    to_run = row.samples - row.done
    cells = [label, row.samples, row.done, to_run, f"{row.prompt_tokens:,}", f"{to_run * max_new_tokens:,}"]
    return "| " + " | ".join(map(str, cells + ([f"{row.cost:,.2f}"] if priced else []))) + " |"


def prompt_overheads(tasks: list[str], prompt: Any, tokenizer: Any) -> dict[str, int]:
    """Tokens a task's prompt adds around an empty context (instruction, examples, question, template)."""
    from babilong.models.base import Prompt
    from babilong.prompts import build_prompt
    from babilong.sample import Sample

    overheads = {}
    for task in tasks:
        built: Prompt = build_prompt(Sample(input="", question="Where is Mary?", target="", task=task, length="0k"), prompt)
        overheads[task] = tokenizer(built)
    return overheads


def counting_tokenizer(model: str, model_args: dict[str, str], fallback: str) -> tuple[Any, str]:
    """A function counting a prompt's tokens with the model's own tokenizer where it is known."""
    name = model_args.get("tokenizer") or model_args.get("pretrained")
    if model == "smollm2" and not name:
        from babilong.models.smollm2 import model_folder

        name = str(model_folder())
    if name and Path(name).expanduser().exists() or name and "/" in name:
        try:
            from transformers import AutoTokenizer

            loaded = AutoTokenizer.from_pretrained(name, local_files_only=Path(name).expanduser().exists())
        except Exception as error:  # a dry run still plans with the generator's tokenizer
            print(f"babilong: warning: cannot load tokenizer {name!r} ({type(error).__name__}); counting with "
                  f"{fallback}", file=sys.stderr)
        else:
            from babilong.models import prefixed_args
            from babilong.models.chat_tokenizer import ChatTokenizer

            return ChatTokenizer(loaded, prefixed_args(model_args, "chat_template")).count_tokens, f"the model's tokenizer {name}"
    from babilong.tokens import get_tokenizer

    plain = get_tokenizer(fallback)
    return (lambda prompt: plain.count(prompt.plain_text())), f"the generator's tokenizer {fallback} (no model tokenizer named)"


def done_keys(output: Path | None) -> set[str]:
    """Keys already final in ``--output`` (if it is a run folder), without loading the model."""
    from babilong.runs import MANIFEST, load_run

    if output is None or not (output / MANIFEST).is_file():
        return set()
    _, loaded = load_run(output)
    return loaded.done()


def plan_only(args: argparse.Namespace, prompt: Any, model_args: dict[str, str], groups: dict[str, int],
              generation: Any | None) -> None:
    """Print the plan of ``babilong eval`` without calling the model or building long samples."""
    fallback = generation.tokenizer if generation is not None else "gpt2"
    count, counter = counting_tokenizer(args.model, model_args, fallback)
    tasks = sorted({group.split("/")[0] for group in groups})
    overheads = prompt_overheads(tasks, prompt, count)
    context = _generated_context if generation is not None else _read_context
    tokens_of = {group: overheads[group.split("/")[0]] + context(group, generation or args.data) for group in groups}
    print_plan(args, groups, tokens_of, done_keys(args.output), counter)


def _generated_context(group: str, generation: Any) -> int:
    """A generated context's tokens: its length less the reserve, or, at 0k, the facts of story 0."""
    task, length = group.split("/")
    tokens = length_tokens(length)
    if tokens:
        return tokens - generation.reserve
    from babilong.generate import build_sample
    from babilong.tokens import get_tokenizer

    return get_tokenizer(generation.tokenizer).count(build_sample(task, length, 0, generation).input)


def _read_context(group: str, source: str) -> int:
    """The mean context tokens of a data group (its recorded counts, else characters / 4)."""
    from babilong.datasets import load_samples

    task, length = group.split("/")
    samples = load_samples(source, [task], [length], limit=None)
    sizes = [s.token_count if s.token_count is not None else len(s.input) // 4 for s in samples]
    return sum(sizes) // max(len(sizes), 1)
