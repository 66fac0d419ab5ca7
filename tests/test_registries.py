"""The task and scorer registries are the one authority on their names: a task or a scorer added at
run time works end to end."""

import json

import pytest

from babilong.cli import main
from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.scorers import get_scorer, register_scorer, text_scorer, unregister_scorer
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


def first_word_is_target(output: str, target: str, question: str, task: str) -> bool:
    """A throwaway scorer: right iff the answer's first word is the target."""
    words = output.lower().replace(".", " ").split()
    return bool(words) and words[0] == target.lower()


def first_word_is_not_target(output: str, target: str, question: str, task: str) -> bool:
    return not first_word_is_target(output, target, question, task)


@pytest.fixture
def first_word():
    register_scorer(text_scorer("first_word", "1", first_word_is_target))
    try:
        yield
    finally:
        unregister_scorer("first_word")


def results(run):
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]


def test_a_scorer_registered_at_run_time_is_stored_reported_and_rescored_alone(first_word, tmp_path, capsys, small_books):
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["generate", "--tasks", "qa1", "--lengths", "0k", "--samples", "6", "--haystack", str(small_books),
                 "--out", str(data)]) == 0
    assert main(["eval", "--model", "echo", "--data", str(data), "--tasks", "qa1", "--lengths", "0k", "--samples", "6",
                 "--output", str(run), "--no-progress"]) == 0
    records = results(run)
    assert len(records) == 6
    for record in records:
        assert record["scorer_versions"] == {"babilong": "3", "reference": "1", "first_word": "1"}
        assert record["scores"]["first_word"] is first_word_is_target(record["output"], record["target"], "", "qa1")
    right = sum(record["scores"]["first_word"] for record in records)
    assert 0 < right < 6  # echo answers the context's last word: the asked place only sometimes
    report = (run / "report.md").read_text()
    assert "accuracy %, scorer `first_word`" in report and "accuracy %, scorer `first_word`" in capsys.readouterr().out
    assert any(",first_word,qa1,0k," in row for row in (run / "accuracy.csv").read_text().splitlines())

    # a stored babilong verdict altered by hand shows which verdicts a rescore recomputes
    records[0]["scores"]["babilong"] = not records[0]["scores"]["babilong"]
    (run / "results.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    register_scorer(text_scorer("first_word", "2", first_word_is_not_target), replace=True)
    assert main(["rescore", str(run)]) == 0
    assert "verdicts changed: babilong 0, reference 0, first_word 6" in capsys.readouterr().err
    rescored = results(run)
    assert [r["scores"]["first_word"] for r in rescored] == [not r["scores"]["first_word"] for r in records]
    assert [r["scores"]["babilong"] for r in rescored] == [r["scores"]["babilong"] for r in records]  # not re-scored
    assert all(r["scorer_versions"] == {"babilong": "3", "reference": "1", "first_word": "2"} for r in rescored)
    assert main(["report", str(run), "--no-view"]) == 0
    assert f"{100 * (6 - right) / 6:.1f} (" in (run / "report.md").read_text().split("scorer `first_word`")[1]


def test_a_scorer_name_is_taken_once():
    with pytest.raises(BabilongError, match="scorer babilong already exists"):
        register_scorer(text_scorer("babilong", "9", first_word_is_target))
    with pytest.raises(BabilongError, match="unknown scorer 'first_word'"):
        get_scorer("first_word")
