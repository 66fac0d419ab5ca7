"""``report A B --agreement``, and the reproduction path: published prompts -> our run -> agreement."""

import csv
from pathlib import Path

import pytest

from babilong.cli import main
from babilong.datasets import write_samples
from babilong.published import find_runs, load_records
from babilong.sample import Sample
from tests.helpers import make_samples

PUBLISHED = Path(__file__).parent / "data" / "published"
GEMINI = PUBLISHED / "google" / "gemini-3-flash-preview"
PHI3 = PUBLISHED / "microsoft" / "Phi-3-mini-128k-instruct"


def agreement_rows(path: Path, scorer: str = "babilong") -> dict[tuple[str, str], dict]:
    with (path / "agreement.csv").open() as handle:
        return {(row["task"], row["length"]): row for row in csv.DictReader(handle) if row["scorer"] == scorer}


def eval_echo(tmp_path: Path, name: str, data: Path, *extra: str, tasks: str = "qa1,qa2", lengths: str = "0k",
              samples: int = 6) -> Path:
    run = tmp_path / name
    assert main(["eval", "--model", "echo", "--data", str(data), "--tasks", tasks, "--lengths", lengths,
                 "--samples", str(samples), "--output", str(run), "--no-progress", *extra]) == 0
    return run


@pytest.fixture
def data(tmp_path) -> Path:
    folder = tmp_path / "data"
    for task in ("qa1", "qa2"):
        write_samples(make_samples(task, count=6), folder / "0k" / f"{task}.jsonl")
    return folder


def test_a_run_agrees_fully_with_its_own_export(tmp_path, data, capsys):
    run = eval_echo(tmp_path, "run", data, "--export", str(tmp_path / "export"))
    capsys.readouterr()
    assert main(["report", str(run), str(tmp_path / "export" / "local" / "echo"), "--agreement",
                 "--out", str(tmp_path / "agree")]) == 0
    printed = capsys.readouterr().out
    assert "| qa1 | 0k | 100.0 (61.0-100.0) | 100.0 (61.0-100.0) | 6 | 100.0 | 100.0 |" in printed
    for scorer in ("babilong", "reference"):
        rows = agreement_rows(tmp_path / "agree", scorer)
        assert set(rows) == {("qa1", "0k"), ("qa2", "0k"), ("all", "")}
        assert all(row["compared"] == "6" for key, row in rows.items() if key[0] != "all")
        assert all(row["verdicts_agree_pct"] == row["outputs_equal_pct"] == "100.0" for row in rows.values())


def test_another_model_does_not_agree(tmp_path, data, capsys):
    run = eval_echo(tmp_path, "run", data, "--export", str(tmp_path / "export"))
    other = eval_echo(tmp_path, "other", data, "--model-args", "reply=The answer is kitchen.")
    capsys.readouterr()
    assert main(["report", str(other), str(run), "--agreement", "--out", str(tmp_path / "agree")]) == 0
    rows = agreement_rows(tmp_path / "agree")
    # make_samples cycles six rooms: one sample in six is the kitchen, where the two agree in verdict only
    assert rows[("qa1", "0k")]["verdicts_agree"] == "1" and rows[("qa1", "0k")]["outputs_equal"] == "0"
    assert rows[("all", "")]["verdicts_agree_pct"] == "16.7" and rows[("all", "")]["outputs_equal_pct"] == "0.0"
    assert rows[("qa1", "0k")]["a_accuracy"] == "16.67" and rows[("qa1", "0k")]["b_accuracy"] == "100.00"


def test_cut_samples_agree_only_with_cut(tmp_path):
    from babilong.agreement import compare

    base = {"task": "qa1", "length": "0k", "target": "garden"}
    first = {"qa1/0k/0": {**base, "status": "cut", "output": "", "scores": None},
             "qa1/0k/1": {**base, "status": "ok", "output": "x", "scores": {"babilong": False}}}
    second = {"qa1/0k/0": {**base, "status": "ok", "output": "y", "scores": {"babilong": False}},
              "qa1/0k/1": {**base, "status": "ok", "output": "x", "scores": {"babilong": False}},
              "qa1/0k/2": {**base, "status": "ok", "output": "z", "scores": {"babilong": True}}}
    cell = compare(first, second, "babilong")[("qa1", "0k")]
    assert (cell.compared, cell.verdicts, cell.outputs, cell.only_second) == (2, 1, 1, 1)


def published_samples(folder: Path, config: str, task: str, length: str) -> list[Sample]:
    """Stand-in data for a published cell: its questions, targets and indexes, a context whose last word is the target."""
    run = find_runs(folder, [config])[0]
    rows = [r for r in load_records(run).values() if (r["task"], r["length"]) == (task, length)]
    return [Sample(input=f"Some text. The fact ends with {r['target']}.", question=r["question"], target=r["target"],
                   task=task, length=length, index=r["index"]) for r in rows]


def test_reproduction_path_offline(tmp_path, capsys):
    """eval --prompt PUBLISHED --data ... then report RUN PUBLISHED --agreement, echo standing in for the model."""
    config = "instruction_yes_examples_yes_post_prompt_yes_chat_template_no"
    data = tmp_path / "data"
    expected = {}
    for task in ("qa1", "qa2"):
        samples = published_samples(GEMINI, config, task, "1k")
        write_samples(samples, data / "1k" / f"{task}.jsonl")
        published = [r for r in load_records(find_runs(GEMINI, [config])[0]).values() if (r["task"], r["length"]) == (task, "1k")]
        expected[task] = sum(r["scores"]["babilong"] for r in published)  # echo is always right: agrees where Gemini is
    run = eval_echo(tmp_path, "run", data, "--prompt", str(GEMINI), tasks="qa1,qa2", lengths="1k", samples=20)
    capsys.readouterr()
    assert main(["report", str(run), str(GEMINI), "--agreement", "--out", str(tmp_path / "agree")]) == 0
    rows = agreement_rows(tmp_path / "agree")
    for task in ("qa1", "qa2"):
        row = rows[(task, "1k")]
        assert row["compared"] == "20" and row["targets_differ"] == "0"
        assert int(row["verdicts_agree"]) == expected[task] and row["outputs_equal"] == "0"  # "hallway" vs a sentence


def test_the_configuration_a_run_used_is_chosen_in_a_folder_of_several(tmp_path, capsys):
    config = "instruction_no_examples_no_post_prompt_no"
    data = tmp_path / "data"
    write_samples(published_samples(PHI3, config, "qa1", "1k"), data / "1k" / "qa1.jsonl")
    run = eval_echo(tmp_path, "run", data, "--prompt", str(PHI3 / f"qa1_1k_{config}.json"), tasks="qa1", lengths="1k",
                    samples=20)
    capsys.readouterr()
    assert main(["report", str(run), str(PHI3), "--agreement", "--out", str(tmp_path / "agree")]) == 0
    assert f"[{config}]" in capsys.readouterr().out
    assert main(["report", str(run), "--agreement"]) == 2
    assert "compares two sources, not 1" in capsys.readouterr().err
