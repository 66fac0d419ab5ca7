"""Compare our bAbI task generators with the original generator's reference samples.

For every task present, generate N stories and compare with ``qaN_*.txt`` from the
reference folder: label sets, question and fact sentence forms (templates with the
vocabulary replaced by placeholders), and distributions (facts before the question,
answers, number of supporting facts, distance from the last supporting fact to the
question).

Then, per task, story-logic metrics (what each statement does given what the text told
before it: a move, a move to where the person already is, a pick-up, drop or hand-over, a
no-op "is in", an "is in" naming another place, a negative fact and whether it names the
last told place, an "either" pair and whether it leaves out the last told place; whom a
question asks about; whether supporting facts include receipts; qa14 questions across a gap
in time slots; drop and pronoun wordings), the answer / supporting-count / length
distributions (total variation) and the mean length, each with its noise level: the 99%
quantile, over random splits of the reference stories into halves, of the distance between a
sample drawn like ours from one half and the other half. A metric beyond it is marked OUT.

The reference samples come from the generator's later rewrite, which drifts from the
released bAbI dataset that BABILong was built from (babilong/fidelity/drifts.py). Those
known drifts are undone by the explicit table NORMALISATION (babilong/fidelity/drifts.py)
before comparing; nothing else is adjusted. The measuring lives in babilong/fidelity/; this
script prints it.

Usage: python benchmarks/compare_babi_reference.py [--stories 2000] [--seed 0] [--reference DIR]
       [--splits 200] [--tasks qa9,qa10]   (DIR defaults to the repository copy, tests/data/babi-reference)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from babilong.errors import BabilongError
from babilong.fidelity.forms import Comparison, compare_task
from babilong.fidelity.noise import NOISE_QUANTILE, NOISE_SPLITS, fidelity_table, measure_fidelity
from babilong.tasks import get_task, parse_tasks

# The repository's copy of the reference samples (bzip2-compressed); --reference takes another folder.
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "babi-reference"


def _mean(values: list[int]) -> float:
    return statistics.fmean(values) if values else 0.0


def report(c: Comparison) -> str:
    def listing(title: str, items: set[str]) -> list[str]:
        return [f"  {title}: " + ("-" if not items else "; ".join(sorted(items)))]

    lines = [f"== {c.task}  (ours {len(c.ours.facts_before)} stories, reference {len(c.reference.facts_before)} questions)"]
    lines += listing("labels only in ours", c.labels_only_ours)
    lines += listing("labels only in reference", c.labels_only_reference)
    lines += listing("question forms only in ours", c.question_forms_only_ours)
    lines += listing("question forms only in reference", c.question_forms_only_reference)
    lines += listing("fact forms only in ours", c.fact_forms_only_ours)
    lines += listing("fact forms only in reference", c.fact_forms_only_reference)
    lines.append(f"  facts before question: mean ours {_mean(c.ours.facts_before):.2f} ref {_mean(c.reference.facts_before):.2f}"
                 f"  TV {c.tv_facts_before:.3f} (bin width {c.bin_width})")
    lines.append(f"  answers TV {c.tv_answers:.3f}   supporting-count TV {c.tv_supporting:.3f}")
    lines.append(f"  distance last support -> question: mean ours {_mean(c.ours.distances):.2f} ref {_mean(c.reference.distances):.2f}")
    return "\n".join(lines)


def summary(comparisons: list[Comparison]) -> str:
    head = f"{'task':5} {'labels':>6} {'q+ours':>6} {'f+ours':>6} {'q+ref':>5} {'f+ref':>5} {'facts o/r':>13} {'TVfacts':>7} {'TVans':>6} {'TVsup':>6} {'dist o/r':>11}"
    rows = [head]
    for c in comparisons:
        labels = "ok" if not c.labels_only_ours else f"+{len(c.labels_only_ours)}"
        rows.append(
            f"{c.task:5} {labels:>6} {len(c.question_forms_only_ours):6d} {len(c.fact_forms_only_ours):6d} "
            f"{len(c.question_forms_only_reference):5d} {len(c.fact_forms_only_reference):5d} "
            f"{_mean(c.ours.facts_before):6.1f}/{_mean(c.reference.facts_before):<6.1f} {c.tv_facts_before:7.3f} "
            f"{c.tv_answers:6.3f} {c.tv_supporting:6.3f} {_mean(c.ours.distances):5.2f}/{_mean(c.reference.distances):<5.2f}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=2000, help="stories generated per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", type=Path, default=REFERENCE_DIR, help="folder with qaN_*.txt")
    parser.add_argument("--splits", type=int, default=NOISE_SPLITS, help="reference half-splits for the noise level")
    parser.add_argument("--tasks", default="all", help="e.g. qa9,qa10 (default: all)")
    args = parser.parse_args(argv)
    try:
        return _compare(args)
    except BabilongError as error:
        raise SystemExit(str(error)) from None


def _compare(args: argparse.Namespace) -> int:
    tasks = [get_task(name) for name in parse_tasks(args.tasks)]
    comparisons = [compare_task(task, args.stories, args.seed, args.reference) for task in tasks]
    for c in comparisons:
        print(report(c))
        print()
    print("summary (q+/f+ = question/fact forms only in ours / only in reference)")
    print(summary(comparisons))
    print()
    print(f"## Story logic and distributions ({args.stories} stories per task, seed {args.seed};"
          f" noise = {NOISE_QUANTILE:.0%} quantile of reference half vs half over {args.splits} splits)")
    outside = {}
    for task in tasks:
        fidelity = measure_fidelity(task, args.stories, args.seed, args.reference, args.splits)
        print()
        print(fidelity_table(fidelity))
        outside[task.name] = fidelity.outside_noise()
    print()
    print("outside the noise level: " + ("; ".join(f"{t}: {', '.join(m)}" for t, m in outside.items() if m) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
