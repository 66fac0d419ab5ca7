"""Scoring as a step of its own: verdicts computed from stored records, each with its scorer's version.

The run store keeps what the model said (``output``, raw, and ``answer``, the final answer
stripped; scorers read the final answer, never a thinking model's thinking) and, for
retrieval models, what was retrieved. Verdicts come from those records by the registered
scorers (``babilong.scorers``), never from inside the model loop, so a scorer fix re-scores
old runs without calling the model again (``babilong rescore RUN``), and a record whose
verdicts came from other scorer versions is re-scored whenever it is read: one cell never
mixes two versions of a scorer. Only the scorers whose version changed score again.
"""

from __future__ import annotations

from typing import Any

from babilong.scorers import all_scorers, scored_text


def answer_of(record: dict[str, Any]) -> str | None:
    """The final answer without surrounding whitespace (stored beside the raw output, for people)."""
    text = scored_text(record)
    return None if text is None else text.strip()


def expected_versions(record: dict[str, Any]) -> dict[str, str]:
    """The scorers (name -> version) whose verdicts a record should carry now."""
    return {name: scorer.version for name, scorer in all_scorers().items() if scorer.applies(record)}


def is_current(record: dict[str, Any]) -> bool:
    return record.get("scorer_versions") == expected_versions(record)


def score_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of the record with fresh verdicts from every scorer whose stored version is not the current one."""
    scored = dict(record)
    scored["answer"] = answer_of(record)  # lines from older versions lack it
    stored = record.get("scorer_versions") or {}
    versions = expected_versions(record)
    for name, version in versions.items():
        if stored.get(name) != version:
            scorer = all_scorers()[name]
            scorer.store(scored, scorer.verdict(record))
    if "scores" not in scored or isinstance(scored["scores"], dict):  # drop verdicts of scorers no longer registered
        scores = {name: value for name, value in (scored.get("scores") or {}).items() if name in versions}
        scored["scores"] = scores or None
    scored["scorer_versions"] = versions
    return scored


def current(record: dict[str, Any]) -> dict[str, Any]:
    """The record itself when its verdicts are current, else a re-scored copy."""
    return record if is_current(record) else score_record(record)
