"""The viewer in a real headless Chromium: no console errors, a sample opens with its detail, the page renders.

Skipped where no Chromium is installed (scripts/setup.sh installs Debian's chromium-headless-shell
when run as root).
"""

import pytest

from babilong.sources import load_sources
from babilong.scoring import explain
from babilong.view import write_view
from tests.browser import Browser, find_browser
from tests.test_report import PHI3, make_run

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium on PATH (chromium-headless-shell or "
                                "chromium; scripts/setup.sh installs it as root): the viewer's browser test is skipped")


def open_sample(browser: Browser, run: int, key: str) -> str:
    """Browse the sample's cell, click its row, and return the detail pane's text."""
    task, length, _ = key.split("/")
    browser.evaluate(f"window.babilongViewer.browseCell({run}, '{task}', '{length}')")
    row = f"#sample-list tr.sample-row[data-key='{key}']"
    browser.wait_for(f"document.querySelector(\"{row}\")")
    browser.evaluate(f"document.querySelector(\"{row}\").click()")
    browser.wait_for(f"document.getElementById('detail').getAttribute('data-key') === '{key}'")
    return browser.evaluate("document.getElementById('detail').innerText")


def not_blank(path) -> bool:
    image = pytest.importorskip("PIL.Image").open(path).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    inked = sum(count for count, colour in colours if colour != (255, 255, 255))
    return len(colours) > 50 and inked > 0.02 * image.width * image.height


def test_the_page_shows_heatmaps_and_a_sample_with_its_explanation(tmp_path):
    sources = load_sources([make_run(tmp_path / "run"), PHI3])
    page = write_view(sources, tmp_path / "view.html").page
    record = sources[1].records["qa1/1k/3"]
    statement = explain(record["output"], record["target"], record["question"], "qa1").statement
    with Browser(BROWSER) as browser:
        browser.open(page)
        cells = sum(len({(r["task"], r["length"]) for r in s.records.values()}) for s in sources)
        assert browser.evaluate("document.querySelectorAll('table.heatmap').length") == len(sources)
        assert browser.evaluate("document.querySelectorAll('table.heatmap td.value').length") == cells
        assert browser.evaluate("document.querySelectorAll('table.heatmap tr.mean td.mean-value').length") == 2
        detail = open_sample(browser, 1, "qa1/1k/3")
        assert record["question"].strip() in detail and "target\nhallway" in detail
        assert "babilong: wrong — rule labels" in detail and "labels read: kitchen" in detail
        assert browser.evaluate("document.querySelector('#detail mark.statement').textContent") == statement
        browser.evaluate("window.scrollTo(0, 0)")
        browser.screenshot(tmp_path / "view.png")
        assert browser.problems == []
    assert not_blank(tmp_path / "view.png")


def test_the_folder_form_loads_a_cell_file_when_it_is_opened(tmp_path):
    run = make_run(tmp_path / "run")
    written = write_view(load_sources([run]), tmp_path / "view.html", limit=500)
    assert written.folder is not None
    with Browser(BROWSER) as browser:
        browser.open(written.page)
        detail = open_sample(browser, 0, "qa3/1k/2")
        assert "Where is Mary?" in detail and "Supporting facts in the haystack" in detail
        assert browser.evaluate("[...document.scripts].filter(s => s.src.includes('view_files/')).length") >= 1
        assert browser.problems == []
