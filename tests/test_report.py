"""Tables with intervals, CSV, heatmaps, comparisons (ours and published) and leaderboard exports."""

import csv
import json
import shutil
from pathlib import Path

import pytest

from babilong.cli import main
from babilong.errors import BabilongError
from babilong.models import load_model
from babilong.prompts import PromptConfig
from babilong.report import CSV_COLUMNS, markdown, report_runs
from babilong.tables import MEAN_ROW, build_table, wilson
from babilong.runs import RunConfig, read_results
from tests.helpers import make_samples, run_store

PUBLISHED = Path(__file__).parent / "data" / "published"
PHI3 = PUBLISHED / "microsoft" / "Phi-3-mini-128k-instruct"
GEMINI = PUBLISHED / "google" / "gemini-3-flash-preview"
PNG = b"\x89PNG\r\n\x1a\n"


def make_run(directory, reply=None, window=None):
    args = {k: v for k, v in {"reply": reply, "context_window": window}.items() if v}
    model = load_model("echo", args)
    samples = [s for task in ("qa1", "qa2", "qa3", "qa4", "qa5") for length in ("0k", "1k")
               for s in make_samples(task, length, count=4)]
    if window:
        samples += make_samples("qa1", "4k", count=2, filler="word " * 400)
    config = RunConfig("echo", model.settings(), PromptConfig(examples=False), 5, {"source": "hand-made"})
    run_store(directory, samples, model, config)
    return directory


def test_wilson_interval_matches_known_values():
    assert wilson(1, 4) == pytest.approx((4.5586, 69.9358), abs=1e-3)  # worked by hand for 1 of 4
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == pytest.approx(100.0)
    assert wilson(0, 10)[1] == pytest.approx(27.7533, abs=1e-3)
    stats = pytest.importorskip("scipy.stats")
    for correct, n in [(0, 3), (7, 20), (97, 100), (431, 1000)]:
        reference = stats.binomtest(correct, n).proportion_ci(method="wilson")
        assert wilson(correct, n) == pytest.approx((100 * reference.low, 100 * reference.high), abs=1e-4)


def test_table_counts_every_cell_and_the_mean(tmp_path):
    run = make_run(tmp_path / "a", reply="kitchen")  # right for index 0 only (25 %), never for qa5
    table = build_table(read_results(run / "results.jsonl").records, "babilong", "a")
    assert table.tasks == ["qa1", "qa2", "qa3", "qa4", "qa5"] and table.lengths == ["0k", "1k"]
    assert table.cells[("qa3", "1k")].correct == 1 and table.cells[("qa3", "1k")].scored == 4
    assert table.accuracy("qa2", "0k") == 25.0 and table.accuracy("qa5", "1k") == 0.0
    assert table.accuracy(MEAN_ROW, "1k") == 20.0
    # equal cell sizes: the mean's interval is the pooled one, 4 right of 20
    assert table.interval(MEAN_ROW, "1k") == pytest.approx(wilson(4, 20))
    text = markdown(table)
    assert "| qa2 | 25.0 (4.6-69.9) | 25.0 (4.6-69.9) |" in text
    assert f"| {MEAN_ROW} | 20.0 (8.1-41.6) | 20.0 (8.1-41.6) |" in text


def test_mean_interval_uses_the_effective_size_when_cells_differ(tmp_path):
    run = make_run(tmp_path / "a")
    records = read_results(run / "results.jsonl").records
    extra = {f"qa1/1k/{i}": {**records["qa1/1k/0"], "key": f"qa1/1k/{i}", "index": i} for i in range(4, 16)}
    table = build_table({**records, **extra}, "babilong", "a")  # qa1 has 16 samples, the others 4
    effective = 25 / (1 / 16 + 4 / 4)
    assert table.interval(MEAN_ROW, "1k") == pytest.approx(wilson(effective, effective))


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
    assert list(rows[0]) == CSV_COLUMNS
    cells = [r for r in rows if r["task"] != MEAN_ROW]
    assert len(cells) == 2 * 10 and {r["scorer"] for r in rows} == {"babilong", "reference"}
    assert all(r["accuracy"] == "100.00" and r["ci_low"] == "51.01" and r["ci_high"] == "100.00" for r in cells)
    means = [r for r in rows if r["task"] == MEAN_ROW]
    assert [(r["length"], r["scored"], r["ci_low"]) for r in means[:2]] == [("0k", "20", "83.89"), ("1k", "20", "83.89")]
    assert (run / "heatmap.png").read_bytes()[:8] == PNG
    assert (run / "report.md").read_text().strip() == printed.strip()


