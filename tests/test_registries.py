"""The task registry is the one authority on task names: a task added at run time works end to end."""

import json

import pytest

from babilong.cli import main
from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.tasks import Story, Task, get_task, parse_tasks, register_task, unregister_task

COLOURS = ("red", "green", "blue")


def paint(rng: Rng) -> Story:
    """A throwaway task: one thing painted several times; the question asks its last colour."""
    facts = tuple(f"The fence was painted {rng.choice(COLOURS)}." for _ in range(3))
    return Story("qa21", facts, "What colour is the fence?", facts[-1].split()[-1].rstrip("."), (2,))


def last_colour(facts, question) -> str:
    return [fact.rstrip(".").split()[-1] for fact in facts if "painted" in fact][-1]


PAINT = Task("qa21", "last colour", COLOURS, paint, last_colour, "Answer with one word: a colour.", "")


@pytest.fixture
def qa21():
    register_task(PAINT)
    try:
        yield PAINT
    finally:
        unregister_task("qa21")


def test_a_task_registered_at_run_time_is_generated_evaluated_and_reported(qa21, tmp_path, capsys, small_books):
    assert parse_tasks("qa20-qa21") == ["qa20", "qa21"] and get_task("qa21") is PAINT
    data = tmp_path / "data"
    assert main(["generate", "--tasks", "qa21", "--lengths", "0k,1k", "--samples", "3", "--haystack", str(small_books),
                 "--out", str(data)]) == 0
    sample = json.loads((data / "1k" / "qa21.jsonl").read_text().splitlines()[0])
    assert sample["target"] in COLOURS and "fence" in sample["input"]
    run = tmp_path / "run"
    assert main(["eval", "--model", "echo", "--data", str(data), "--tasks", "qa21", "--lengths", "0k,1k", "--samples", "3",
                 "--output", str(run), "--no-progress"]) == 0
    records = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all(r["status"] == "ok" and r["scores"] is not None for r in records)
    assert any(r["scores"]["babilong"] for r in records)  # echo answers the context's last word: a colour at 0k
    assert "| qa21 |" in capsys.readouterr().out


def test_an_unknown_or_clashing_task_is_refused(qa21):
    with pytest.raises(BabilongError, match="unknown task 'qa22'.*qa1 ... qa21"):
        parse_tasks("qa22")
    with pytest.raises(BabilongError, match="already exists"):
        register_task(Task("qa3", "x", COLOURS, paint, last_colour, "", ""))
