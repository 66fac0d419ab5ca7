"""Compare our bAbI task generators with the original generator's reference samples.

For every task present, generate N stories and compare with ``qaN_*.txt`` from the
reference folder: label sets, question and fact sentence forms (templates with the
vocabulary replaced by placeholders), and distributions (facts before the question,
answers, number of supporting facts, distance from the last supporting fact to the
question).

The reference samples come from the generator's later rewrite, which drifts from the
released bAbI dataset that BABILong was built from (docs/reference.md section 7). Those
known drifts are undone by the explicit table NORMALISATION below before comparing; nothing
else is adjusted.

Usage: python benchmarks/compare_babi_reference.py [--stories 2000] [--seed 0] [--reference DIR]
"""

from __future__ import annotations

import argparse
import bz2
import re
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from babilong.babi_format import parse_babi
from babilong.rng import Rng
from babilong.tasks import Story, Task, all_tasks

# The repository's copy of the reference samples (bzip2-compressed); --reference takes another folder.
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "babi-reference"

Replacement = str | Callable[[re.Match[str]], str]


@dataclass(frozen=True)
class Rule:
    """Rewrite ``pattern`` in one side's ``fields`` of the listed tasks, for the stated reason."""

    tasks: tuple[str, ...]
    side: str  # "reference" (rewrite -> released form) or "ours" (released-only variant -> rewrite form)
    fields: tuple[str, ...]  # any of "fact", "question", "answer"
    pattern: str
    replacement: Replacement
    reason: str


def _invert_path(match: re.Match[str]) -> str:
    flip = {"n": "s", "s": "n", "e": "w", "w": "e"}
    return ",".join(flip[step] for step in match.group(0).split(","))


def _capitalise_name(match: re.Match[str]) -> str:
    return match.group(1) + match.group(2).upper()


