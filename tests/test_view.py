"""The run viewer's data and files: fact depths in records, depth maps, one file or a folder, written beside reports."""

import json
import re
from pathlib import Path

from babilong import depth
from babilong.cli import main
from babilong.report import report_runs
from babilong.sources import load_sources
from babilong.tables import build_table
from babilong.sample import FactPosition, Sample, supporting_depths, supporting_excerpts
from babilong.view import cell_file_name, write_view
from tests.test_report import GEMINI, PHI3, make_run


def page_data(page: Path) -> tuple[dict, dict]:
    """The index and the inline cells a page holds."""
    text = page.read_text()
    index = re.search(r"window\.BABILONG_VIEW = (.*?);\nwindow\.BABILONG_CELLS = ", text, re.DOTALL).group(1)
    cells = re.search(r"window\.BABILONG_CELLS = (.*?);</script>", text, re.DOTALL).group(1)
    return json.loads(index), json.loads(cells)


def test_supporting_fact_depths_and_excerpts_come_from_the_sample():
    text = "Some book text. Mary went to the garden. More book text. Mary went to the kitchen. The end."
    facts = ("Mary went to the garden.", "Mary went to the kitchen.")
    sample = Sample(text, "Where is Mary?", "kitchen", "qa1", "1k", facts=facts, supporting=(1,),
                    fact_positions=(FactPosition(16, 4, 20.0), FactPosition(57, 14, 61.234)))
    assert supporting_depths(sample) == [61.23]
    [excerpt] = supporting_excerpts(sample, around=10)
    assert excerpt == {"fact": facts[1], "char": 57, "depth": 61.23, "before": "ook text. ", "after": " The end."}
    assert text[excerpt["char"]:excerpt["char"] + len(excerpt["fact"])] == excerpt["fact"]
    assert supporting_depths(Sample("x", "q", "t", "qa1", "0k")) == []  # published data: no positions


def test_depth_maps_bin_by_earliest_and_latest_fact():
    records = [{"task": "qa2", "length": "1k", "status": "ok", "depths": [5.0, 95.0], "scores": {"babilong": True}},
               {"task": "qa2", "length": "1k", "status": "ok", "depths": [8.0, 100.0], "scores": {"babilong": False}},
               {"task": "qa2", "length": "1k", "status": "too_long", "depths": [50.0]},
               {"task": "qa2", "length": "1k", "status": "ok", "scores": {"babilong": True}}]  # no depths: left out
    maps = depth.depth_maps(records, "babilong")
    assert {key: (c.correct, c.n) for key, c in maps["qa2"]["earliest"].items()} == {(0, "1k"): (1, 2)}
    assert {key: (c.correct, c.n) for key, c in maps["qa2"]["latest"].items()} == {(9, "1k"): (1, 2)}
    low, high = maps["qa2"]["latest"][(9, "1k")].interval
    assert low < 50 < high and depth.bin_label(9) == "90-100%"


def test_one_file_view_holds_every_sample_with_explanations(tmp_path):
    sources = load_sources([make_run(tmp_path / "run"), PHI3])
    written = write_view(sources, tmp_path / "out" / "view.html")
    assert written.folder is None and not (tmp_path / "out" / "view_files").exists()
    index, cells = page_data(written.page)
    assert [run["title"] for run in index["runs"]] == [source.title for source in sources]
    assert index["runs"][0]["means"]["babilong"]["0k"] == [100.0, 83.89, 100.0]  # as report.md's mean row
    assert index["runs"][1]["means"] is None  # the published sample has qa1 and qa2 only
    assert sum(len(samples) for samples in cells.values()) == written.samples == sum(len(s.records) for s in sources)
    table = build_table(sources[1].records, "babilong", "")
    for (task, length), cell in table.cells.items():
        shown = index["runs"][1]["cells"][f"{task}/{length}"]
        assert shown["scored"] == cell.scored and shown["scores"]["babilong"][0] == cell.correct
    sample = next(s for s in cells["1/qa1/1k"] if s["key"] == "qa1/1k/3")
    why = sample["why"]["babilong"]
    assert sample["output"][slice(*why["span"])] == "Sandra is in the kitchen" and why["rule"] == "labels"
    assert why["rule"] in index["rules"] and sample["verdicts"] == {"babilong": False, "reference": False}
    page = written.page.read_text()
    assert "http://" not in page and "https://" not in page and "<link" not in page  # nothing fetched


def test_a_large_view_is_a_page_plus_one_script_file_per_cell(tmp_path):
    page = tmp_path / "view.html"
    written = write_view(load_sources([PHI3, GEMINI]), page, limit=2000)
    index, cells = page_data(page)
    assert cells == {} and index["files"] == "view_files" and written.folder == tmp_path / "view_files"
    files = sorted(p.name for p in written.folder.iterdir())
    assert len(files) == written.cells and cell_file_name("1/qa2/32k") in files
    body = (written.folder / cell_file_name("0/qa1/1k")).read_text()
    assert body.startswith('babilongCell("0/qa1/1k", [') and body.endswith(");\n")
    write_view(load_sources([GEMINI]), page)  # small again: one file, the old cell files gone
    assert not written.folder.exists() and not list(tmp_path.glob("*.partial"))


def test_text_that_could_close_the_script_is_escaped(tmp_path):
    run = make_run(tmp_path / "run", reply="kitchen </script><script>alert(1)</script>")
    page = write_view(load_sources([run]), tmp_path / "view.html").page.read_text()
    assert page.count("</script>") == 2  # the page's own two script elements, nothing from the data
    _, cells = page_data(tmp_path / "view.html")
    assert cells["0/qa1/0k"][0]["output"].endswith("</script>")


def test_report_writes_the_view_beside_each_report_and_the_comparison(tmp_path, capsys):
    report_runs([make_run(tmp_path / "run"), GEMINI], tmp_path / "cmp", None, quiet=True)
    assert (tmp_path / "cmp" / "view.html").is_file()
    assert all((folder / "view.html").is_file() for folder in (tmp_path / "cmp").iterdir() if folder.is_dir())
    index, _ = page_data(tmp_path / "cmp" / "view.html")
    assert len(index["runs"]) == 2 and index["runs"][1]["depth"] is None  # published: no inputs, no depths
    report_runs([GEMINI], tmp_path / "plain", None, quiet=True, view=False)
    assert not (tmp_path / "plain" / "view.html").exists()


def test_view_command_writes_to_out_and_names_the_form(tmp_path, capsys):
    assert main(["view", str(PHI3), "--out", str(tmp_path / "v")]) == 0
    assert (tmp_path / "v" / "view.html").is_file()
    assert "one self-contained file" in capsys.readouterr().err
    assert main(["view", str(tmp_path / "nothing-here")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
