"""The typed recipe: each section a frozen dataclass whose fields are its knobs (the knob table is
read off them), and the view a loaded recipe hands the code, launch.target and model.source parsed once."""

from __future__ import annotations

import ast
import dataclasses
import re
import typing
from pathlib import Path

import pytest

from workbench.recipe import load_recipe, schema
from workbench.recipe import sections as s
from workbench.recipe.parsed import ModelSource, Target

# What each knob kind reads as in Python (choice and path are text)
KIND_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "choice": str, "path": str,
              "str_list": list[str], "int_list": list[int], "str_map": dict[str, str], "float_map": dict[str, float]}


def section_classes() -> dict[str, type]:
    hints = typing.get_type_hints(s.RecipeView)
    return {f.name: hints[f.name] for f in dataclasses.fields(s.RecipeView) if s.META not in f.metadata}


def test_the_knob_table_is_read_off_the_section_dataclasses_in_declaration_order():
    classes = section_classes()
    assert list(classes) == list(schema.SECTIONS)
    declared = [f.name for f in dataclasses.fields(s.RecipeView) if s.META in f.metadata]
    declared += [f"{name}.{f.name}" for name, cls in classes.items() for f in dataclasses.fields(cls)]
    assert declared == [k.name for k in schema.KNOBS]
    assert schema.BY_NAME["train.batch_size"].default == 8 and schema.BY_NAME["train.batch_size"].section == "train"


@pytest.mark.parametrize("knob", schema.KNOBS, ids=lambda k: k.name)
def test_every_field_is_typed_as_its_knob_reads(knob):
    cls = section_classes()[knob.section] if knob.section else s.RecipeView
    hint = typing.get_type_hints(cls)[knob.key]
    parsed = {"model.source": ModelSource, "launch.target": Target}
    if knob.name in parsed:
        assert hint is parsed[knob.name]
    elif knob.kind == "float_map" and knob.choices:  # a word standing for a computed table
        assert hint == dict[str, float] | str
    else:
        assert hint == KIND_TYPES[knob.kind]


def test_a_loaded_recipe_is_typed_by_section(demo_recipe):
    r = load_recipe(demo_recipe, ["train.batch_size=4", "launch.target=slurm:login1", "eval.base=false"])
    assert r.train.batch_size == 4 and type(r.train.batch_size) is int
    assert r.eval.base is False
    assert r.launch.target == Target("slurm", "login1")
    assert r.launch.target.scheduler == "slurm" and r.launch.target.remote
    assert r.values["launch.target"] == "slurm:login1"  # the flat form keeps the text as written
    assert r.model.source == ModelSource(r.values["model.source"]) and r.model.source.tiny
    assert r.view.sweep.max_trials == 64 and r.sweep.mode == "grid"
    assert r.name == r.view.name == r.values["name"] and r.task == r.values["task"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.train.batch_size = 2  # type: ignore[misc]


def test_the_view_holds_every_flat_value(demo_recipe):
    r = load_recipe(demo_recipe)
    view = r.view
    for knob in schema.KNOBS:
        section = getattr(view, knob.section) if knob.section else view
        value = getattr(section, knob.key)
        flat = r.values[knob.name]
        assert (str(value) if knob.name in ("launch.target", "model.source") else value) == flat, knob.name


@pytest.mark.parametrize("text, kind, host, scheduler, remote", [
    ("local", "local", None, None, False), ("ssh:gpu1", "ssh", "gpu1", None, True),
    ("slurm", "slurm", None, "slurm", False), ("pbs:login.example", "pbs", "login.example", "pbs", True)])
def test_launch_target_is_parsed_at_load(demo_recipe, text, kind, host, scheduler, remote):
    target = load_recipe(demo_recipe, [f"launch.target={text}"]).launch.target
    assert (target.kind, target.host, target.scheduler, target.remote, str(target)) == (kind, host, scheduler, remote, text)


@pytest.mark.parametrize("text, arch", [("tiny:llama", "llama"), (" tiny:bert", "bert"), ("org/model", None),
                                        ("./models/here", None)])
def test_model_source_is_parsed_at_load(demo_recipe, text, arch):
    source = load_recipe(demo_recipe, [f"model.source={text}"]).model.source
    assert (source.tiny_arch, source.tiny, str(source)) == (arch, arch is not None, text.strip())


def test_a_changed_recipe_has_its_own_view(demo_recipe):
    r = load_recipe(demo_recipe)
    before = r.train.batch_size
    changed = r.with_values({"train.batch_size": before + 1})
    assert changed.train.batch_size == before + 1 and r.train.batch_size == before


# --- the code reads knobs typed ----------------------------------------------------------------

KNOB_NAME = re.compile(r"(model|data|lora|quant|train|eval|fairness|sweep|launch)\.[a-z_0-9]+")
TOP_LEVEL = {k.key for k in schema.KNOBS if not k.section}

# Where a knob is still named as text in a subscript or .get(): the flat form is the right shape there
# (the load itself, the store's params, MLflow's params, a sweep's change dicts, the knob table and
# the app's form by name), or the migration has not reached it yet (get_task binds flat values).
# The counts may only fall.
FLAT_ALLOWED = {
    "recipe/load.py": 4,            # load_recipe assigning and checking the flat values it builds
    "recipe/catalog.py": 1,         # the knob table: a default by name
    "actions/launch.py": 3,         # a sweep's variants are change dicts {knob: value}
    "launch/launcher.py": 1,        # changes for with_values (the uploaded recipe's container)
    "tui/screens/launch.py": 1,     # the knob table: launch.target's declaration
    "tui/screens/editor.py": 2,     # the form's fields by knob name
    "tasks/__init__.py": 1,         # get_task(values): a task binds flat values (then task.recipe)
    "tracking/mlflow_sink.py": 4,   # MLflow reads the event's flat recipe (its params)
    "store/write.py": 4,            # the store's runs row from the start event's flat recipe
    "store/read.py": 1,             # the params table
}


def flat_lookups(tree: ast.AST) -> int:
    found = 0
    for node in ast.walk(tree):
        key = None
        # reads only: a dict keyed by knob names being filled (a search space) is no lookup
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
            name = node.value.id if isinstance(node.value, ast.Name) else ""
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and node.args and isinstance(node.args[0], ast.Constant)):
            key = node.args[0].value
            name = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
        if isinstance(key, str) and (KNOB_NAME.fullmatch(key) or (key in TOP_LEVEL and name in ("values", "recipe"))):
            found += 1
    return found


def test_no_module_reads_a_knob_by_its_name_where_the_typed_recipe_would_do():
    package = Path(schema.__file__).parents[1]
    counts = {}
    for path in sorted(package.rglob("*.py")):
        n = flat_lookups(ast.parse(path.read_text(encoding="utf-8")))
        if n:
            counts[path.relative_to(package).as_posix()] = n
    over = {f: n for f, n in counts.items() if n > FLAT_ALLOWED.get(f, 0)}
    assert not over, f"read these knobs typed (recipe.<section>.<key>, task.recipe, a RecipeView): {over}"


def test_launch_target_is_parsed_only_at_load_and_from_run_json():
    """parse_target's callers: the recipe's view (at load), run.json's stored target and the launch
    dialog's own field; never a recipe's launch.target again."""
    package = Path(schema.__file__).parents[1]
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "parse_target" and node.args:
                assert "launch.target" not in ast.unparse(node.args[0]), f"{path}: {ast.unparse(node)}"
