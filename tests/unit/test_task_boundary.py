"""What differs per task lives in workbench/tasks/ (docs/architecture.md, "Tasks"): no module outside
it decides by the task's name (an AST walk of every module of the package, lazy code inside
functions included), the names are written in one place, and each is registered by its module's
`TASK: type[Task]`, which mypy checks against the protocol."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import workbench
from workbench.recipe.schema import BY_NAME
from workbench.recipe.task_names import TASKS
from workbench.tasks import recipe_template, task_class
from workbench.tasks.base import Task

PACKAGE = Path(workbench.__file__).resolve().parent
TASKS_DIR = PACKAGE / "tasks"


def _names(node: ast.AST, names: tuple[str, ...]) -> bool:
    """A task's name as a literal, or a tuple / list / set literal holding one."""
    if isinstance(node, ast.Constant):
        return node.value in names
    return isinstance(node, ast.Tuple | ast.List | ast.Set) and any(_names(e, names) for e in node.elts)


def _task_lookup(node: ast.AST) -> bool:
    """`x["task"]`, `x.get("task", ...)`, `x.peft_task_type`: what a branch on the task reads."""
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "task"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value == "task"
    return isinstance(node, ast.Attribute) and node.attr == "peft_task_type"


def task_branches(source: str, names: tuple[str, ...]) -> list[str]:
    """Where a module decides by the task: a comparison (==, !=, in, not in) with a task's name or
    with the recipe's task, a `match` on either, a dict keyed by task names (a dispatch table, also
    spelt dict(name=...)); as 'line N: code'."""
    tree = ast.parse(source)
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            if any(_names(o, names) or _task_lookup(o) for o in (node.left, *node.comparators)):
                found.append(node)
        elif isinstance(node, ast.Match):
            if _task_lookup(node.subject) or any(
                    isinstance(p, ast.MatchValue) and _names(p.value, names)
                    for case in node.cases for p in ast.walk(case.pattern)):
                found.append(node)
        elif isinstance(node, ast.Dict):
            if any(k is not None and _names(k, names) for k in node.keys):
                found.append(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
            if any(k.arg in names for k in node.keywords):
                found.append(node)
    return [f"line {n.lineno}: {(ast.get_source_segment(source, n) or '').splitlines()[0]}"
            for n in sorted(found, key=lambda n: (n.lineno, n.col_offset))]


def name_literals(source: str, names: tuple[str, ...]) -> list[str]:
    """Every string literal that is a task's name, as 'line N: name'."""
    return [f"line {n.lineno}: {n.value!r}" for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in names]


def modules_outside_tasks() -> list[Path]:
    modules = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
    assert len(modules) > 50 and any(p.is_relative_to(TASKS_DIR) for p in modules)
    return [p for p in modules if not p.is_relative_to(TASKS_DIR)]


def _report(found: dict[Path, list[str]]) -> str:
    return f"{sum(map(len, found.values()))} in {len(found)} modules: " + "; ".join(
        f"{path.relative_to(PACKAGE.parent)} ({', '.join(hits)})" for path, hits in found.items())


def test_no_module_outside_workbench_tasks_branches_on_the_task():
    found = {p: hits for p in modules_outside_tasks() for hits in [task_branches(p.read_text(encoding="utf-8"), TASKS)]
             if hits}
    assert not found, "decided by the task outside workbench/tasks/: " + _report(found)


def test_the_checker_sees_each_spelling_of_a_branch_on_the_task():
    """The walk finds each form (so the test above can fail), and leaves what is no branch alone."""
    source = '''
def f(values, task, kind, labels, cls):
    if task == "ner":
        pass
    x = "a" if values["task"] != other else "b"
    y = kind in ("classification", "x")
    match values["task"]:
        case _:
            pass
    match kind:
        case "chat_classification":
            pass
    table = {"ner": 1, "other": 2}
    words = dict(classification="label")
    causal = cls.peft_task_type == "CAUSAL_LM"
    got = labels.get("task") == kind
    fine = {"task": task}, kind == "other", values["model.source"] == "ner-ish", "see ner" in kind
    return values["task"]
'''
    assert [h.split(":")[0] for h in task_branches(source, TASKS)] == [
        "line 3", "line 5", "line 6", "line 7", "line 10", "line 13", "line 14", "line 15", "line 16"]


def test_the_task_names_are_written_once():
    """Outside workbench/tasks/ a task's name is a literal only where the names are declared."""
    found = {p: hits for p in modules_outside_tasks() for hits in [name_literals(p.read_text(encoding="utf-8"), TASKS)]
             if hits and p != PACKAGE / "recipe" / "task_names.py"}
    assert not found, "a task's name written outside workbench/tasks/ and workbench/recipe/task_names.py: " + _report(found)


@pytest.mark.parametrize("kind", TASKS)
def test_each_task_name_is_a_module_whose_task_is_checked_against_the_protocol(kind):
    """workbench/tasks/<name>.py registers its class as `TASK: type[Task]`: the annotation is what
    mypy (scripts/lint) checks the class against, every role of the protocol."""
    module = importlib.import_module(f"workbench.tasks.{kind}")
    assert typing.get_type_hints(module)["TASK"] == type[Task]
    cls = task_class(kind)
    assert cls is module.TASK and cls.kind == kind
    assert set(cls.template_knobs) <= set(BY_NAME)
    assert recipe_template(kind, "fresh").splitlines()[5] == f'task = "{kind}"'


def test_mypy_covers_the_task_modules():
    """The `TASK: type[Task]` annotations are checked only where mypy looks (scripts/lint)."""
    import tomllib

    files = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]["files"]
    assert any(f.rstrip("/") in ("workbench", "workbench/tasks") for f in files), files


def test_the_task_registry_loads_without_the_ml_stack():
    """`workbench validate`, --dry-run's head and the app's new recipe load task classes: torch,
    transformers and peft wait for the methods that use them."""
    code = ("import json, sys\n"
            "from workbench.recipe.sections import RecipeView\n"
            "from workbench.recipe.task_names import TASKS\n"
            "from workbench.tasks import recipe_template, task_class\n"
            "for kind in TASKS:\n"
            "    task_class(kind).model_head(RecipeView())\n"
            "    recipe_template(kind, 'fresh')\n"
            "print(json.dumps([m for m in ('torch', 'transformers', 'peft') if m in sys.modules]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
