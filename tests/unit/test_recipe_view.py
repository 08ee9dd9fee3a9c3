"""The typed recipe: each section a frozen dataclass whose fields are its knobs (the knob table is
read off them), and the view a loaded recipe hands the code, launch.target and model.source parsed once."""

from __future__ import annotations

import dataclasses
import typing

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
