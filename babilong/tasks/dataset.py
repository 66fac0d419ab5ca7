"""A task's stories by index: a small config, checked up front, and a dataset that makes story
``i`` on demand, the very story ``babilong generate`` puts in sample ``i``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

from babilong.errors import BabilongError
from babilong.rng import Rng
from babilong.scorers import judge_answer
from babilong.tasks import get_task
from babilong.tasks.base import Story


@dataclass(frozen=True)
class TaskConfig:
    """Which task, which seed, how many stories."""

    task: str
    seed: int = 0
    size: int = 100

    def validate(self) -> None:
        """Raise a one-line BabilongError naming the first bad field."""
        get_task(self.task)
        if not _is_whole(self.seed):
            raise BabilongError(f"bad seed {self.seed!r} for {self.task}: use a whole number, e.g. seed=0")
        if not _is_whole(self.size) or self.size < 1:
            raise BabilongError(f"bad size {self.size!r} for {self.task}: use a whole number of stories, at least 1")


def _is_whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class TaskDataset(Sequence[Story]):
    """``TaskDataset(config)[i]``: story ``i`` of the task, made when asked, the same on every call."""

    def __init__(self, config: TaskConfig) -> None:
        config.validate()
        self.config = config
        self.task = get_task(config.task)

    def __len__(self) -> int:
        return self.config.size

    @overload
    def __getitem__(self, index: int) -> Story: ...
    @overload
    def __getitem__(self, index: slice) -> list[Story]: ...

    def __getitem__(self, index: int | slice) -> Story | list[Story]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(f"story {index} of a {len(self)}-story {self.task.name} dataset")
        return make_story(self.task.name, self.config.seed, index % len(self))

    def score(self, output: str, story: Story, scorer: str | None = None) -> bool:
        """Whether ``output`` answers ``story`` rightly, by the default or the named scorer."""
        return judge_answer(output, story.answer, story.question, self.task.name, scorer)


def make_story(task: str, seed: int, index: int, attempt: int = 0) -> Story:
    """The ``index``-th story of a task: the same at every length, so lengths compare like with like.

    ``attempt`` > 0 draws a replacement, for when the story does not fit a sample's length.
    """
    spec = get_task(task)
    story = spec.generate(Rng(seed, task, "story", index, attempt) if attempt else Rng(seed, task, "story", index))
    answer = spec.check(story.facts, story.question)
    if answer != story.answer:
        raise BabilongError(
            f"internal error: {task} story {index} (seed {seed}) was labelled {story.answer!r} but its checker "
            f"answers {answer!r}: please report this"
        )
    return story
