"""The 20 bAbI tasks. Each ``qa*`` module in this package exposes ``TASKS: list[Task]``."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from babilong.errors import BabilongError
from babilong.tasks.base import Story, Task

__all__ = ["Story", "Task", "all_tasks", "get_task", "parse_tasks"]


@cache
def all_tasks() -> dict[str, Task]:
    """Every task, keyed ``qa1`` ... ``qa20``, in numeric order."""
    found: dict[str, Task] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("qa"):
            for task in importlib.import_module(f"{__name__}.{module.name}").TASKS:
                found[task.name] = task
    return dict(sorted(found.items(), key=lambda item: item[1].number))


def get_task(name: str) -> Task:
    tasks = all_tasks()
    if name not in tasks:
        raise BabilongError(f"unknown task {name!r}: use one of qa1 ... qa20 (e.g. --tasks qa1-qa5)")
    return tasks[name]


def parse_tasks(spec: str) -> list[str]:
    """``"qa1-qa5,qa7"`` -> ``["qa1", ..., "qa5", "qa7"]`` (order kept, duplicates dropped)."""
    names: list[str] = []
    for part in (p.strip().lower() for p in spec.split(",")):
        if not part:
            continue
        if part == "all":
            names.extend(all_tasks())
            continue
        if "-" in part:
            first, last = (_task_number(p, spec) for p in part.split("-", 1))
            if first > last:
                raise BabilongError(f"bad task range {part!r} in --tasks {spec!r}: write it low-high, e.g. qa1-qa5")
            names.extend(f"qa{n}" for n in range(first, last + 1))
        else:
            names.append(f"qa{_task_number(part, spec)}")
    if not names:
        raise BabilongError("no tasks given: use e.g. --tasks qa1-qa5")
    for name in names:
        get_task(name)
    return list(dict.fromkeys(names))


def _task_number(text: str, spec: str) -> int:
    digits = text.strip().removeprefix("qa")
    if not digits.isdigit() or not 1 <= int(digits) <= 20:
        raise BabilongError(f"unknown task {text!r} in --tasks {spec!r}: use qa1 ... qa20, ranges like qa1-qa5, or 'all'")
    return int(digits)