def test_several_runs_with_one_out_never_overwrite_each_other(tmp_path, capsys):
    """Issue 8 item 6: one combined table and heatmap, and each run's own files under its own name."""
    runs = [make_run(tmp_path / "a"), make_run(tmp_path / "b", reply="kitchen"), make_run(tmp_path / "c")]
    report_runs(runs, tmp_path / "cmp", None)
    out = tmp_path / "cmp"
    assert (out / "comparison.png").read_bytes()[:8] == PNG
    rows = list(csv.DictReader((out / "comparison.csv").open()))
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert len(folders) == 3 and any(name + "-2" in folders for name in folders)  # a and c: one configuration
    assert len({r["run"] for r in rows}) == 3 and any(r["run"].endswith(" #2") for r in rows)
    accuracies = {name: {r["accuracy"] for r in csv.DictReader((out / name / "accuracy.csv").open())} for name in folders}
    assert sorted(map(sorted, accuracies.values())) == [["0.00", "20.00", "25.00"], ["100.00"], ["100.00"]]
    assert all((out / name / "heatmap.png").exists() and (out / name / "report.md").exists() for name in folders)
    assert not (runs[0] / "accuracy.csv").exists()  # with --out, run folders are left alone
    printed = capsys.readouterr().out
    assert printed.count("### Comparison") == 2  # one per scorer; per-run tables are in the files


def test_several_runs_without_out_keep_their_own_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runs = [make_run(tmp_path / "a"), make_run(tmp_path / "b", reply="kitchen")]
    report_runs(runs, None, None, quiet=True)
    assert all((run / "accuracy.csv").exists() for run in runs)
    assert (tmp_path / "runs" / "comparison" / "comparison.md").exists()


def test_ours_and_both_published_folders_in_one_comparison(tmp_path, capsys):
    """The full command: a run of ours next to Phi-3 (two prompt configurations) and Gemini."""
    published = tmp_path / "published"
    shutil.copytree(PUBLISHED, published)
    ours = make_run(tmp_path / "mine")
    phi3, gemini = published / PHI3.relative_to(PUBLISHED), published / GEMINI.relative_to(PUBLISHED)
    assert main(["report", str(ours), str(phi3), str(gemini), "--out", str(tmp_path / "out")]) == 0
    printed, errors = capsys.readouterr()
    titles = ["echo (echo, ", "microsoft/Phi-3-mini-128k-instruct [instruction_no_examples_no_post_prompt_no]",
              "microsoft/Phi-3-mini-128k-instruct [instruction_yes_examples_yes_post_prompt_yes]",
              "google/gemini-3-flash-preview [instruction_yes_examples_yes_post_prompt_yes_chat_template_no]"]
    header = next(line for line in printed.splitlines() if line.startswith("| task | length |"))
    assert all(title in header for title in titles)
    # every length of every source is a row: ours at 0k/1k, published at 1k/32k
    assert "| qa1 | 0k | 100.0 (51.0-100.0) |  |  |  |" in printed
    row = next(line for line in printed.splitlines() if line.startswith("| qa2 | 32k | "))
    cells = [c.strip() for c in row.strip("|").split("|")][2:]
    assert cells[0] == "" and all(c and "(" in c for c in cells[1:])
    assert "Mean over qa1" in printed and "| 0k | 100.0 (83.9-100.0) |  |  |  |" in printed
    out = tmp_path / "out"
    assert (out / "comparison.png").read_bytes()[:8] == PNG
    rows = list(csv.DictReader((out / "comparison.csv").open()))
    assert len({r["run"] for r in rows}) == 4 and {r["scorer"] for r in rows} == {"babilong", "reference"}
    published_rows = [r for r in rows if r["run"].startswith("google") and r["task"] != MEAN_ROW]
    assert len(published_rows) == 2 * 2 * 2 and all(r["scored"] == "20" for r in published_rows)
    assert all(float(r["ci_low"]) <= float(r["accuracy"]) <= float(r["ci_high"]) for r in published_rows)
    assert len([p for p in out.iterdir() if p.is_dir()]) == 4
    assert sorted(p.name for p in published.rglob("*")) == sorted(p.name for p in PUBLISHED.rglob("*"))
    assert "comparison of 4 runs" in errors


def test_prompt_config_selects_configurations(tmp_path, capsys):
    phi3, gemini = "instruction_yes_examples_yes_post_prompt_yes", "instruction_yes_examples_yes_post_prompt_yes_chat_template_no"
    assert main(["report", str(PHI3), str(GEMINI), "--prompt-config", phi3, "--out", str(tmp_path)]) == 2
    assert f"gemini-3-flash-preview has no prompt configuration '{phi3}'; it has: {gemini}" in capsys.readouterr().err
    assert main(["report", str(PHI3), "--prompt-config", phi3, "--out", str(tmp_path / "one")]) == 0
    printed = capsys.readouterr().out
    assert f"[{phi3}] — accuracy %" in printed and "no_examples" not in printed
    assert (tmp_path / "one" / "report.md").exists() and (tmp_path / "one" / "heatmap.png").exists()
    arguments = ["--prompt-config", phi3, "--prompt-config", gemini, "--out", str(tmp_path / "two")]
    assert main(["report", str(PHI3), str(GEMINI), *arguments]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| task | length |"))
    assert header.count(" [instruction_") == 2 and "no_examples" not in header


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
    with pytest.raises(BabilongError, match="not a run directory.*nor a published predictions folder"):
        report_runs([tmp_path], None, None)


def test_unwritable_out_is_a_clean_error_and_leaves_no_partial_file(tmp_path):
    run = make_run(tmp_path / "a")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BabilongError, match="cannot write .*choose a writable --output"):
        report_runs([run], blocker / "out", None, quiet=True)
    assert not list(tmp_path.rglob("*.partial"))
