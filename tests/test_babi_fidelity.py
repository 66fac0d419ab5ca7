"""Every present task's generator resembles the original generator's reference samples.

Thresholds: we generate 400 stories per task. For a histogram over k categories the
expected total-variation distance from pure sampling noise is roughly sqrt(k / (2*pi*n)):
about 0.05 for 6-12 answer labels, so TV 0.1 flags real drift rather than noise. The
facts-before-question histogram has up to ~20 bins (long stories binned by 5), giving
noise near 0.09, hence 0.15 there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from babilong.tasks import all_tasks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import compare_babi_reference as fidelity  # noqa: E402

STORIES = 400
TV_ANSWERS = 0.1
TV_SUPPORTING = 0.1
TV_FACTS_BEFORE = 0.15

# Tasks whose known, documented mismatch is expected to fail a check: {task: reason}.
KNOWN_FAILURES: dict[str, str] = {}


@pytest.fixture(scope="module", params=sorted(all_tasks(), key=lambda n: int(n[2:])))
def comparison(request: pytest.FixtureRequest) -> fidelity.Comparison:
    name = request.param
    if name in KNOWN_FAILURES:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_FAILURES[name], strict=True))
    return fidelity.compare_task(all_tasks()[name], STORIES, seed=1)


def test_labels_and_forms_agree(comparison: fidelity.Comparison) -> None:
    labels = set(all_tasks()[comparison.task].labels)
    assert all(a in labels or set(a.split(",")) <= labels for a in comparison.ours.answers)
    assert not comparison.labels_only_ours
    assert not comparison.question_forms_only_ours
    assert not comparison.fact_forms_only_ours


def test_distributions_are_close(comparison: fidelity.Comparison) -> None:
    assert comparison.tv_answers < TV_ANSWERS
    assert comparison.tv_supporting < TV_SUPPORTING
    assert comparison.tv_facts_before < TV_FACTS_BEFORE
