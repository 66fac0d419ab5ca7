"""Tables, CSV, heatmaps, comparisons and leaderboard exports from run directories."""

import csv
import json

import pytest

from babilong.errors import BabilongError
from babilong.models import load_model
from babilong.prompts import PromptConfig
from babilong.report import MEAN_ROW, build_table, markdown, report_runs
from babilong.runs import ResultStore, RunConfig, evaluate, read_results
from tests.helpers import make_samples


def make_run(directory, reply=None, window=None):
    args = {k: v for k, v in {"reply": reply, "context_window": window}.items() if v}
    model = load_model("echo", args)
    samples = [s for task in ("qa1", "qa2", "qa3", "qa4", "qa5") for length in ("0k", "1k")
               for s in make_samples(task, length, count=4)]
    if window:
        samples += make_samples("qa1", "4k", count=2, filler="word " * 400)
    config = RunConfig("echo", model.settings(), PromptConfig(examples=False), 5, {"source": "hand-made"})
    store = ResultStore(directory, config)
    evaluate(samples, model, config, store, progress=False)
    store.close()
    return directory


def test_table_counts_every_cell_and_the_mean(tmp_path):
    run = make_run(tmp_path / "a", reply="kitchen")  # right for index 0 only (25 %), never for qa5
    table = build_table(read_results(run / "results.jsonl").records, "babilong", "a")
    assert table.tasks == ["qa1", "qa2", "qa3", "qa4", "qa5"] and table.lengths == ["0k", "1k"]
    assert table.cells[("qa3", "1k")].correct == 1 and table.cells[("qa3", "1k")].scored == 4
    assert table.accuracy("qa2", "0k") == 25.0 and table.accuracy("qa5", "1k") == 0.0
    assert table.accuracy(MEAN_ROW, "1k") == 20.0
    text = markdown(table)
    assert "| qa2 | 25.0 | 25.0 |" in text and f"| {MEAN_ROW} | 20.0 | 20.0 |" in text


def test_too_long_cells_are_shown_not_hidden(tmp_path):
    run = make_run(tmp_path / "a", window="300")
    table = build_table(read_results(run / "results.jsonl").records, "babilong", "a")
    cell = table.cells[("qa1", "4k")]
    assert (cell.scored, cell.too_long) == (0, 2)
    text = markdown(table)
    assert "too long" in text and "0 (2 too_long)" in text


def test_report_writes_csv_heatmap_markdown_and_prints_both_scorers(tmp_path, capsys):
    run = make_run(tmp_path / "a")
    report_runs([run], None, None)
    printed = capsys.readouterr().out
    assert "scorer `babilong`" in printed and "scorer `reference`" in printed
    rows = list(csv.DictReader((run / "accuracy.csv").open()))
    assert len(rows) == 2 * 10 and {r["scorer"] for r in rows} == {"babilong", "reference"}
    assert all(r["accuracy"] == "100.00" for r in rows)
    assert (run / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "report.md").read_text().strip() == printed.strip()


def test_several_runs_compare_in_one_figure(tmp_path, capsys):
    runs = [make_run(tmp_path / "a"), make_run(tmp_path / "b", reply="kitchen")]
    report_runs(runs, tmp_path / "cmp", None)
    assert (tmp_path / "cmp" / "comparison.png").stat().st_size > 1000
    rows = list(csv.DictReader((tmp_path / "cmp" / "comparison.csv").open()))
    assert len({r["run"] for r in rows}) == 2


def test_export_follows_the_leaderboard_layout(tmp_path):
    run = make_run(tmp_path / "a")
    report_runs([run], None, tmp_path / "export")
    name = PromptConfig(examples=False).name
    folder = tmp_path / "export" / "local" / "echo"
    files = sorted(p.name for p in folder.iterdir())
    assert f"qa1_0k_{name}.csv" in files and f"qa5_1k_{name}.json" in files and len(files) == 20
    rows = list(csv.reader((folder / f"qa2_1k_{name}.csv").open()))
    assert rows[0] == ["", "target", "output", "question"]
    assert rows[1] == ["0", "kitchen", "kitchen", "Where is Mary?"] and len(rows) == 5
    settings = json.loads((folder / f"qa2_1k_{name}.json").read_text())
    assert settings["prompt"]["name"] == name and settings["generation"]["max_new_tokens"] == 5


def test_report_on_a_folder_that_is_not_a_run_is_a_clean_error(tmp_path):
    with pytest.raises(BabilongError, match="not a run directory"):
        report_runs([tmp_path], None, None)
