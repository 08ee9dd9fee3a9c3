"""Task kinds: the registry from a recipe's `task` to the class implementing the Task protocol
(workbench/tasks/base.py). Classes are imported on first use; none imports torch at import time.
"""

from __future__ import annotations

import importlib
from typing import Any

from workbench.errors import UserError
from workbench.tasks.base import Task

TASKS = {
    "classification": "workbench.tasks.classification:ClassificationTask",
    "chat_classification": "workbench.tasks.chat_classification:ChatClassificationTask",
    "ner": "workbench.tasks.ner:NerTask",
}


def task_class(kind: str) -> type[Task]:
    if kind not in TASKS:
        raise UserError(f"task {kind!r} is not a task kind (expected one of {', '.join(TASKS)})")
    module, _, name = TASKS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def get_task(values: dict[str, Any]) -> Task:
    """The task of a recipe, bound to its flat values."""
    return task_class(values["task"])(values)


def check_recipe(recipe) -> None:
    """The task's cross-field checks of a loaded recipe (the schema's own checks ran in load_recipe).
    Errors name the recipe file and the line that sets the knob."""
    def fail(message: str, section: str = "", key: str | None = None) -> UserError:
        line = recipe.line_of(f"{section}.{key}" if section else key) if key else None
        return UserError(message, path=recipe.path, line=line)

    task_class(recipe["task"]).check_recipe(recipe.values, fail)


def load_splits(values: dict[str, Any]):
    """Every data file a recipe names, read and validated by its task (train, validation, test)."""
    return get_task(values).load_splits()
