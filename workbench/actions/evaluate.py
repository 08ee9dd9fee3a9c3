"""Evaluating a model without training it, for `workbench eval MODEL [RECIPE]`.

MODEL is a finished run (its adapter or full model, reloaded as `predict` reloads it), or any model
source a recipe takes (a hub id, a local or merged folder, tiny:<arch>). The evaluation is a run of
kind `eval` in the store, followed live like any run, with the same per-label metrics under phase
"tuned" (the model evaluated) and the recipe's label prior under "prior", so `show`, `diff A B`,
`compare` and SQL read it as they read a training run. A finished run evaluated on its own recipe
reproduces its tuned metrics exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench import rundir
from workbench.actions.launch import OnStep, Started, started
from workbench.actions.refs import resolve_run, run_dir_of
from workbench.errors import UserError
from workbench.launch import launcher
from workbench.store import read
from workbench.store.db import connect
from workbench.store.rows import param_text

if TYPE_CHECKING:
    from workbench.recipe import Recipe

# What makes a run's model what it is: evaluating it on another recipe's data keeps these.
_MODEL_KNOBS = ("task", "model.source", "model.method", "model.max_length", "model.precision", "model.tiny_hidden_size",
                "model.tiny_layers", "model.tiny_vocab_size", "quant.use_4bit", "quant.type", "quant.double_quant")


@dataclass(frozen=True)
class EvalStarted:
    """An evaluation run just started: the run, and the model it evaluates (`run:<id>`, a hub id or a
    folder's absolute path)."""

    run: Started
    source: str


def find_run(store: Path, ref: str) -> str | None:
    """The run `ref` names, None when it names none. `run:<ref>` takes what every command takes (a
    unique prefix or suffix, 'last'); a bare ref only a whole run id, 'last' or the 4-character short
    id the app shows, so a hub id like `roberta-base` is never taken for the run `roberta-base-sst2-…`."""
    explicit = ref.startswith("run:")
    ref = ref.removeprefix("run:")
    if not explicit and ref != "last" and not (len(ref) == 4 and all(c in "0123456789abcdef" for c in ref)):
        if not store.exists():
            return None
        with connect(store, read_only=True) as con:
            return ref if read.run_status(con, ref) is not None else None
    if not store.exists():
        if explicit:
            raise UserError(f"no run {ref!r}: the store {store} does not exist")
        return None
    with connect(store, read_only=True) as con:
        try:
            return resolve_run(con, ref)
        except UserError:
            if explicit or ref == "last":
                raise
            return None


def start_eval(store: Path, model: str, recipe_ref: str | None = None, overrides: Sequence[str] = (), *,
               name: str | None = None, on_step: OnStep | None = None) -> EvalStarted:
    """Check and start the evaluation of `model` (a run reference or a model source) on the data of
    `recipe_ref` (default for a run: its own recipe), as a run named `name` (default: the recipe's name
    + '-eval'). Bad input stops before any model loads."""
    from workbench.actions.validate import preflight

    run_id = None if Path(model).expanduser().exists() else find_run(store, model)
    changes = list(overrides)
    meta: dict[str, Any]
    if run_id is not None:
        with connect(store, read_only=True) as con:
            status = read.run_status(con, run_id)
            kind = read.run_kind(con, run_id)
        run_dir = run_dir_of(store, run_id)
        if kind == "eval":
            raise UserError(f"run {run_id} is an evaluation: it has no model of its own (evaluate the run or model "
                            "it evaluated)")
        saved = [d for d in ("adapter", "model") if (run_dir / d).is_dir()]
        if status != "completed" or not saved or not (run_dir / rundir.LABELS).is_file():
            raise UserError(f"run {run_id} ({status}) has no trained model to evaluate (a completed run saves its "
                            "adapter or model and labels.json)")
        recipe_path = recipe_ref or str(run_dir / rundir.RECIPE)
        source, meta = f"run:{run_id}", {"kind": "eval", "evaluates": f"run:{run_id}", "evaluates_dir": str(run_dir)}
        if recipe_ref:  # another recipe's data, scored by the run's model: the model is the run's
            trained = _frozen(run_dir)
            changes = [f"{k}={param_text(trained[k])}" for k in _MODEL_KNOBS] + changes
        changes.append("launch.target=local")  # the run's folder is here: so is its evaluation
    else:
        if not recipe_ref:
            raise UserError(f"{model!r} is no run in the store; to evaluate a model source (hub id, folder), "
                            "give the recipe whose data to score it on: workbench eval MODEL RECIPE")
        recipe_path = recipe_ref
        folder = Path(model).expanduser()
        # a folder by its absolute path: the trainer runs in the run folder
        source = str(folder.resolve()) if folder.exists() else model
        changes = [f"model.source={source}", *changes]
        meta = {"kind": "eval", "evaluates": source}
    changes += ["seeds=[]", "methods=[]"]
    recipe, splits = preflight(recipe_path, changes)  # bad input stops here, before any model loads
    if run_id is not None:  # the scores come in the model's label order, the gold labels in the data's
        labels = rundir.read_labels(run_dir).get("labels")
        if isinstance(labels, list):
            splits.check_model_labels(labels, f"run {run_id}'s model", path=recipe_path)
    # its own run, in no group (a run's frozen recipe names the group of its sweep)
    recipe = recipe.with_values({"name": name or f"{recipe.name}-eval", "group": ""})
    run_dir = launcher.launch(recipe.single({}), store, command=f"workbench eval {model}", on_step=on_step, meta=meta)
    return EvalStarted(started(run_dir), source)


def _frozen(run_dir: Path) -> Recipe:
    from workbench.recipe import load_recipe

    return load_recipe(run_dir / rundir.RECIPE)
