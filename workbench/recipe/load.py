"""Reading recipes (tomllib), validating them against the schema, applying --set overrides,
and writing them back (tomlkit, so a user's comments and layout survive)."""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.recipe import own_data, schema
from workbench.recipe.schema import BY_NAME, SECTIONS, Knob
from workbench.recipe.sections import Data, Eval, Fairness, Launch, Lora, Model, Quant, RecipeView, Sweep, Train, Tune, view_of
from workbench.recipe.suggest import did_you_mean
from workbench.textfile import read_text_file


@dataclass
class Recipe:
    """A validated recipe: every knob present (defaults filled in), paths absolute."""

    values: dict[str, Any]
    path: Path | None = None
    # Knobs whose value came from the file or an override (not a default), for `show` / diffs.
    explicit: set[str] = field(default_factory=set)
    # The [sweep] table's knobs and their values or ranges, and each `methods` entry's own knobs
    # (workbench/recipe/sweep.py); both empty for a single run. (`sweep` is the [sweep] section's
    # own knobs: mode, trials, ...)
    axes: dict[str, Any] = field(default_factory=dict)
    method_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @functools.cached_property
    def view(self) -> RecipeView:
        """The recipe typed (workbench/recipe/sections.py), built once from the values, which are
        never changed after load (`with_values` / `single` make a new Recipe). The sections are
        also attributes of the recipe itself: `recipe.train.batch_size`, `recipe.launch.target`."""
        return view_of(self.values)

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def task(self) -> str:
        return self.view.task

    @property
    def model(self) -> Model:
        return self.view.model

    @property
    def data(self) -> Data:
        return self.view.data

    @property
    def lora(self) -> Lora:
        return self.view.lora

    @property
    def quant(self) -> Quant:
        return self.view.quant

    @property
    def train(self) -> Train:
        return self.view.train

    @property
    def eval(self) -> Eval:
        return self.view.eval

    @property
    def fairness(self) -> Fairness:
        return self.view.fairness

    @property
    def sweep(self) -> Sweep:
        return self.view.sweep

    @property
    def tune(self) -> Tune:
        return self.view.tune

    @property
    def launch(self) -> Launch:
        return self.view.launch

    def section(self, section: str) -> dict[str, Any]:
        prefix = section + "."
        return {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}

    def nested(self) -> dict[str, Any]:
        """{key: value, section: {key: value}} in schema order, for writing TOML."""
        out: dict[str, Any] = {}
        for knob in schema.KNOBS:
            v = self.values[knob.name]
            if knob.section:
                out.setdefault(knob.section, {})[knob.key] = v
            else:
                out[knob.key] = v
        return out

    def line_of(self, name: str) -> int | None:
        """Line of the recipe file that sets `name` (None if it is not set in the file)."""
        if self.path is None or not self.path.is_file():
            return None
        section, _, key = name.rpartition(".")
        return _locate(self.path.read_text(encoding="utf-8-sig"), section, key)

    def with_values(self, changes: dict[str, Any]) -> Recipe:
        return Recipe({**self.values, **changes}, self.path, self.explicit | set(changes), dict(self.axes),
                      dict(self.method_overrides))

    def single(self, changes: dict[str, Any]) -> Recipe:
        """One run of a sweep: these changes, and no sweep left in it."""
        return Recipe({**self.values, **changes}, self.path, self.explicit | set(changes))

    def runs(self, seeds: list[int] | None = None) -> list[dict[str, Any]]:
        """The changes of every run this recipe stands for (methods × sweep trials × seeds)."""
        from workbench.recipe.sweep import expand

        return expand(self.view, self.axes, self.method_overrides, seeds)


def load_recipe(path: str | Path, overrides: Iterable[str] = (), sweeps: Iterable[str] = ()) -> Recipe:
    """Load and validate a recipe file, then apply `section.key=value` overrides.

    Raises UserError with a one-line message naming the file, line and field on any problem.
    """
    path = Path(path)
    text = read_text_file(path, "recipe file")
    try:
        raw = tomllib.loads(text)
    except RecursionError:
        raise UserError("invalid TOML: values nested too deeply", path=path) from None
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        raise UserError(f"invalid TOML: {msg}", path=path, line=int(m.group(1)) if m else None) from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise UserError(f"invalid TOML: {str(e).splitlines()[0]}", path=path) from None
    if _frozen_before_holdout_split(path, raw):
        raw["data"] = {**raw["data"], "holdout_split": "random"}
    return recipe_from_dict(raw, path=path, text=text, overrides=overrides, sweeps=sweeps)


def _frozen_before_holdout_split(path: Path, raw: dict[str, Any]) -> bool:
    """A run folder's frozen recipe (every knob written) from before data.holdout_split: that run held its
    validation out at random, and loads so (the trainer, `eval`, `errors`, `run --from`: the same rows)."""
    from workbench import rundir

    return (path.name == rundir.RECIPE and isinstance(raw.get("data"), dict) and "holdout_split" not in raw["data"]
            and (path.parent / rundir.RUN_META).is_file())


