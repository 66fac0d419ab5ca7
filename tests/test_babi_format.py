"""Reading and writing the bAbI text format."""

from __future__ import annotations

import bz2
from pathlib import Path

import pytest

from babilong.babi_format import format_babi, parse_babi, read_babi, write_babi
from babilong.errors import BabilongError
from babilong.tasks import Story

# The original generator's samples, bzip2-compressed in the repository.
REFERENCE = Path(__file__).resolve().parent / "data" / "babi-reference"
# Questions per file, from the reference README's table.
QUESTIONS = {1: 5000, 2: 5000, 3: 5000, 4: 1000, 5: 5000, 6: 5000, 7: 5000, 8: 5000, 9: 5000, 10: 5000,
             11: 5000, 12: 5000, 13: 5000, 14: 5000, 15: 4000, 16: 1000, 17: 8000, 18: 2576, 19: 1000, 20: 12000}


def _files() -> list[Path]:
    files = sorted(REFERENCE.glob("qa*_*.txt.bz2"), key=lambda p: int(p.name[2:].split("_")[0]))
    assert len(files) == 20, f"expected the 20 reference files in {REFERENCE}"
    return files


def _read(path: Path) -> list[Story]:
    """A compressed reference file decompressed and read back through read_babi."""
    return parse_babi(_text(path), f"qa{int(path.name[2:].split('_')[0])}", source=path.name)


def _text(path: Path) -> str:
    return bz2.decompress(path.read_bytes()).decode("utf-8")


def test_all_reference_files_parse_with_readme_counts() -> None:
    for path in _files():
        number = int(path.name[2:].split("_")[0])
        stories = _read(path)
        assert len(stories) == QUESTIONS[number], path.name
        assert {s.task for s in stories} == {f"qa{number}"}
        for story in stories:
            assert all(0 <= i < len(story.facts) for i in story.supporting)


def test_first_story_of_qa1(tmp_path: Path) -> None:
    plain = tmp_path / "qa1_WhereIsActor.txt"
    plain.write_text(_text(REFERENCE / "qa1_WhereIsActor.txt.bz2"))
    stories = read_babi(plain)
    assert stories[0] == Story("qa1", ("Sandra journeyed to the bathroom.", "John travelled to the office."),
                               "Where is Sandra?", "bathroom", (0,))
    assert stories[1].facts[:2] == stories[0].facts and stories[1].supporting == (1,)
    assert len(stories[5].facts) == 2  # second story restarts


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_round_trip(path: Path, tmp_path: Path) -> None:
    stories = _read(path)
    out = tmp_path / path.name.removesuffix(".bz2")
    write_babi(out, stories)  # released style: space before the tab
    assert read_babi(out) == stories
    text = format_babi(stories, space_before_tab=False)
    if path.name.startswith("qa4_"):
        # qa4 repeats one whole story twice in a row; the writer joins them into one
        # story with two questions, which reads back to the same questions.
        assert parse_babi(text, "qa4") == stories
    else:
        assert text == _text(path)


def test_space_before_tab_and_unsorted_supporting() -> None:
    text = "1 Lily is a swan.\n2 Greg is a swan.\n3 Lily is white.\n4 What color is Greg? \twhite\t3 1 2\n"
    (story,) = parse_babi(text, "qa16")
    assert story.question == "What color is Greg?" and story.supporting == (0, 1, 2)
    assert format_babi([story]).splitlines()[-1] == "4 What color is Greg? \twhite\t1 2 3"


def test_task_given_when_file_name_has_none(tmp_path: Path) -> None:
    path = tmp_path / "stories.txt"
    path.write_text("1 Mary went to the office.\n2 Where is Mary?\toffice\t1\n")
    assert read_babi(path, task="qa1")[0].task == "qa1"
    with pytest.raises(BabilongError, match="stories.txt.*task"):
        read_babi(path)


@pytest.mark.parametrize(("text", "message"), [
    ("1 A went home.\n3 Where is A?\thome\t1\n", r"line 2: line number 3, expected 2"),
    ("2 A went home.\n", r"line 1: line number 2"),
    ("A went home.\n", r"line 1: expected '<number> <sentence>'"),
    ("1 A went home.\n2 Where is A?\n", r"line 2: question without"),
    ("1 A went home.\n2 Where is A?\thome\n", r"line 2: question needs 3 tab-separated fields"),
    ("1 A went home.\n2 Where is A?\thome\t2\n", r"line 2: supporting id '2' is not an earlier statement"),
    ("1 A went home.\n2 Where is A?\thome\t1\n3 Where is A?\thome\t2\n", r"line 3: supporting id '2'"),
    ("1 A went home.\n2 Where is A?\thome\tx\n", r"line 2: supporting id 'x'"),
    ("1 A went home.\n2 Where is A?\t\t1\n", r"line 2: empty answer"),
    ("1 A went home.\n2 Where is A?\thome\t1\n3 B left.\n", r"line 3: story ends with statements"),
    ("1 A went home.\n2 Where is A?\thome\t1\n1 B left.\n1 C left.\n2 Where is C?\tx\t1\n", r"line 3: story ends"),
    ("", r"no questions found"),
    ("1 A went home.\n\n2 Where is A?\thome\t1\n", r"line 2: expected '<number> <sentence>'"),
])
def test_malformed_input_names_file_and_line(text: str, message: str) -> None:
    with pytest.raises(BabilongError, match=r"bad\.txt: " + message):
        parse_babi(text, "qa1", source="bad.txt")


def test_unreadable_file_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(BabilongError, match="cannot read"):
        read_babi(tmp_path / "qa1_missing.txt")
