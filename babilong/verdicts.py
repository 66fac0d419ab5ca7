"""Scoring as a step of its own: verdicts computed from stored records, each with its scorer's version.

The run store keeps what the model said (``output``, raw, and ``answer``, the final answer
stripped; scorers read the final answer, never a thinking model's thinking) and, for
retrieval models, what was retrieved. Verdicts come from those records, never from inside
the model loop, so a scorer fix re-scores old runs without calling the model again
(``babilong rescore RUN``), and a record whose verdicts came from other scorer versions is
re-scored whenever it is read: one cell never mixes two versions of a scorer.
"""

from __future__ import annotations

from typing import Any

from babilong.rag.recall import RECALL_SCORER, RECALL_VERSION, recall_verdict
from babilong.reasoning import split_reply
from babilong.scoring import SCORER_VERSIONS, SCORERS


def answer_of(record: dict[str, Any]) -> str | None:
    """The final answer without surrounding whitespace (stored beside the raw output, for people)."""
    text = scored_text(record)
    return None if text is None else text.strip()


def scored_text(record: dict[str, Any]) -> str | None:
    """What scorers read: the raw output after any thinking (``</think>``); never the thinking."""
    output = record.get("output")
    if output is None:
        return None
    return split_reply(str(output), opened=bool(record.get("prompt_opens_thinking"))).answer


def expected_versions(record: dict[str, Any]) -> dict[str, str]:
    """The scorers (name -> version) whose verdicts a record should carry now."""
    versions = dict(SCORER_VERSIONS)
    if (record.get("retrieval") or {}).get("supporting") is not None:
        versions[RECALL_SCORER] = RECALL_VERSION
    return versions


def is_current(record: dict[str, Any]) -> bool:
    return record.get("scorer_versions") == expected_versions(record)


def score_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of the record with fresh verdicts from the current scorers and their versions."""
    scored = dict(record)
    scored["answer"] = answer_of(record)  # lines from older versions lack it
    output = scored_text(record)
    if record.get("status") == "ok" and output is not None:
        # the raw answer, as a published predictions file holds it: an export re-reads to the same verdicts
        scored["scores"] = {name: bool(scorer(output, str(record["target"]), str(record["question"]), record["task"]))
                            for name, scorer in SCORERS.items()}
    else:
        scored["scores"] = None
    retrieval = record.get("retrieval")
    if retrieval:
        recall = recall_verdict(retrieval)
        if recall is not None:
            scored["retrieval"] = {**retrieval, **recall}
    scored["scorer_versions"] = expected_versions(record)
    return scored


def current(record: dict[str, Any]) -> dict[str, Any]:
    """The record itself when its verdicts are current, else a re-scored copy."""
    return record if is_current(record) else score_record(record)