ROOM_TASKS = ("qa1", "qa2", "qa3", "qa6", "qa7", "qa8", "qa9", "qa11", "qa12", "qa13")
NORMALISATION: tuple[Rule, ...] = (
    Rule(("qa4", "qa19"), "reference", ("fact", "question"), r"\b(north|south|east|west) the\b", r"\1 of the",
         "rewrite drops 'of' after compass words; released: 'south of the'"),
    Rule(("qa4",), "reference", ("question",), r"^What is the (\w+) (north|south|east|west)\?$", r"What is the \1 \2 of?",
         "released: 'What is the kitchen south of?'"),
    Rule(("qa19",), "reference", ("question",), r"^What is the path from (\w+) to (\w+)\?$",
         r"How do you go from the \1 to the \2?", "released question wording"),
    Rule(("qa19",), "reference", ("answer",), r"^[nsew],[nsew]$", _invert_path,
         "rewrite's qa19 paths are inverted w.r.t. its own statements; ours are computed correctly"),
    Rule(("qa5",), "reference", ("question",), r" last\?$", "?", "released questions have no 'last'"),
    Rule(("qa5", "qa7", "qa8"), "reference", ("fact",), r"^(\w+) gave (\w+) the (\w+)\.$", r"\1 gave the \3 to \2.",
         "released: 'Mary gave the apple to Fred.'"),
    Rule(("qa5", "qa7", "qa8"), "ours", ("fact",), r"^(\w+) (?:passed|handed) ", r"\1 gave ",
         "released synonyms of 'gave' the rewrite never uses"),
    Rule(("qa5",), "reference", ("fact", "question", "answer"), r"\bJohn\b", "Bill", "released qa5 actors"),
    Rule(("qa5",), "reference", ("fact", "question", "answer"), r"\bSandra\b", "Fred", "released qa5 actors"),
    Rule(("qa5",), "reference", ("fact", "question", "answer"), r"\bDaniel\b", "Jeff", "released qa5 actors"),
    Rule(("qa7",), "reference", ("answer",), r"^zero$", "none", "released count word"),
    Rule(("qa7", "qa8"), "reference", ("question",), r"\bholding\?", "carrying?",
         "released: 'How many objects is X carrying?', 'What is X carrying?'"),
    Rule(("qa10",), "reference", ("fact",), r" or in the ", " or the ", "released: 'either in the school or the cinema'"),
    Rule(("qa11", "qa13"), "ours", ("fact",), r"^Afterwards ", "After that ",
         "released 'Afterwards she ...' the rewrite lacks (it has 'Following that')"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bJohn\b", "Bill", "released actors"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bSandra\b", "Fred", "released actors"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bDaniel\b", "Julie", "released actors"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bbathroom\b", "school", "released places"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bgarden\b", "park", "released places"),
    Rule(("qa10", "qa14"), "reference", ("fact", "question", "answer"), r"\bhallway\b", "cinema", "released places"),
    Rule(ROOM_TASKS + ("qa5", "qa20"), "ours", ("fact",), r" there\.$", ".",
         "released '... the milk there.' variant the rewrite lacks"),
    Rule(ROOM_TASKS + ("qa5", "qa10", "qa14", "qa20"), "ours", ("fact",), r"\bwent back to\b", "went to",
         "released movement verb the rewrite lacks"),
    Rule(ROOM_TASKS + ("qa5", "qa20"), "ours", ("fact",), r"\bpicked up\b", "took",
         "released pick-up verb the rewrite lacks"),
    Rule(ROOM_TASKS, "ours", ("fact",), r"\b(?:discarded|left)\b", "dropped",
         "released drop verbs the rewrite lacks"),
    Rule(("qa15", "qa20"), "ours", ("question",), r"^(What is |Where will |Why did )([a-z])", _capitalise_name,
         "released questions write the name in lower case"),
    Rule(("qa18",), "reference", ("fact", "question", "answer"), r"\btreasure chest\b", "chest", "released: 'chest'"),
    Rule(("qa18",), "reference", ("question",), r"^Is the (.+) bigger than (?!the )(.+)\?$", r"Is the \1 bigger than the \2?",
         "rewrite drops the article before the second object"),
    Rule(("qa18",), "ours", ("fact",), r"^The (.+) fits inside the (.+)\.$", r"The \2 is bigger than the \1.",
         "released 'fits inside' statements the rewrite never uses"),
)

# Forms the released vocabulary (reference.md section 7) has but the rewrite never produces.
RELEASED_ONLY_FORMS: dict[str, tuple[str, ...]] = {
    "qa5": ("Who gave the {OBJECT}?",),
}

_VOCABULARY: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("{THING}", ("box of chocolates", "treasure chest", "chocolate", "box", "chest", "container", "suitcase")),
    ("{NAME}", ("John", "Mary", "Sandra", "Daniel", "Bill", "Fred", "Jeff", "Julie", "Sumit", "Yann", "Jason",
                "Antoine", "Gertrude", "Winona", "Emily", "Jessica", "Lily", "Bernhard", "Greg", "Julius", "Brian")),
    ("{PLACE}", ("bathroom", "bedroom", "garden", "hallway", "kitchen", "office", "cinema", "park", "school")),
    ("{OBJECT}", ("apple", "football", "milk", "pajamas")),
    ("{ANIMAL}", ("cats", "cat", "mice", "mouse", "sheep", "wolves", "wolf", "frog", "lion", "swan", "rhino")),
    ("{COLOUR}", ("gray", "green", "white", "yellow")),
    ("{DIR}", ("north", "south", "east", "west")),
    ("{TIME}", ("yesterday", "this morning", "this afternoon", "this evening")),
    ("{STATE}", ("hungry", "thirsty", "tired", "bored")),
)
# Shapes first, so their colour adjectives are not taken for qa16 colours.
_SHAPE = re.compile(r"\b(?:(?:red|blue|pink|yellow) )?(?:square|rectangle|sphere|triangle)\b", re.IGNORECASE)


def _word_pattern(words: Sequence[str]) -> re.Pattern[str]:
    ordered = sorted(words, key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(map(re.escape, ordered)) + r")\b", re.IGNORECASE)


_PLACEHOLDERS = [(tag, _word_pattern(words)) for tag, words in _VOCABULARY]


