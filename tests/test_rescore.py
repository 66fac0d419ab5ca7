"""Scoring is a step of its own: verdicts carry scorer versions, stored runs re-score without the model."""

import json

import pytest

from babilong.cli import main
from babilong.models import load_model
from babilong.prompts import PromptConfig
from babilong.runs import RESULTS, RunConfig, load_run, read_results
from babilong.scorers import all_scorers, text_scorer
from tests.helpers import make_samples, run_store


def config(model) -> RunConfig:
    return RunConfig("echo", model.settings(), PromptConfig(examples=False), 5, {"source": "hand-made"})


def lines(directory):
    return [json.loads(line) for line in (directory / RESULTS).read_text().splitlines()]


def never_right(output, target, question, task):
    return False


def bump_babilong_to_never_right(monkeypatch):
    """The default scorer at a new version that judges every answer wrong."""
    monkeypatch.setitem(all_scorers(), "babilong", text_scorer("babilong", "test-2", never_right))


def test_every_stored_verdict_names_its_scorer_versions(tmp_path):
    model = load_model("echo", {})
    run_store(tmp_path, make_samples(count=3), model, config(model))
    for record in lines(tmp_path):
        assert record["scores"] == {"babilong": True, "reference": True}
        assert record["scorer_versions"] == {"babilong": "3", "reference": "1"}


def test_raw_output_and_stripped_answer_are_both_kept(tmp_path):
    model = load_model("echo", {"reply": "  kitchen\n"})
    run_store(tmp_path, make_samples(count=1), model, config(model))
    (record,) = lines(tmp_path)
    assert record["output"] == "  kitchen\n" and record["answer"] == "kitchen"
    assert record["scores"]["babilong"] is True


def test_reading_a_run_rescores_old_verdicts(tmp_path, monkeypatch):
    model = load_model("echo", {})
    run_store(tmp_path, make_samples(count=3), model, config(model))
    before = (tmp_path / RESULTS).read_bytes()
    bump_babilong_to_never_right(monkeypatch)
    manifest, loaded = load_run(tmp_path)
    assert loaded.rescored == 3
    assert all(r["scores"] == {"babilong": False, "reference": True} for r in loaded.records.values())
    assert all(r["scorer_versions"]["babilong"] == "test-2" for r in loaded.records.values())
    assert (tmp_path / RESULTS).read_bytes() == before  # reading never writes


def test_rescore_command_rewrites_the_store_without_a_model(tmp_path, monkeypatch, capsys):
    model = load_model("echo", {})
    samples = make_samples(count=4)
    run_store(tmp_path, samples, model, config(model))
    bump_babilong_to_never_right(monkeypatch)
    import babilong.evaluate  # noqa: F401  (imported before the patch, so the patch cannot stick to it)

    monkeypatch.setattr("babilong.models.load_model", lambda *a, **k: pytest.fail("rescore must not load a model"))
    assert main(["rescore", str(tmp_path)]) == 0
    assert "verdicts changed: babilong 4, reference 0" in capsys.readouterr().err
    records = lines(tmp_path)
    assert [r["key"] for r in records] == [s.key for s in samples]
    assert all(r["scores"]["babilong"] is False and r["scorer_versions"]["babilong"] == "test-2" for r in records)
    assert read_results(tmp_path / RESULTS).rescored == 0
    assert not list(tmp_path.glob("*.partial"))


def test_a_resumed_run_never_mixes_scorer_versions(tmp_path, monkeypatch, capsys):
    model = load_model("echo", {})
    samples = make_samples(count=4)
    run_store(tmp_path, samples[:2], model, config(model))
    bump_babilong_to_never_right(monkeypatch)
    summary = run_store(tmp_path, samples, model, config(model))
    assert (summary.skipped, summary.ok) == (2, 2)
    assert "re-scored 2 stored results" in capsys.readouterr().err
    records = lines(tmp_path)
    assert len(records) == 4
    assert {r["scorer_versions"]["babilong"] for r in records} == {"test-2"}
    assert {r["scores"]["babilong"] for r in records} == {False}


def test_rescore_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["rescore", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_rescore_refuses_while_a_run_writes_the_folder(tmp_path, capsys):
    from babilong.runs import ResultStore

    model = load_model("echo", {})
    run_store(tmp_path, make_samples(count=1), model, config(model))
    with ResultStore(tmp_path, config(model)):
        assert main(["rescore", str(tmp_path)]) == 2
    assert "is being written by another babilong process" in capsys.readouterr().err
    assert main(["rescore", str(tmp_path)]) == 0