def recipe_from_dict(raw: dict[str, Any], *, path: Path | None = None, text: str = "",
                     overrides: Iterable[str] = (), sweeps: Iterable[str] = ()) -> Recipe:
    from workbench.recipe import sweep as sweeping

    values = schema.defaults()
    explicit: set[str] = set()
    axes: dict[str, Any] = {}
    base_dir = path.parent if path is not None else Path.cwd()

    def fail(msg: str, section: str = "", key: str | None = None) -> UserError:
        return UserError(msg, path=path, line=_locate(text, section, key) if text else None)

    raw = dict(raw)
    method_overrides: dict[str, dict[str, Any]] = {}
    if "methods" in raw:  # entries may be inline tables of a method's own knobs
        raw["methods"], method_overrides = sweeping.split_methods(raw["methods"], lambda m: fail(m, "", "methods"))
    for top_key, top_val in raw.items():
        if top_key == "sweep" and isinstance(top_val, dict):
            for key, val in sweeping.flatten(top_val).items():
                if f"sweep.{key}" in BY_NAME:
                    _assign(values, explicit, f"sweep.{key}", val, base_dir, fail, "sweep", key)
                else:
                    axes[key] = _resolve_axis(key, sweeping.check_axis(
                        key, val, functools.partial(_fail_at, fail, "sweep", key)), base_dir)
        elif isinstance(top_val, dict) and top_key not in BY_NAME:
            if top_key == "tune" and isinstance(top_val.get("space"), dict):
                # `train.learning_rate = "..."` in [tune.space] nests as the sweep's dotted keys do
                top_val = {**top_val, "space": sweeping.flatten(top_val["space"])}
            if top_key not in SECTIONS:
                raise fail(f"unknown section [{top_key}]{did_you_mean(top_key, SECTIONS, '[{}]')}", top_key)
            for key, val in top_val.items():
                _assign(values, explicit, f"{top_key}.{key}", val, base_dir, fail, top_key, key)
        else:
            _assign(values, explicit, top_key, top_val, base_dir, fail, "", top_key)

    before, set_here = dict(values), set()
    for item in overrides:
        name, val = _parse_override(item, path)
        knob = BY_NAME.get(name)
        if knob is None:
            raise UserError(f"--set {name}: unknown key{did_you_mean(name, BY_NAME)}", path=path)
        got = schema.coerce(knob, val, from_text=True)
        if got.error:
            raise UserError(f"--set {got.error}", path=path)
        values[name] = _resolve_path(knob, got.value, Path.cwd())
        explicit.add(name)
        set_here.add(name)
    own_data.replace_label_form(values, explicit, set_here, path)
    values.update(own_data.renamed_for_data(values, before, set_here))

    for item in sweeps:
        name, axis = sweeping.parse_flag(item)
        axes[name] = _resolve_axis(name, axis, Path.cwd())  # a flag replaces the recipe's values for that knob
    run = values["methods"] or [values["model.method"]]
    # the knobs of methods not run (`--set methods=[]` leaves model.method alone) play no part
    method_overrides = {m: {k: _resolve_path(BY_NAME[k], v, base_dir) for k, v in o.items()}
                        for m, o in method_overrides.items() if m in run}

    if not values["name"]:
        values["name"] = path.stem if path is not None else "recipe"
    for knob in schema.KNOBS:
        if knob.required and values[knob.name] in ("", [], {}):
            where = path if path is not None else "recipe"
            raise UserError(f"{knob.name} is required ({knob.help.split('.')[0].lower()}: {knob.expected()})", path=where)
    # a recipe of several runs is checked run by run below (a 4-bit LoRA beside an unquantized full
    # fine-tune is two valid runs, not one invalid one)
    _check_cross_fields(values if not method_overrides else {**values, "methods": []}, fail)
    recipe = Recipe(values, path, explicit, axes, method_overrides)
    if axes or method_overrides:
        # the sweep's size and each trial's values, before anything starts (sweep.max_trials)
        try:
            variants = recipe.runs()
        except UserError as e:
            raise UserError(str(e), path=path) from None
        for changes in variants:
            _check_cross_fields({**values, **changes}, fail)
    return recipe


def _resolve_axis(name: str, axis: Any, base_dir: Path) -> Any:
    """A swept path knob's files, resolved as the knob's own value is (relative to the recipe)."""
    knob = BY_NAME[name]
    return [_resolve_path(knob, v, base_dir) for v in axis] if isinstance(axis, list) else axis


def _fail_at(fail, section: str, key: str, message: str) -> UserError:
    return fail(message, section, key)


