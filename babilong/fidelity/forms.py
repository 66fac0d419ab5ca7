"""What a set of stories looks like: labels, sentence forms and distributions, ours against the reference.

A sentence's form is its template: the sentence with every known vocabulary word replaced by
a placeholder ("{NAME} went to the {PLACE}."), so that two generators' wordings can be
compared as sets whatever names they drew.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from babilong.fidelity.drifts import RELEASED_ONLY_FORMS, our_stories, reference_stories
from babilong.tasks import Story, Task

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


def bin_width(facts_before: Sequence[int]) -> int:
    """Facts-before counts are binned (width 5) when stories are long, so sparse tails don't dominate TV."""
    return 1 if max(facts_before) <= 20 else 5


@dataclass
class Comparison:
    """One task's profile of our stories and of the reference's."""

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
        return bin_width(self.reference.facts_before)

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


def compare_task(task: Task, stories: int, seed: int, folder: Path) -> Comparison:
    """Profile ``stories`` of our stories and every question of the reference file in ``folder``."""
    ours, reference = Profile(), Profile()
    for story in our_stories(task, stories, seed):
        ours.add(story)
    for story in reference_stories(task.name, folder):
        reference.add(story)
    return Comparison(task.name, ours, reference)
