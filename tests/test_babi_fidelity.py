"""Every present task's generator resembles the original generator's reference samples.

Thresholds: we generate 400 stories per task. For a histogram over k categories the
expected total-variation distance from sampling noise alone is roughly sqrt(k / (2*pi*n)):
0.05-0.06 for the 6-12 answer labels or 1-9 supporting-fact counts, so 0.12 (twice the
noise) flags real drift. The facts-before-question histogram has up to ~20 bins (long
stories binned by 5), noise near 0.09, hence 0.15 there.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import pytest

from babilong.tasks import all_tasks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import compare_babi_reference as fidelity  # noqa: E402

STORIES = 400
TV_ANSWERS = 0.12
TV_SUPPORTING = 0.12
TV_FACTS_BEFORE = 0.15

# Present tasks whose distributions are known to drift from the reference: {task: why}.
# Strict: once a generator is fixed the test reports XPASS and the entry must go.
KNOWN_DRIFT: dict[str, str] = {
    "qa5": "stories shorter than the reference (about 19 vs 24.5 facts before a question): the reference text"
           " repeats and loses statements inside its shuffled segments, a mechanism not reproduced",
}
NAMES = sorted(all_tasks(), key=lambda n: int(n[2:]))


@cache
def _compare(name: str) -> fidelity.Comparison:
    return fidelity.compare_task(all_tasks()[name], STORIES, seed=1)


@pytest.mark.parametrize("name", NAMES)
def test_labels_and_forms_agree(name: str) -> None:
    comparison = _compare(name)
    labels = set(all_tasks()[name].labels)
    assert all(a in labels or set(a.split(",")) <= labels for a in comparison.ours.answers)
    assert not comparison.labels_only_ours
    assert not comparison.question_forms_only_ours
    assert not comparison.fact_forms_only_ours


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_DRIFT[n], strict=True)) if n in KNOWN_DRIFT else n
    for n in NAMES
])
def test_distributions_are_close(name: str) -> None:
    comparison = _compare(name)
    assert comparison.tv_answers < TV_ANSWERS
    assert comparison.tv_supporting < TV_SUPPORTING
    assert comparison.tv_facts_before < TV_FACTS_BEFORE
