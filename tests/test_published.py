"""The public leaderboard's predictions layout: read as a run, re-scored; our export reads back the same."""

import shutil
from pathlib import Path

import pytest

from babilong.errors import BabilongError
from babilong.models import load_model
from babilong.prompts import PromptConfig
from babilong.published import find_runs, load_records
from babilong.sources import load_sources
from babilong.tables import build_table
from babilong.runs import RunConfig, read_results
from babilong.scorers import accuracy_scorers
from tests.helpers import make_samples, run_store

PUBLISHED = Path(__file__).parent / "data" / "published"
PHI3 = PUBLISHED / "microsoft" / "Phi-3-mini-128k-instruct"
GEMINI = PUBLISHED / "google" / "gemini-3-flash-preview"
PHI3_CONFIGS = ["instruction_no_examples_no_post_prompt_no", "instruction_yes_examples_yes_post_prompt_yes"]


def test_a_folder_gives_one_run_per_prompt_configuration():
    assert [run.prompt for run in find_runs(PHI3)] == PHI3_CONFIGS
    [gemini] = find_runs(GEMINI)
    assert gemini.prompt == "instruction_yes_examples_yes_post_prompt_yes_chat_template_no"
    assert (gemini.org, gemini.model) == ("google", "gemini-3-flash-preview")
    assert gemini.settings()["generate_kwargs"]["top_k"] == 40


def test_predictions_are_read_by_index_and_scored_from_the_raw_output():
    [run] = find_runs(PHI3, [PHI3_CONFIGS[0]])
    records = load_records(run)
    assert len(records) == 2 * 2 * 20 and {r["status"] for r in records.values()} == {"ok"}
    right = records["qa2/32k/3"]  # read by hand: "Answer: The football is in the hallway." for "hallway"
    assert (right["target"], right["output"]) == ("hallway", "Answer: The football is in the hallway.")
    assert right["scores"] == {name: True for name in accuracy_scorers()}
    wrong = records["qa2/32k/0"]  # "Answer: The milk is in the house of Governor Dale. ..." for "hallway"
    assert wrong["scores"] == {name: False for name in accuracy_scorers()}
    table = build_table(records, "reference", "phi3")
    assert table.tasks == ["qa1", "qa2"] and table.lengths == ["1k", "32k"]
    assert all(cell.scored == 20 for cell in table.cells.values())


def test_unknown_prompt_configuration_lists_the_choices():
    with pytest.raises(BabilongError, match="no prompt configuration 'chat' or 'bare'; it has: "
                                            "instruction_no_examples_no_post_prompt_no, instruction_yes_examples_yes_post_prompt_yes"):
        find_runs(PHI3, ["chat", "bare"])
    assert [run.prompt for run in find_runs(PHI3, ["chat", PHI3_CONFIGS[1]])] == [PHI3_CONFIGS[1]]


def test_the_parent_folder_names_its_model_folders(tmp_path):
    with pytest.raises(BabilongError, match="give one of them: google/gemini-3-flash-preview, microsoft/Phi-3"):
        load_sources([PUBLISHED])


@pytest.mark.parametrize("text, problem", [
    (",target,answer,question\n0,hallway,hallway,Where?\n", "lacks the column.*output"),
    (",target,output,question\nzero,hallway,hallway,Where?\n", "index 'zero' is not a whole number"),
    (",target,output,question\n0,hallway,hallway\n", "3 fields where the header has 4"),
    (',target,output,question\n0,hallway,"hallway,Where?\n', "3 fields where the header has 4"),  # unclosed quote
])
def test_damaged_files_are_one_clean_error(tmp_path, text, problem):
    path = tmp_path / "qa1_1k_bare.csv"
    path.write_text(text)
    with pytest.raises(BabilongError, match=f"{path.name}.*{problem}"):
        load_sources([tmp_path])


def test_repeated_index_and_non_utf8_are_refused(tmp_path):
    path = tmp_path / "qa1_1k_bare.csv"
    path.write_text(",target,output,question\n0,hallway,hallway,Where?\n0,kitchen,kitchen,Where?\n")
    with pytest.raises(BabilongError, match="index 0 appears twice"):
        load_sources([tmp_path])
    path.write_bytes(b",target,output,question\n0,hallway,caf\xe9,Where?\n")
    with pytest.raises(BabilongError, match="not UTF-8"):
        load_sources([tmp_path])


