"""Train the default ``babilong train`` recipe on real qa1 samples, then score it on held-out ones.

Real samples: ``generate_samples`` puts qa1 facts in book text (GPT-2 tokens). Training uses
the training books and story seeds >= 1,000,000; the scores here use the test books and
seeds 0.. (as ``babilong eval`` does). Each cell is answered twice: with the memory as read,
and with the memory reset before the question (the control: what is left without memory);
"constant" is what always giving the cell's most frequent answer would score.

    OMP_NUM_THREADS=2 python benchmarks/memory_recipe.py --output runs/recipe  # the CPU recipe (30 min)
    OMP_NUM_THREADS=2 python benchmarks/memory_recipe.py --recipe long --output runs/long
        # 45 min to 32 segments, then the harness at 16k and 128k (length generalisation)
    python benchmarks/memory_recipe.py --output runs/recipe --score-only # score a finished run
    python benchmarks/memory_recipe.py --output runs/tasks --tasks qa1-qa5 --set budget-minutes=6
        # one model per task (OUTPUT/qa1 ...), each scored on its own task
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

# The CPU recipe: a tiny GPT-2 from scratch, facts alone first (most of the time: the binding
# of people to places is learned there), then book text, then more segments; batch 128 (with
# 16 the model stays at the latest-fact shortcut); answer loss over the labels; every
# person's question per context read. About 30 minutes on 2 idle cores (OMP_NUM_THREADS=2).
# The batch is left to ``babilong train``: 128 for a tiny backbone, lowered for a stage whose
# rows would not fit in memory (given explicitly, such a stage is refused instead).
CPU = {
    "backbone": "tiny", "segment": "128", "memory": "8", "curriculum": "0,1,4",
    "eval-every": "100", "val-samples": "128", "patience": "100", "budget-minutes": "30", "max-steps": "100000",
    "stage-shares": "6,1,1", "target-accuracy": "0.98",
}
# Length generalisation: the same start, then 8, 16 and 32 segments (2k-4k tokens), 45 minutes
# on 2 idle cores; lengths in a batch are drawn from 1..n segments, as in the papers.
LONG = {**CPU, "curriculum": "0,1,4,8,16,32", "stage-shares": "6,1,1,2,2,2", "budget-minutes": "45"}
RECIPES = {"cpu": (CPU, "1,4", None), "long": (LONG, "1,4,16,32", "16k,128k")}  # flags, segments scored, harness


def babilong(command: list[str]) -> None:
    """Run a ``babilong`` command in this process, printed first; stop the script if it fails."""
    from babilong.cli import main

    print("babilong " + " ".join(command), flush=True)
    if main(command) != 0:
        raise SystemExit(f"babilong {command[0]} failed")


def train(output: Path, settings: dict[str, str | None], tasks: str = "qa1") -> None:
    """``babilong train`` with ``settings`` as flags (None: a switch); its log lines are the learning curve."""
    flags = [item for key, value in settings.items() for item in ([f"--{key}"] if value is None else [f"--{key}", value])]
    babilong(["train", "--tasks", tasks, *flags, "--output", str(output)])


def with_flags(settings: dict[str, str | None], items: list[str]) -> dict[str, str | None]:
    """``settings`` with each ``--set FLAG=VALUE`` applied (a bare ``FLAG`` is a switch)."""
    changed = dict(settings)
    for item in items:
        key, equals, value = item.partition("=")
        changed[key] = value if equals else None
    return changed


def score(checkpoint: Path, lengths: list[str], samples: int, batch_size: int = 32, task: str = "qa1") -> list[dict]:
    """Accuracy on held-out samples at each length, memory kept and reset (one row per length)."""
    from babilong.generate import generate_samples
    from babilong.memory.inference import answer, load_checkpoint
    from babilong.scoring import babilong_correct

    model, tokenizer = load_checkpoint(checkpoint)
    rows = []
    for length in lengths:
        held_out = generate_samples(task, length, samples, seed=0, split="test")
        started = time.time()
        result = {"length": length, "samples": samples, "constant": constant_share(held_out)}
        for name, forget in (("memory", False), ("reset", True)):
            outputs = answer(model, tokenizer, [s.input for s in held_out], [s.question for s in held_out],
                             max_new_tokens=4, batch_size=batch_size, forget=forget)
            right = sum(babilong_correct(o, s.target, s.question, task) for o, s in zip(outputs, held_out))
            result[name] = right / samples
        result["seconds"] = round(time.time() - started, 1)
        print(json.dumps(result), flush=True)
        rows.append(result)
    return rows


def constant_share(samples: list) -> float:
    """What the best constant answer scores: the share of the most frequent target (the floor to read a cell against)."""
    from collections import Counter

    return Counter(s.target.lower() for s in samples).most_common(1)[0][1] / len(samples)


def harness(checkpoint: Path, lengths: str, samples: int, task: str = "qa1") -> None:
    """``babilong eval`` on the checkpoint at ``lengths`` (test books and seeds), into CHECKPOINT/harness."""
    babilong(["eval", "--model", "rmt", "--model-args", f"checkpoint={checkpoint},batch_size=50", "--tasks", task,
              "--lengths", lengths, "--samples", str(samples), "--output", str(checkpoint / "harness")])


def print_table(rows: list[dict]) -> None:
    print(f"\n{'length':>9} {'samples':>8} {'memory':>8} {'reset':>8} {'constant':>8} {'seconds':>8}")
    for row in rows:
        print(f"{row['length']:>9} {row['samples']:>8} {row['memory']:>8.1%} {row['reset']:>8.1%} "
              f"{row['constant']:>8.1%} {row['seconds']:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="training folder")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="cpu",
                        help="cpu: 30 minutes, scored at 1 and 4 segments; long: 45 minutes to 32 segments, "
                             "then the harness at 16k and 128k")
    parser.add_argument("--set", action="append", default=[], metavar="FLAG=VALUE",
                        help="change one training flag of the recipe, e.g. --set budget-minutes=5 or --set no-progress")
    parser.add_argument("--samples", type=int, default=200, help="held-out samples per length")
    parser.add_argument("--segments", default=None, help="lengths to score, in segments of the model (default: the recipe's)")
    parser.add_argument("--harness", default=None,
                        help="lengths for 'babilong eval' afterwards, e.g. 16k,128k (default: the recipe's; 'none': skip)")
    parser.add_argument("--score-only", action="store_true")
    parser.add_argument("--tasks", default="qa1", help="one model per task when several, e.g. qa1-qa5 (the papers' protocol)")
    args = parser.parse_args()
    from babilong.tasks import parse_tasks

    flags, segments, harness_lengths = RECIPES[args.recipe]
    tasks = parse_tasks(args.tasks)
    settings = with_flags(flags, args.set)
    if len(tasks) > 1:
        settings["per-task"] = None
    if not args.score_only:
        train(Path(args.output), settings, ",".join(tasks))
    size = int(settings["segment"])
    lengths = [str(int(n) * size) for n in (args.segments or segments).split(",")]
    harness_lengths = args.harness or harness_lengths
    for task in tasks:
        folder = Path(args.output) if len(tasks) == 1 else Path(args.output) / task
        print(f"\n{task}:")
        print_table(score(folder, lengths, args.samples, task=task))
        if harness_lengths and harness_lengths != "none":
            harness(folder, harness_lengths, args.samples, task)


if __name__ == "__main__":
    main()
