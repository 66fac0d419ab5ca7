"""How well each scorer agrees with hand labels, and what a scorer change does to published outputs.

Agreement (always): reads the labelled set (rows with task, question, target, output, stratum,
label in correct/wrong/ambiguous) and the stratum sizes (strata.json: total, disagree, agree),
prints per stratum each scorer's agreement with the non-ambiguous labels, and the population
estimate: the per-stratum agreement weighted by the stratum's share of all outputs.

    PYTHONPATH=$PWD python benchmarks/bench_scorer_agreement.py [tests/data/scoring/labelled.jsonl]

A set drawn by kind of output (rules2.jsonl, whose `stratum` is the kind) gets its agreement per kind
and over the whole set instead; it is no sample of the population, so no estimate is printed.

    PYTHONPATH=$PWD python benchmarks/bench_scorer_agreement.py tests/data/scoring/rules2.jsonl

Changes (with --outputs DIR): scores every output in a folder of published predictions
(`{model}/{task}_{length}_{prompt config}.csv` with target, output, question columns) with
every scorer, and, given --old-scorer (a scoring.py of an earlier commit), with that one's
scorers too: how many verdicts changed, a few random changed examples, and the mean accuracy
per model and task under each scorer.

    git show 34104ea:babilong/scoring.py > /tmp/old_scoring.py
    PYTHONPATH=$PWD python benchmarks/bench_scorer_agreement.py \\
        --outputs ../shared/data/leaderboard-outputs --old-scorer /tmp/old_scoring.py
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from babilong.scorers import DEFAULT_SCORER, text_scorers
from babilong.tasks import is_task

Scorer = Callable[[str, str, str, str], bool]
STRATA = ("disagree", "agree")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("labelled", nargs="?", default="tests/data/scoring/labelled.jsonl", type=Path)
    parser.add_argument("--strata", type=Path, help="stratum sizes (default: strata.json beside the labelled set)")
    parser.add_argument("--outputs", type=Path, help="a folder of published predictions to re-score")
    parser.add_argument("--old-scorer", type=Path, help="a scoring.py from an earlier commit, to compare with")
    parser.add_argument("--examples", type=int, default=6, help="random changed verdicts to show (default 6)")
    args = parser.parse_args(argv)
    try:
        old = _load_module(args.old_scorer) if args.old_scorer else None
        scorers = {**text_scorers(), **({f"old {name}": scorer for name, scorer in old_scorers(old).items()} if old else {})}
        rows = _read_jsonl(args.labelled)
        if {row["stratum"] for row in rows} <= set(STRATA):
            print_agreement(rows, _read_strata(args.strata or args.labelled.with_name("strata.json")), scorers)
        else:
            print_agreement_by_kind(rows, scorers)
        if args.outputs:
            print_changes(read_published(args.outputs), scorers, args.examples)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


class BenchError(Exception):
    """Bad input, said in one line."""


# ---------------------------------------------------------------------------------------------
# Agreement with the labels.

def agreement(rows: list[dict], scorer: Scorer) -> dict[str, tuple[int, int]]:
    """Per stratum: (verdicts equal to the label, non-ambiguous rows)."""
    agreed: Counter[str] = Counter()
    counted: Counter[str] = Counter()
    for row in rows:
        if row["label"] == "ambiguous":
            continue
        counted[row["stratum"]] += 1
        agreed[row["stratum"]] += scorer(row["output"], row["target"], row["question"], row["task"]) == (
            row["label"] == "correct")
    return {stratum: (agreed[stratum], counted[stratum]) for stratum in counted}


def print_agreement(rows: list[dict], strata: dict[str, int], scorers: dict[str, Scorer]) -> None:
    labels = Counter((row["stratum"], row["label"]) for row in rows)
    print(f"labelled set: {len(rows)} rows; stratum sizes {strata}")
    for stratum in STRATA:
        print(f"  {stratum}: " + ", ".join(f"{labels[stratum, label]} {label}" for label in ("correct", "wrong", "ambiguous")))
    header = f"{'scorer':<18}" + "".join(f"{stratum + ' stratum':>22}" for stratum in STRATA) + f"{'population':>13}"
    print(header)
    for name, scorer in scorers.items():
        by_stratum = agreement(rows, scorer)
        cells, estimate = [], 0.0
        for stratum in STRATA:
            agreed, counted = by_stratum.get(stratum, (0, 0))
            share = agreed / counted if counted else float("nan")
            cells.append(f"{agreed}/{counted} = {100 * share:6.2f}%")
            estimate += share * strata[stratum] / strata["total"]
        print(f"{name:<18}" + "".join(f"{cell:>22}" for cell in cells) + f"{100 * estimate:12.2f}%")
    print("population = sum over strata of (agreement in the stratum x stratum size / total)")


def print_agreement_by_kind(rows: list[dict], scorers: dict[str, Scorer]) -> None:
    kinds = sorted({row["stratum"] for row in rows})
    labels = Counter((row["stratum"], row["label"]) for row in rows)
    print(f"labelled set drawn by kind: {len(rows)} rows")
    for kind in kinds:
        print(f"  {kind}: " + ", ".join(f"{labels[kind, label]} {label}" for label in ("correct", "wrong", "ambiguous")))
    print(f"{'scorer':<18}" + "".join(f"{kind:>14}" for kind in kinds) + f"{'all':>22}")
    for name, scorer in scorers.items():
        by_kind = agreement(rows, scorer)
        agreed, counted = (sum(by_kind[kind][i] for kind in kinds) for i in (0, 1))
        print(f"{name:<18}" + "".join(f"{f'{by_kind[kind][0]}/{by_kind[kind][1]}':>14}" for kind in kinds)
              + f"{f'{agreed}/{counted} = {100 * agreed / counted:6.2f}%':>22}")


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise BenchError(f"no labelled set at {path}; pass its path as the first argument")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as problem:
            raise BenchError(f"{path}:{number}: not JSON ({problem.msg}); fix or remove that line") from None
        missing = {"task", "question", "target", "output", "stratum", "label"} - set(row)
        if missing:
            raise BenchError(f"{path}:{number}: missing {', '.join(sorted(missing))}; every row needs them")
        if row["label"] not in ("correct", "wrong", "ambiguous"):
            raise BenchError(f"{path}:{number}: label must be correct, wrong or ambiguous")
        rows.append(row)
    return rows


def _read_strata(path: Path) -> dict[str, int]:
    if not path.exists():
        raise BenchError(f"no stratum sizes at {path}; pass --strata with a strata.json (total, disagree, agree)")
    sizes = json.loads(path.read_text())
    if not all(isinstance(sizes.get(key), int) for key in ("total", *STRATA)):
        raise BenchError(f"{path} needs whole numbers for total, disagree and agree")
    return {key: sizes[key] for key in ("total", *STRATA)}


# ---------------------------------------------------------------------------------------------
# What a scorer change does to published outputs.

def read_published(root: Path) -> list[dict]:
    """Every output under ``root`` in the published predictions layout, for tasks with labels."""
    if not root.is_dir():
        raise BenchError(f"{root} is not a folder of published predictions ({{model}}/{{task}}_{{length}}_....csv)")
    csv.field_size_limit(1 << 30)
    rows = []
    for path in sorted(root.rglob("*.csv")):
        task = path.name.split("_")[0]
        if not is_task(task):
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                rows.append({"model": path.parent.name, "task": task, "target": row["target"],
                             "output": row["output"] or "", "question": row["question"]})
    if not rows:
        raise BenchError(f"no {{task}}_*.csv files with known tasks under {root}")
    return rows


def print_changes(rows: list[dict], scorers: dict[str, Scorer], examples: int) -> None:
    verdicts, seconds = {}, {}
    for name, scorer in scorers.items():
        started = time.perf_counter()
        verdicts[name] = [scorer(r["output"], r["target"], r["question"], r["task"]) for r in rows]
        seconds[name] = time.perf_counter() - started
    print(f"\n{len(rows)} published outputs re-scored")
    for name in scorers:
        print(f"  {name}: {seconds[name]:.2f} s ({1e6 * seconds[name] / len(rows):.0f} us per output)")
    names = list(scorers)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            changed = sum(a != b for a, b in zip(verdicts[first], verdicts[second]))
            print(f"  {first} vs {second}: {changed} verdicts differ")
    for baseline in [name for name in ("old babilong", "reference") if name in verdicts]:
        _print_changed_examples(rows, verdicts, baseline, examples)
    print("\nmean accuracy (%) per model and task")
    print(f"{'model':<28}{'task':<6}{'n':>7}" + "".join(f"{name:>15}" for name in names))
    cells: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        cells[row["model"], row["task"]].append(i)
    for (model, task), members in sorted(cells.items(), key=lambda item: (item[0][0], int(item[0][1][2:]))):
        means = [100 * sum(verdicts[name][i] for i in members) / len(members) for name in names]
        print(f"{model:<28}{task:<6}{len(members):>7}" + "".join(f"{mean:15.2f}" for mean in means))


def _print_changed_examples(rows: list[dict], verdicts: dict[str, list[bool]], baseline: str, examples: int) -> None:
    changed = [i for i, (ours, theirs) in enumerate(zip(verdicts[DEFAULT_SCORER], verdicts[baseline])) if ours != theirs]
    shown = random.Random(0).sample(changed, min(examples, len(changed)))
    print(f"\n{len(shown)} random outputs where {DEFAULT_SCORER} and {baseline} differ (seed 0):")
    for i in shown:
        row = rows[i]
        print(f"  {row['model']} {row['task']} | {row['question'].strip()} | target {row['target']} | "
              f"{DEFAULT_SCORER} {verdicts[DEFAULT_SCORER][i]}, {baseline} {verdicts[baseline][i]}\n"
              f"    {row['output'][:160]!r}")


def old_scorers(module: ModuleType) -> dict[str, Scorer]:
    """The text scorers of a scoring.py from an earlier commit (before the scorer registry: its SCORERS)."""
    if hasattr(module, "SCORERS"):
        return dict(module.SCORERS)
    return {"babilong": module.babilong_correct, "reference": module.reference_correct}


def old_version(module: ModuleType, name: str) -> str:
    if hasattr(module, "SCORER_VERSIONS"):
        return module.SCORER_VERSIONS[name]
    return getattr(module, f"{name.upper()}_VERSION")


def _load_module(path: Path) -> ModuleType:
    if not path.exists():
        raise BenchError(f"no scorer module at {path}; write one with git show REV:babilong/scoring.py > FILE")
    spec = importlib.util.spec_from_file_location("old_scoring", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there while it loads
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    sys.exit(main())