def _assign(values, explicit, name, val, base_dir, fail, section, key) -> None:
    knob = BY_NAME.get(name)
    if knob is None:
        raise fail(f"unknown key {name}{did_you_mean(name, BY_NAME)}", section, key)
    got = schema.coerce(knob, val)
    if got.error:
        raise fail(got.error, section, key)
    values[name] = _resolve_path(knob, got.value, base_dir)
    explicit.add(name)


def _resolve_path(knob: Knob, value: Any, base_dir: Path) -> Any:
    if knob.kind != "path" or value == "":
        return value
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base_dir / p).resolve())


def _check_cross_fields(values: dict[str, Any], fail) -> None:
    """Checks across knobs that hold for every task; each task checks its own knobs
    (workbench/tasks: check_recipe, run by `workbench validate` and every launch)."""
    recipe = view_of(values)
    model, data = recipe.model, recipe.data
    if recipe.quant.use_4bit and model.source.tiny and model.tiny_hidden_size % 64:
        raise fail(f"model.tiny_hidden_size = {model.tiny_hidden_size}: 4-bit weights are quantized in "
                   "blocks of 64, so a tiny model needs a multiple of 64", "model", "tiny_hidden_size")
    if not data.train_file and not data.dataset:
        raise fail("data.train_file is required (training data: a file, or a Hugging Face dataset in data.dataset)",
                   "data", "train_file")
    if data.dataset:
        if not data.train_split.strip():
            raise fail("data.train_split is empty: name the split of data.dataset to train on", "data", "train_split")
        for name in ("train_file", "validation_file", "test_file"):
            if values[f"data.{name}"]:
                raise fail(f"give data.{name} or data.dataset, not both (a dataset's splits are data.train_split, "
                           "data.validation_split and data.test_split)", "data", name)
    if model.device_map == "auto":
        for knob in ("gpus", "processes", "nodes"):
            if values[f"launch.{knob}"] > 1:
                raise fail(f"model.device_map = \"auto\" shards one process's model over all its GPUs; "
                           f"launch.{knob} = {values[f'launch.{knob}']} starts several training processes: use "
                           "model.device_map = \"rank\" (a whole model per GPU) or one process", "model", "device_map")
    methods = recipe.methods or [model.method]
    if recipe.quant.use_4bit and "full" in methods:
        raise fail("quant.use_4bit trains LoRA adapters on a frozen 4-bit model: it needs model.method = \"lora\" "
                   "(a full fine-tune cannot update 4-bit weights)", "quant", "use_4bit")


def _parse_override(item: str, path: Path | None = None) -> tuple[str, str]:
    if "=" not in item:
        raise UserError(f"--set {item!r}: expected section.key=value", path=path)
    name, _, val = item.partition("=")
    return name.strip(), val.strip()


_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(#.*)?$")


def _locate(text: str, section: str, key: str | None) -> int | None:
    """Line number (1-based) where `key` is set inside `[section]` (or the header itself)."""
    current = ""
    for no, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m:
            current = m.group(1).strip("\"' ")
            if key is None and current == section:
                return no
            continue
        if key is None:
            continue
        kv = re.match(r"^\s*([A-Za-z0-9_.\-\"']+)\s*=", line)
        if not kv:
            continue
        k = kv.group(1).strip("\"'")
        if (current == section and k == key) or (current == "" and section and k == f"{section}.{key}"):
            return no
    return None


# --- writing --------------------------------------------------------------------------------

def write_frozen(recipe: Recipe, dest: Path, header: str) -> None:
    """Write the fully resolved recipe a run was started with (every knob, absolute paths)."""
    import tomlkit

    doc = tomlkit.document()
    for line in header.splitlines():
        doc.add(tomlkit.comment(line))
    nested = recipe.nested()
    for key, val in nested.items():
        if not isinstance(val, dict):
            doc.add(key, val)
    for key, val in nested.items():
        if isinstance(val, dict):
            table = tomlkit.table()
            for k, v in val.items():
                table.add(k, _tomlkit_value(v))
            doc.add(key, table)
    dest.write_text(tomlkit.dumps(doc), encoding="utf-8")


def _tomlkit_value(v: Any):
    import tomlkit

    if isinstance(v, dict):
        t = tomlkit.inline_table()
        t.update(v)
        return t
    return v


def update_recipe_file(path: Path, changes: dict[str, Any]) -> None:
    """Set knobs in an existing recipe file in place, keeping its comments and layout."""
    import tomlkit

    doc = tomlkit.parse(path.read_text(encoding="utf-8-sig"))
    for name, value in changes.items():
        knob = BY_NAME[name]
        if knob.section:
            if knob.section not in doc:
                doc.add(knob.section, tomlkit.table())
            doc[knob.section][knob.key] = _tomlkit_value(value)
        else:
            doc[knob.key] = _tomlkit_value(value)
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
