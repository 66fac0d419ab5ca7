"""The task registry, the one authority on task names.

The 20 bAbI tasks come from the ``qa*`` modules of this package, each exposing
``TASKS: list[Task]``; a new task is one more such module (or ``register_task`` at run time,
for a plugin or a test). Everything else (the CLI, published folders, reports) asks here
which names exist.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache

from babilong.errors import BabilongError
from babilong.tasks.base import Story, Task

TASK_NAME = re.compile(r"qa[1-9][0-9]*")

__all__ = ["Story", "Task", "all_tasks", "get_task", "is_task", "parse_tasks", "register_task", "unregister_task"]

_registered: dict[str, Task] = {}


@cache
def _modules_tasks() -> dict[str, Task]:
    """The tasks of this package's ``qa*`` modules."""
    found: dict[str, Task] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("qa"):
            for task in importlib.import_module(f"{__name__}.{module.name}").TASKS:
                found[task.name] = task
    return found


@cache
def all_tasks() -> dict[str, Task]:
    """Every task, keyed ``qaN``, in numeric order."""
    return dict(sorted({**_modules_tasks(), **_registered}.items(), key=lambda item: item[1].number))


def register_task(task: Task) -> None:
    """Make a task known everywhere a task name is read (generation, prompts, scoring, reports)."""
    if not TASK_NAME.fullmatch(task.name):
        raise BabilongError(f"task name {task.name!r}: a task is named qaN (N a whole number)")
    if task.name in _modules_tasks():
        raise BabilongError(f"task {task.name} already exists: give the new task another number")
    _registered[task.name] = task
    all_tasks.cache_clear()


def unregister_task(name: str) -> None:
    """Forget a task added by ``register_task`` (tests)."""
    _registered.pop(name, None)
    all_tasks.cache_clear()


def is_task(name: str) -> bool:
    return name in _modules_tasks() or name in _registered


def get_task(name: str) -> Task:
    tasks = all_tasks()
    if name not in tasks:
        raise BabilongError(f"unknown task {name!r}: use one of {_known()} (e.g. --tasks qa1-qa5)")
    return tasks[name]


def _known() -> str:
    names = list(all_tasks())
    return f"{names[0]} ... {names[-1]}" if len(names) > 2 else ", ".join(names)


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
            names.extend(name for name, task in all_tasks().items() if first <= task.number <= last)
        else:
            names.append(f"qa{_task_number(part, spec)}")
    if not names:
        raise BabilongError("no tasks given: use e.g. --tasks qa1-qa5")
    for name in names:
        get_task(name)
    return list(dict.fromkeys(names))


def _task_number(text: str, spec: str) -> int:
    name = text.strip()
    name = name if name.startswith("qa") else f"qa{name}"
    if not is_task(name):
        raise BabilongError(f"unknown task {text!r} in --tasks {spec!r}: use {_known()}, ranges like qa1-qa5, or 'all'")
    return get_task(name).number