def template(sentence: str) -> str:
    """A sentence with every known vocabulary word replaced by its placeholder."""
    text = _SHAPE.sub("{SHAPE}", sentence)
    for tag, pattern in _PLACEHOLDERS:
        text = pattern.sub(tag, text)
    return text


def normalise(story: Story, side: str) -> Story:
    """Apply this side's rules of NORMALISATION to one story."""
    rules = [r for r in NORMALISATION if r.side == side and story.task in r.tasks]

    def fix(text: str, name: str) -> str:
        for rule in rules:
            if name in rule.fields:
                text = re.sub(rule.pattern, rule.replacement, text)
        return text

    return Story(story.task, tuple(fix(f, "fact") for f in story.facts), fix(story.question, "question"),
                 fix(story.answer, "answer"), story.supporting)


@dataclass
class Profile:
    """What the comparison measures for one set of stories."""

    answers: Counter[str] = field(default_factory=Counter)
    labels: set[str] = field(default_factory=set)
    question_forms: Counter[str] = field(default_factory=Counter)
    fact_forms: Counter[str] = field(default_factory=Counter)
    facts_before: list[int] = field(default_factory=list)
    supporting_counts: Counter[int] = field(default_factory=Counter)
    distances: list[int] = field(default_factory=list)

    def add(self, story: Story) -> None:
        self.answers[story.answer] += 1
        self.labels.update(story.answer.split(","))
        self.question_forms[template(story.question)] += 1
        self.fact_forms.update(template(f) for f in story.facts)
        self.facts_before.append(len(story.facts))
        self.supporting_counts[len(story.supporting)] += 1
        if story.supporting:
            self.distances.append(len(story.facts) - 1 - story.supporting[-1])


def total_variation(a: Counter, b: Counter) -> float:
    """Half the L1 distance between the two normalised histograms."""
    na, nb = sum(a.values()), sum(b.values())
    return 0.5 * sum(abs(a[k] / na - b[k] / nb) for k in set(a) | set(b))


