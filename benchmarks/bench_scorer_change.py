"""What a change of the default scorer does to published figures: the qa1-qa5 mean per model and length, before and after.

Reads every published prediction folder under ROOT ({org}/{model}/{task}_{length}_{prompt}.csv), scores
each output with the current `babilong` scorer and with an earlier one (a scoring.py of an earlier commit,
the baseline, also for speed), and prints per model, prompt configuration and length the mean accuracy
over qa1-qa5 (the report's `mean qa1-qa5` row) under each, the change in points, how many verdicts
changed, and which rule decided each changed verdict now.

    git show aac137c:babilong/scoring.py > /tmp/scoring_v2.py
    PYTHONPATH=$PWD python benchmarks/bench_scorer_change.py ../shared/data/leaderboard-outputs --old-scorer /tmp/scoring_v2.py
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from babilong.published import find_runs, is_published_folder, load_records
from babilong.report import MEAN_TASKS
from babilong.scorers import DEFAULT_SCORER, get_scorer
from babilong.scoring import explain
from benchmarks.bench_scorer_agreement import BenchError, _load_module, old_scorers, old_version

Cell = tuple[str, str, str]  # (model, prompt, length)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="folder holding {org}/{model}/ prediction folders")
    parser.add_argument("--old-scorer", type=Path, required=True, help="a scoring.py from an earlier commit")
    args = parser.parse_args(argv)
    try:
        old = _load_module(args.old_scorer)
        records = _published_records(args.root)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    before, old_seconds = _verdicts(records, old_scorers(old)[DEFAULT_SCORER])
    after, new_seconds = _verdicts(records, lambda *row: explain(*row).correct)
    print(f"{len(records):,} published qa1-qa5 outputs; {DEFAULT_SCORER} version {old_version(old, DEFAULT_SCORER)} "
          f"-> {get_scorer(DEFAULT_SCORER).version}")
    print(f"scoring time: old {old_seconds:.1f} s ({1e6 * old_seconds / len(records):.0f} us/output), "
          f"new with explanations {new_seconds:.1f} s ({1e6 * new_seconds / len(records):.0f} us/output)")
    _print_changed(records, before, after)
    _print_means(records, before, after)
    return 0


def _published_records(root: Path) -> list[dict]:
    folders = sorted(path for path in root.glob("*/*") if is_published_folder(path))
    if not folders:
        raise BenchError(f"no published prediction folders under {root} ({{org}}/{{model}}/{{task}}_{{length}}_....csv)")
    records = []
    for folder in folders:
        for run in find_runs(folder):
            for record in load_records(run).values():
                if record["task"] in MEAN_TASKS:
                    records.append({**record, "model": f"{run.org}/{run.model}", "prompt": run.prompt})
    return records


def _verdicts(records: list[dict], scorer) -> tuple[list[bool], float]:
    """Each record's verdict (an unanswered record is wrong, as in the report) and the seconds it took."""
    started = time.perf_counter()
    verdicts = [record["status"] == "ok" and record["output"] is not None
                and bool(scorer(record["output"], str(record["target"]), str(record["question"]), record["task"]))
                for record in records]
    return verdicts, time.perf_counter() - started


def _print_changed(records: list[dict], before: list[bool], after: list[bool]) -> None:
    changed = [i for i, (old, new) in enumerate(zip(before, after)) if old != new]
    print(f"\n{len(changed)} verdicts changed ({sum(after[i] for i in changed)} wrong -> right, "
          f"{sum(before[i] for i in changed)} right -> wrong)")
    by_rule: Counter[tuple[str, bool]] = Counter()
    by_model: Counter[str] = Counter()
    for i in changed:
        record = records[i]
        by_rule[explain(record["output"], str(record["target"]), str(record["question"]), record["task"]).rule,
                after[i]] += 1
        by_model[record["model"]] += 1
    for model, count in sorted(by_model.items()):
        print(f"  {model}: {count}")
    print("deciding rule now (-> verdict now): " + ", ".join(
        f"{rule} -> {'right' if verdict else 'wrong'} {count}" for (rule, verdict), count in by_rule.most_common()))


def _print_means(records: list[dict], before: list[bool], after: list[bool]) -> None:
    """The qa1-qa5 mean per model, prompt configuration and length: the mean of the five task accuracies."""
    cells: dict[Cell, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, record in enumerate(records):
        cells[record["model"], record["prompt"], record["length"]][record["task"]].append(i)
    print(f"\nmean qa1-qa5 accuracy (%) under {DEFAULT_SCORER}, before -> after (change in points; n outputs)")
    current = None
    for (model, prompt, length), tasks in sorted(cells.items(), key=lambda item: (*item[0][:2], _length_order(item[0][2]))):
        if (model, prompt) != current:
            current = (model, prompt)
            print(f"{model} {prompt}")
        if set(tasks) != set(MEAN_TASKS):
            print(f"  {length:>5}: not all of qa1-qa5 ({', '.join(sorted(tasks))})")
            continue
        old = _mean(tasks, before)
        new = _mean(tasks, after)
        n = sum(len(members) for members in tasks.values())
        print(f"  {length:>5}: {old:6.2f} -> {new:6.2f} ({new - old:+5.2f}; n={n})")


def _mean(tasks: dict[str, list[int]], verdicts: list[bool]) -> float:
    return sum(100 * sum(verdicts[i] for i in members) / len(members) for members in tasks.values()) / len(tasks)


def _length_order(length: str) -> float:
    number, unit = float(length[:-1]), length[-1].lower()
    return number * {"k": 1e3, "m": 1e6}.get(unit, 1)


if __name__ == "__main__":
    sys.exit(main())
