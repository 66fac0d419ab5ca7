"""The scorer registry, the one authority on which scorers give verdicts and how reports show them.

A scorer reads a result record (the fields named in ``reads``) and gives a verdict, or None
where it does not apply. Its version is stored beside its verdicts (``scorer_versions``), so a
changed scorer re-scores old records when they are read (``babilong.verdicts``). Its metric
says how reports show it: one table per ``accuracy`` scorer, and under each table a column
block for every other metric that applies to the run (``recall``: retrieval recall).

Most scorers read the final answer text: ``text_scorer`` adapts a function
``(output, target, question, task) -> bool`` to a record scorer whose verdicts go under the
record's ``scores``. Adding a scorer is one registration: a line in ``_built_in`` below, or
``register_scorer`` at run time (a plugin, a test).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from babilong import scoring
from babilong.errors import BabilongError
from babilong.rag import recall
from babilong.reasoning import split_reply

ACCURACY = "accuracy"  # a verdict per answered sample: right or wrong
RECALL = "recall"  # a verdict per retrieval: every supporting fact retrieved or not
DEFAULT_SCORER = "babilong"

Record = Mapping[str, Any]
TextJudge = Callable[[str, str, str, str], bool]  # (output, target, question, task) -> right
TEXT_FIELDS = ("status", "output", "prompt_opens_thinking", "target", "question", "task")


def _always(record: Record) -> bool:
    return True


@dataclass(frozen=True)
class Scorer:
    """One scorer: its name, version and metric, the record fields it reads, and its verdict on a record."""

    name: str
    version: str  # bump whenever any of its verdicts can change: stored records are re-scored when read
    metric: str  # ACCURACY or another metric (RECALL): which report table shows it
    reads: tuple[str, ...]  # the record fields its verdict depends on
    verdict: Callable[[Record], Any]  # the verdict on a record; None where it does not apply
    store: Callable[[dict[str, Any], Any], None]  # puts a verdict into a record (a copy being scored)
    stored: Callable[[Record], Any]  # the verdict a record holds (None: none); a report counts bool(it)
    applies: Callable[[Record], bool] = _always  # whether a record carries this scorer's version at all
    heading: str = ""  # what a report calls its column block (metrics other than accuracy)
    text: TextJudge | None = None  # text scorers: the verdict on an answer given directly (no record)
    explain: Callable[[str, str, str, str], scoring.Explanation] | None = None  # text scorers: the reasons


# ---- text scorers: verdicts on the final answer, kept under the record's ``scores`` ----

def scored_text(record: Record) -> str | None:
    """What text scorers read: the raw output after any thinking (``</think>``); never the thinking."""
    output = record.get("output")
    if output is None:
        return None
    return split_reply(str(output), opened=bool(record.get("prompt_opens_thinking"))).answer


def text_scorer(name: str, version: str, judge: TextJudge, explain: Callable[..., scoring.Explanation] | None = None,
                metric: str = ACCURACY) -> Scorer:
    """A scorer of the answer text: ``judge(output, target, question, task)`` on every ok record with an output."""

    def verdict(record: Record) -> bool | None:
        output = scored_text(record)
        if record.get("status") != "ok" or output is None:
            return None
        # the raw answer, as a published predictions file holds it: an export re-reads to the same verdicts
        return bool(judge(output, str(record["target"]), str(record["question"]), record["task"]))

    def store(record: dict[str, Any], value: bool | None) -> None:
        scores = {key: kept for key, kept in (record.get("scores") or {}).items() if key != name}
        if value is not None:
            scores = {**(record.get("scores") or {}), name: value}  # an existing verdict keeps its place
        record["scores"] = scores or None

    def stored(record: Record) -> bool | None:
        return (record.get("scores") or {}).get(name)

    return Scorer(name, version, metric, TEXT_FIELDS, verdict, store, stored, text=judge, explain=explain)


# ---- retrieval recall: its verdict goes into the record's ``retrieval`` ----

def _has_supporting(record: Record) -> bool:
    return (record.get("retrieval") or {}).get("supporting") is not None


def _recall_verdict(record: Record) -> dict[str, Any] | None:
    return recall.recall_verdict(record["retrieval"]) if _has_supporting(record) else None


def _store_recall(record: dict[str, Any], verdict: dict[str, Any] | None) -> None:
    if verdict is not None:
        record["retrieval"] = {**record["retrieval"], **verdict}


def _stored_recall(record: Record) -> float | None:
    return (record.get("retrieval") or {}).get("recall")


def recall_scorer() -> Scorer:
    return Scorer(recall.RECALL_SCORER, recall.RECALL_VERSION, RECALL, ("retrieval",), _recall_verdict, _store_recall,
                  _stored_recall, applies=_has_supporting,
                  heading="Retrieval recall % (top-k chunks held every supporting fact)")


# ---- the registry ----

def _built_in() -> list[Scorer]:
    return [
        text_scorer("babilong", scoring.BABILONG_VERSION, scoring.babilong_correct, scoring.explain),
        text_scorer("reference", scoring.REFERENCE_VERSION, scoring.reference_correct, scoring.explain_reference),
        recall_scorer(),
    ]


_registered: dict[str, Scorer] = {}


@cache
def all_scorers() -> dict[str, Scorer]:
    """Every scorer by name: the built-in ones first, then those registered at run time, in order."""
    return {**{scorer.name: scorer for scorer in _built_in()}, **_registered}


def register_scorer(scorer: Scorer, replace: bool = False) -> None:
    """Make a scorer give verdicts on every record scored from now on, and reports show it."""
    if not scorer.name or not scorer.name.replace("_", "").replace("-", "").isalnum():
        raise BabilongError(f"scorer name {scorer.name!r}: use letters, digits, '_' or '-'")
    if scorer.name in all_scorers() and not (replace and scorer.name in _registered):
        raise BabilongError(f"scorer {scorer.name} already exists: give the new scorer another name")
    _registered[scorer.name] = scorer
    all_scorers.cache_clear()


def unregister_scorer(name: str) -> None:
    """Forget a scorer added by ``register_scorer`` (tests)."""
    _registered.pop(name, None)
    all_scorers.cache_clear()


def get_scorer(name: str) -> Scorer:
    scorers = all_scorers()
    if name not in scorers:
        raise BabilongError(f"unknown scorer {name!r}: use one of {', '.join(scorers)}")
    return scorers[name]


def accuracy_scorers() -> list[str]:
    """The scorers a report gives an accuracy table, default first."""
    return [name for name, scorer in all_scorers().items() if scorer.metric == ACCURACY]


def other_scorers() -> list[Scorer]:
    """The scorers of other metrics (retrieval recall): shown under each accuracy table where they apply."""
    return [scorer for scorer in all_scorers().values() if scorer.metric != ACCURACY]


def text_scorers() -> dict[str, TextJudge]:
    """The scorers of answer text, as plain functions ``(output, target, question, task) -> bool``, by name."""
    return {name: scorer.text for name, scorer in all_scorers().items() if scorer.text is not None}


def explainers() -> dict[str, Callable[[str, str, str, str], scoring.Explanation]]:
    """The text scorers that can say why (``show-verdict``, the viewer), by name."""
    return {name: scorer.explain for name, scorer in all_scorers().items() if scorer.explain is not None}


def judge_answer(output: str, target: str, question: str, task: str, scorer: str | None = None) -> bool:
    """Whether ``output`` answers ``question`` with ``target``, by the default or the named text scorer."""
    chosen = get_scorer(scorer or DEFAULT_SCORER)
    if chosen.text is None:
        raise BabilongError(f"scorer {chosen.name} does not score answer text: use one of {', '.join(text_scorers())}")
    return bool(chosen.text(output, target, question, task))


def versions_text() -> str:
    """``babilong 3, reference 1, ...``: every scorer and its version, for messages."""
    return ", ".join(f"{name} {scorer.version}" for name, scorer in all_scorers().items())