def test_byte_order_mark_is_not_part_of_the_index_header(tmp_path):
    (tmp_path / "qa1_1k_bare.csv").write_text("\ufeff,target,output,question\n7,hallway,hallway,Where?\n", encoding="utf-8")
    [source] = load_sources([tmp_path])
    assert list(source.records) == ["qa1/1k/7"]


def test_file_without_index_column_counts_rows(tmp_path):
    (tmp_path / "qa1_1k_bare.csv").write_text("target,output,question\nhallway,hallway,Where?\nkitchen,garden,Where?\n")
    [source] = load_sources([tmp_path])
    assert sorted(source.records) == ["qa1/1k/0", "qa1/1k/1"]
    assert source.records["qa1/1k/1"]["scores"]["babilong"] is False


def test_export_then_read_back_gives_identical_verdicts(tmp_path):
    """Awkward outputs (newlines, quotes, commas, an echoed prompt) and too-long samples survive the trip."""
    from babilong.report import report_runs

    reply = 'Answer: kitchen.\r\n\nQuestion: "where, then?"\n\nContext: Mary went to the garden.'
    model = load_model("echo", {"reply": reply, "context_window": "300"})
    samples = [s for task in ("qa1", "qa5") for s in make_samples(task, "1k", count=6)]
    samples += make_samples("qa2", "4k", count=3, filler="word " * 400)  # too long for the window
    config = RunConfig("echo", model.settings(), PromptConfig(examples=False), 40, {"source": "hand-made"})
    run_store(tmp_path / "run", samples, model, config)
    ours = read_results(tmp_path / "run" / "results.jsonl").records
    report_runs([tmp_path / "run"], tmp_path / "report", tmp_path / "export", quiet=True)

    [back] = load_sources([tmp_path / "export" / "local" / "echo"])
    assert back.records.keys() == ours.keys()
    for key, record in ours.items():
        assert (back.records[key]["status"], back.records[key]["scores"], back.records[key]["output"]) == \
               (record["status"], record["scores"], record["output"]), key
    assert {r["scores"]["babilong"] for r in ours.values() if r["scores"]} == {True, False}  # both verdicts travel
    assert sum(r["status"] == "too_long" for r in ours.values()) == 3
    for scorer in accuracy_scorers():
        assert build_table(back.records, scorer, "x").cells == build_table(ours, scorer, "x").cells


def test_reading_never_writes_into_the_published_folder(tmp_path, monkeypatch):
    from babilong.report import report_runs

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "google" / "gemini"
    shutil.copytree(GEMINI, folder)
    before = sorted(folder.iterdir())
    report_runs([folder], None, None, quiet=True)
    assert sorted(folder.iterdir()) == before
    written = tmp_path / "runs" / "report" / "google-gemini-instruction_yes_examples_yes_post_prompt_yes_chat_template_no"
    assert sorted(p.name for p in written.iterdir()) == ["accuracy.csv", "heatmap.png", "report.md", "view.html"]


def test_export_keeps_lengths_with_a_dot_apart(tmp_path):
    """``1.5k`` and ``1.25k`` are two files each (a dot in the length is no file suffix), and read back whole."""
    from babilong.report import report_runs

    model = load_model("echo", {})
    samples = make_samples("qa1", "1.5k", count=2) + make_samples("qa1", "1.25k", count=3)
    config = RunConfig("echo", model.settings(), PromptConfig(examples=False), 5, {"source": "hand-made"})
    run_store(tmp_path / "run", samples, model, config)
    report_runs([tmp_path / "run"], tmp_path / "report", tmp_path / "export", quiet=True)
    folder = tmp_path / "export" / "local" / "echo"
    name = config.to_dict()["prompt"]["name"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"qa1_{length}_{name}.{kind}" for length in ("1.25k", "1.5k") for kind in ("csv", "json"))
    [back] = load_sources([folder])
    assert sorted(back.records) == sorted(s.key for s in samples)
