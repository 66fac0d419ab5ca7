"""The bAbI text format: numbered lines per story, questions as `N question?<TAB>answer<TAB>ids`.

Reading yields one ``Story`` per question, holding every statement of its story that comes
before it. Writing joins consecutive stories whose facts extend each other back into one
numbered story, so a file read and written again keeps its layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from babilong.errors import BabilongError
from babilong.tasks.base import Story

_FILE_TASK = re.compile(r"qa(\d+)_")


def read_babi(path: str | Path, task: str | None = None) -> list[Story]:
    """Every question in a ``qaN_*.txt`` file as a Story (task from the name unless given)."""
    path = Path(path)
    if task is None:
        match = _FILE_TASK.match(path.name)
        if not match:
            raise BabilongError(f"{path}: cannot tell the task from the file name; name it qaN_... or pass the task")
        task = f"qa{int(match.group(1))}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BabilongError(f"{path}: cannot read bAbI file: {error}") from None
    return parse_babi(text, task, source=str(path))


def parse_babi(text: str, task: str, source: str = "<text>") -> list[Story]:
    """Parse bAbI text; ``source`` names the input in error messages."""
    stories: list[Story] = []
    facts: list[str] = []
    fact_of_line: dict[int, int] = {}  # story line number -> index into facts
    expected = 1
    open_story_line = 0  # line of the last statement not yet followed by a question
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for row, line in enumerate(lines, start=1):
        where = f"{source}: line {row}"
        number, body = _split_number(line, where)
        if number == 1:
            if open_story_line:
                raise BabilongError(f"{source}: line {open_story_line}: story ends with statements after its last question")
            facts, fact_of_line = [], {}
        elif number != expected:
            raise BabilongError(f"{where}: line number {number}, expected {expected} or 1 (new story)")
        expected = number + 1
        if "\t" in body:
            stories.append(_question(task, body, facts, fact_of_line, where))
            open_story_line = 0
        elif body.rstrip().endswith("?"):
            raise BabilongError(f"{where}: question without <TAB>answer<TAB>supporting ids")
        else:
            fact_of_line[number] = len(facts)
            facts.append(body)
            open_story_line = row
    if open_story_line:
        raise BabilongError(f"{source}: line {open_story_line}: story ends with statements after its last question")
    if not stories:
        raise BabilongError(f"{source}: no questions found; is this a bAbI qaN_*.txt file?")
    return stories


def _split_number(line: str, where: str) -> tuple[int, str]:
    match = re.fullmatch(r"(\d+) (\S.*)", line)
    if not match:
        raise BabilongError(f"{where}: expected '<number> <sentence>', got {line[:60]!r}")
    return int(match.group(1)), match.group(2)


def _question(task: str, body: str, facts: list[str], fact_of_line: dict[int, int], where: str) -> Story:
    fields = body.split("\t")
    if len(fields) != 3:
        raise BabilongError(f"{where}: question needs 3 tab-separated fields (question, answer, ids), got {len(fields)}")
    question, answer, ids = fields[0].strip(), fields[1].strip(), fields[2].split()
    if not question.endswith("?"):
        raise BabilongError(f"{where}: question {question!r} does not end in '?'")
    if not answer:
        raise BabilongError(f"{where}: empty answer")
    supporting = set()
    for text in ids:
        if not text.isdigit() or int(text) not in fact_of_line:
            raise BabilongError(f"{where}: supporting id {text!r} is not an earlier statement line of this story")
        supporting.add(fact_of_line[int(text)])
    return Story(task, tuple(facts), question, answer, tuple(sorted(supporting)))


def format_babi(stories: Iterable[Story], space_before_tab: bool = True) -> str:
    """bAbI text for ``stories``; the released files put a space before the tab."""
    out: list[str] = []
    facts: tuple[str, ...] = ()
    line_of_fact: list[int] = []
    number = 0
    for story in stories:
        if not (facts and story.facts[: len(facts)] == facts):
            facts, line_of_fact, number = (), [], 0
        for fact in story.facts[len(facts):]:
            number += 1
            line_of_fact.append(number)
            out.append(f"{number} {fact}")
        facts = story.facts
        number += 1
        ids = " ".join(str(line_of_fact[i]) for i in story.supporting)
        gap = " " if space_before_tab else ""
        out.append(f"{number} {story.question}{gap}\t{story.answer}\t{ids}")
    return "".join(line + "\n" for line in out)


def write_babi(path: str | Path, stories: Iterable[Story], space_before_tab: bool = True) -> None:
    Path(path).write_text(format_babi(stories, space_before_tab), encoding="utf-8")
