"""Task kinds: a recipe's `task` to the class implementing the Task protocol (workbench/tasks/base.py).

The names are written once, in workbench/recipe/task_names.py (the schema below takes them from
there); the kind `name` is workbench/tasks/<name>.py, whose `TASK: type[Task]` is its class, so
mypy checks every registered class against every role of the protocol. Modules load on first use;
none imports torch at import time.
"""

from __future__ import annotations

import importlib
from typing import Any

from workbench.errors import UserError
from workbench.recipe import Recipe
from workbench.recipe.task_names import TASKS
from workbench.tasks.base import Task


def task_class(kind: str) -> type[Task]:
    if kind not in TASKS:
        raise UserError(f"task {kind!r} is not a task kind (expected one of {', '.join(TASKS)})")
    cls: type[Task] = importlib.import_module(f"{__name__}.{kind}").TASK
    return cls


def get_task(values: dict[str, Any]) -> Task:
    """The task of a recipe, bound to its flat values."""
    return task_class(values["task"])(values)


def check_recipe(recipe: Recipe) -> None:
    """The task's cross-field checks of a loaded recipe (the schema's own checks ran in load_recipe).
    Errors name the recipe file and the line that sets the knob."""
    def fail(message: str, section: str = "", key: str | None = None) -> UserError:
        line = recipe.line_of(f"{section}.{key}" if section else key) if key else None
        return UserError(message, path=recipe.path, line=line)

    cls = task_class(recipe.task)
    cls.check_recipe(recipe.view, fail)
    check_targets(recipe.view.eval.targets, recipe.task, cls.metrics, fail)
    check_tune_metric(recipe.view.tune.metric, recipe.task, cls.metrics, fail)


def check_targets(targets: dict[str, float], task: str, metrics: tuple[str, ...], fail) -> None:
    """Every eval.targets name is a metric the task's evaluation can report."""
    wrong = [name for name in targets if name not in metrics]
    if wrong:
        raise fail(f"eval.targets: {wrong[0]!r} is no metric of task {task} (expected one of "
                   f"{', '.join(sorted(metrics))})", "eval", "targets")


def check_tune_metric(metric: str, task: str, metrics: tuple[str, ...], fail) -> None:
    """tune.metric, when given, is a metric the task's evaluation reports (not a count like examples)."""
    from workbench.recipe.metric_names import NEUTRAL_METRICS

    judged = [m for m in metrics if m not in NEUTRAL_METRICS]
    if metric and metric not in judged:
        raise fail(f"tune.metric = {metric!r} is no metric of task {task} (expected one of "
                   f"{', '.join(sorted(judged))})", "tune", "metric")


def load_splits(values: dict[str, Any]):
    """Every data file a recipe names, read and validated by its task (train, validation, test)."""
    return get_task(values).load_splits()


def recipe_template(kind: str, name: str) -> str:
    """A new recipe of task `kind` named `name`: the task's template (workbench/recipe/catalog.py)."""
    from workbench.recipe.catalog import template

    cls = task_class(kind)
    return template(kind, name, cls.template_knobs, cls.template_values)