def _binned(values: list[int], width: int) -> Counter[int]:
    return Counter(v // width for v in values)


@dataclass
class Comparison:
    task: str
    ours: Profile
    reference: Profile

    @property
    def labels_only_ours(self) -> set[str]:
        return self.ours.labels - self.reference.labels

    @property
    def labels_only_reference(self) -> set[str]:
        return self.reference.labels - self.ours.labels

    @property
    def question_forms_only_ours(self) -> set[str]:
        return set(self.ours.question_forms) - set(self.reference.question_forms) - set(RELEASED_ONLY_FORMS.get(self.task, ()))

    @property
    def question_forms_only_reference(self) -> set[str]:
        return set(self.reference.question_forms) - set(self.ours.question_forms)

    @property
    def fact_forms_only_ours(self) -> set[str]:
        return set(self.ours.fact_forms) - set(self.reference.fact_forms)

    @property
    def fact_forms_only_reference(self) -> set[str]:
        return set(self.reference.fact_forms) - set(self.ours.fact_forms)

    @property
    def bin_width(self) -> int:
        """Facts-before counts are binned (width 5) when stories are long, so sparse tails don't dominate TV."""
        return 1 if max(self.reference.facts_before) <= 20 else 5

    @property
    def tv_facts_before(self) -> float:
        w = self.bin_width
        return total_variation(_binned(self.ours.facts_before, w), _binned(self.reference.facts_before, w))

    @property
    def tv_answers(self) -> float:
        return total_variation(self.ours.answers, self.reference.answers)

    @property
    def tv_supporting(self) -> float:
        return total_variation(self.ours.supporting_counts, self.reference.supporting_counts)


def reference_file(task: str, folder: Path) -> Path:
    """The one ``qaN_*.txt`` or ``qaN_*.txt.bz2`` file of ``task`` in ``folder``."""
    found = sorted(folder.glob(f"{task}_*.txt")) + sorted(folder.glob(f"{task}_*.txt.bz2"))
    if len(found) != 1:
        raise SystemExit(f"expected one {task}_*.txt or {task}_*.txt.bz2 in {folder}, found {len(found)}:"
                         " pass --reference DIR with the original generator's samples")
    return found[0]


def reference_text(path: Path) -> str:
    """The text of a reference file, decompressed when it ends in ``.bz2``."""
    if path.suffix == ".bz2":
        return bz2.decompress(path.read_bytes()).decode("utf-8")
    return path.read_text(encoding="utf-8")


def read_reference(task: str, folder: Path = REFERENCE_DIR) -> list[Story]:
    """Every question of ``task``'s reference file as a Story."""
    path = reference_file(task, folder)
    return parse_babi(reference_text(path), task, source=str(path))


def compare_task(task: Task, stories: int, seed: int, folder: Path = REFERENCE_DIR) -> Comparison:
    ours, reference = Profile(), Profile()
    for index in range(stories):
        ours.add(normalise(task.generate(Rng(seed, "fidelity", task.name, index)), "ours"))
    for story in read_reference(task.name, folder):
        reference.add(normalise(story, "reference"))
    return Comparison(task.name, ours, reference)


def _mean(values: list[int]) -> float:
    return statistics.fmean(values) if values else 0.0


def report(c: Comparison) -> str:
    def listing(title: str, items: set[str]) -> list[str]:
        return [f"  {title}: " + ("-" if not items else "; ".join(sorted(items)))]

    lines = [f"== {c.task}  (ours {len(c.ours.facts_before)} stories, reference {len(c.reference.facts_before)} questions)"]
    lines += listing("labels only in ours", c.labels_only_ours)
    lines += listing("labels only in reference", c.labels_only_reference)
    lines += listing("question forms only in ours", c.question_forms_only_ours)
    lines += listing("question forms only in reference", c.question_forms_only_reference)
    lines += listing("fact forms only in ours", c.fact_forms_only_ours)
    lines += listing("fact forms only in reference", c.fact_forms_only_reference)
    lines.append(f"  facts before question: mean ours {_mean(c.ours.facts_before):.2f} ref {_mean(c.reference.facts_before):.2f}"
                 f"  TV {c.tv_facts_before:.3f} (bin width {c.bin_width})")
    lines.append(f"  answers TV {c.tv_answers:.3f}   supporting-count TV {c.tv_supporting:.3f}")
    lines.append(f"  distance last support -> question: mean ours {_mean(c.ours.distances):.2f} ref {_mean(c.reference.distances):.2f}")
    return "\n".join(lines)


def summary(comparisons: list[Comparison]) -> str:
    head = f"{'task':5} {'labels':>6} {'q+ours':>6} {'f+ours':>6} {'q+ref':>5} {'f+ref':>5} {'facts o/r':>13} {'TVfacts':>7} {'TVans':>6} {'TVsup':>6} {'dist o/r':>11}"
    rows = [head]
    for c in comparisons:
        labels = "ok" if not c.labels_only_ours else f"+{len(c.labels_only_ours)}"
        rows.append(
            f"{c.task:5} {labels:>6} {len(c.question_forms_only_ours):6d} {len(c.fact_forms_only_ours):6d} "
            f"{len(c.question_forms_only_reference):5d} {len(c.fact_forms_only_reference):5d} "
            f"{_mean(c.ours.facts_before):6.1f}/{_mean(c.reference.facts_before):<6.1f} {c.tv_facts_before:7.3f} "
            f"{c.tv_answers:6.3f} {c.tv_supporting:6.3f} {_mean(c.ours.distances):5.2f}/{_mean(c.reference.distances):<5.2f}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=2000, help="stories generated per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", type=Path, default=REFERENCE_DIR, help="folder with qaN_*.txt")
    args = parser.parse_args(argv)
    comparisons = [compare_task(task, args.stories, args.seed, args.reference) for task in all_tasks().values()]
    for c in comparisons:
        print(report(c))
        print()
    print("summary (q+/f+ = question/fact forms only in ours / only in reference)")
    print(summary(comparisons))
    return 0


if __name__ == "__main__":
    sys.exit(main())
