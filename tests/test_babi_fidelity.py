"""Every task's generator resembles the original generator's reference samples (the
repository's copy in tests/data/babi-reference).

Story logic (what statements do, whom questions ask about, what supports them) and the
answer, supporting-fact and length distributions are compared at the noise level measured
by resampling the reference set against itself (see babilong/fidelity/).
The older, coarser distribution check below keeps its fixed thresholds:

Thresholds: we generate 400 stories per task. For a histogram over k categories the
expected total-variation distance from sampling noise alone is roughly sqrt(k / (2*pi*n)):
0.05-0.06 for the 6-12 answer labels or 1-9 supporting-fact counts, so 0.12 (twice the
noise) flags real drift. The facts-before-question histogram has up to ~20 bins (long
stories binned by 5), noise near 0.09, hence 0.15 there.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from babilong.errors import BabilongError
from babilong.fidelity.forms import Comparison, compare_task
from babilong.fidelity.noise import fidelity_table, measure_fidelity
from babilong.fidelity.reference import read_reference
from babilong.tasks import all_tasks

REFERENCE = Path(__file__).resolve().parent / "data" / "babi-reference"

STORIES = 400
TV_ANSWERS = 0.12
TV_SUPPORTING = 0.12
TV_FACTS_BEFORE = 0.15

# Present tasks whose distributions are known to drift from the reference: {task: why}.
# Strict: once a generator is fixed the test reports XPASS and the entry must go.
KNOWN_DRIFT: dict[str, str] = {}
NAMES = sorted(all_tasks(), key=lambda n: int(n[2:]))


@cache
def _compare(name: str) -> Comparison:
    return compare_task(all_tasks()[name], STORIES, seed=1, folder=REFERENCE)


@pytest.mark.parametrize("name", NAMES)
def test_labels_and_forms_agree(name: str) -> None:
    comparison = _compare(name)
    labels = set(all_tasks()[name].labels)
    assert all(a.lower() in labels or set(a.split(",")) <= labels for a in comparison.ours.answers)
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


LOGIC_STORIES = 1000
LOGIC_SPLITS = 60
# Metrics known to lie outside the noise level: {task: {metric: why}}. Strict both ways: a
# new one fails, and so does a listed one that has come inside (remove it then).
# Deliberate, not a gap: a bug of the reference that we do not copy.
_QA10 = ("deliberate: after 'X is in P.', the reference answers a following 'X is either in A or B.' (P not A, B)"
         " as if X were in B ('yes', resting on two facts); ours reads the pair as what it says, news that X went"
         " to A or B ('maybe', one fact)")
KNOWN_OUTSIDE: dict[str, dict[str, str]] = {
    "qa10": {m: _QA10 for m in ("TV answers", "TV supporting-fact counts")},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_story_logic_within_noise(name: str) -> None:
    measured = measure_fidelity(all_tasks()[name], LOGIC_STORIES, seed=1, folder=REFERENCE, splits=LOGIC_SPLITS)
    outside = set(measured.outside_noise())
    known = set(KNOWN_OUTSIDE.get(name, {}))
    assert len(measured.rows()) >= 4, "too few metrics measured"
    assert outside <= known, fidelity_table(measured)
    assert known <= outside, f"now inside the noise level, remove from KNOWN_OUTSIDE: {sorted(known - outside)}"


def test_a_folder_without_the_reference_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "qa2_a.txt").write_text("")
    (tmp_path / "qa2_b.txt.bz2").write_bytes(b"")
    with pytest.raises(BabilongError, match=r"expected one qa1_\*\.txt or qa1_\*\.txt\.bz2 in .*, found 0"):
        read_reference("qa1", tmp_path)
    with pytest.raises(BabilongError, match="found 2: name the folder"):
        read_reference("qa2", tmp_path)
