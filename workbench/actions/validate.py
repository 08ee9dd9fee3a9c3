"""`workbench validate`, `workbench schema`, and the pre-flight every launch goes through (`workbench
run` and `eval`, the app's launch dialog): recipe schema, data files, model source. All before any
model loads; problems are UserError, one line. checked_recipe is what `workbench data` (and the
editor's Data tab) needs of a recipe."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.data.splits import Splits
from workbench.errors import UserError
from workbench.launch.batch import check_forward_env
from workbench.models.checkpoint import check_checkpoint
from workbench.models.source import check_source
from workbench.recipe import Recipe, load_recipe
from workbench.tasks import check_recipe, get_task
from workbench.textfile import regular_file


def checked_recipe(path: str, overrides: Sequence[str] = (), sweeps: Sequence[str] = ()) -> Recipe:
    """A recipe file, or a shipped recipe's name, loaded with its overrides (and --sweep flags), its
    task's checks run on every run it stands for, and the files its readers do not open themselves
    found (what `workbench data` needs too)."""
    from workbench.recipe.catalog import resolve_recipe

    path = str(resolve_recipe(path))
    recipe = load_recipe(path, list(overrides), list(sweeps))
    check_recipe(recipe)
    if recipe.axes or recipe.method_overrides:
        for changes in recipe.runs():
            check_recipe(recipe.single(changes))
    _check_files(recipe, path)
    return recipe


def preflight(path: str, overrides: Sequence[str] = (), sweeps: Sequence[str] = ()) -> tuple[Recipe, Splits]:
    """A recipe file, or a shipped recipe's name, loaded and checked with its data and model source."""
    recipe = checked_recipe(path, overrides, sweeps)
    path = str(recipe.path)
    check_forward_env(recipe)  # a secret listed for a SLURM / PBS target: refused
    try:
        if recipe.launch.target.remote and not recipe.model.source.tiny:
            pass  # a path or hub cache on the remote host: the launch checks it there, before uploading
        else:
            check_source(str(recipe.model.source))
            check_checkpoint(recipe.view)  # a checkpoint that comes quantized: trainable as the recipe asks?
    except UserError as e:
        raise UserError(str(e), path=path, line=recipe.line_of("model.source")) from None
    _check_lora_modules(recipe, path)
    _check_packages(recipe, path)
    recipe = _container_image(recipe, path)
    splits = get_task(recipe.values).load_splits()
    return recipe, splits


def _check_lora_modules(recipe: Recipe, path: str) -> None:
    """lora.target_modules and lora.modules_to_save resolved against the model's layers, for each
    distinct model and modules among the runs the recipe stands for (workbench/models/meta.py): the
    model's config read here (a tiny model's, a local folder's, a hub model's in this machine's
    cache; one not cached here is not checked); a folder on a remote host is that host's own."""
    from workbench.models.meta import LORA_MODULE_KNOBS, check_lora_modules
    from workbench.tasks import task_class

    remote = recipe.launch.target.remote
    knobs = ("task", "model.source", "model.tiny_hidden_size", "model.tiny_layers", "model.tiny_vocab_size",
             *LORA_MODULE_KNOBS)
    seen = set()
    for changes in recipe.runs():
        single = recipe.single(changes)
        values = single.values
        key = repr([values[k] for k in knobs])
        if key in seen:
            continue
        seen.add(key)
        try:
            problem = check_lora_modules(single.view, causal=task_class(single.task).model_head(single.view).causal)
        except UserError:
            if remote:
                continue  # a folder on the remote host
            raise
        if problem is not None:
            knob, message = problem
            raise UserError(message, path=path, line=recipe.line_of(knob))


def _container_image(recipe: Recipe, path: str) -> Recipe:
    """launch.container as an absolute path that exists, for targets that start from here (local,
    slurm, pbs): relative to the recipe's folder when the file names it, else to the working folder
    (a --container flag). Remote targets name a path on their host."""
    from pathlib import Path

    image = recipe.launch.container
    if not image or recipe.launch.target.remote:
        return recipe
    line = recipe.line_of("launch.container")
    p = Path(image).expanduser()
    if not p.is_absolute():
        p = ((Path(path).parent if line is not None else Path.cwd()) / p).resolve()
    if not p.is_file():
        raise UserError(f"launch.container: no such image {p}", path=path, line=line)
    return recipe.with_values({"launch.container": str(p)})


# Files the data readers do not open themselves; and what a knob needs installed where it runs.
_FILE_KNOBS = ("data.chat_template", "data.system_prompt_file", "eval.base_system_prompt_file")


def _check_files(recipe: Recipe, path: str) -> None:
    for name in _FILE_KNOBS:
        value = recipe.values[name]  # the knob by name: its line and message say it
        if not value:
            continue
        if not Path(value).exists():
            raise UserError(f"{name}: no such file {value}", path=path, line=recipe.line_of(name))
        try:
            regular_file(value, name)
        except UserError as e:  # "/x/t.jinja: data.chat_template is a FIFO (named pipe), not a regular file"
            raise UserError(str(e), path=path, line=recipe.line_of(name)) from None


def _check_packages(recipe: Recipe, path: str) -> None:
    import importlib.util

    if recipe.launch.target.remote:
        return  # the job's host has its own packages: the launch checks them there
    needs = []
    if recipe.quant.use_4bit:
        needs.append(("quant.use_4bit", "bitsandbytes", "4-bit quantization", "bitsandbytes"))
    if "tensorboard" in recipe.train.report_to:
        needs.append(("train.report_to", "tensorboard", "TensorBoard logging", "tensorboard"))
    if "mlflow" in recipe.train.report_to:
        from workbench.tracking.mlflow_sink import target_of

        needs.append(("train.report_to", "mlflow", "MLflow logging", "'workbench[mlflow]'"))
        try:  # MLFLOW_TRACKING_URI of this environment: a relative sqlite path is refused in one line
            target_of(recipe.values, Path.cwd())
        except UserError as e:
            raise UserError(str(e), path=path, line=recipe.line_of("train.mlflow_tracking_uri")) from None
    if recipe.model.attn_implementation == "flash_attention_2":
        needs.append(("model.attn_implementation", "flash_attn", "FlashAttention 2", "flash-attn"))
    for knob, package, what, install in needs:
        if importlib.util.find_spec(package) is None:
            raise UserError(f"{knob}: {what} needs the {package} package, which is not installed here "
                            f"(pip install {install})", path=path, line=recipe.line_of(knob))


HUB_TOKEN_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def hub_token_file() -> Path:
    """Where the Hugging Face stack reads a saved token, for the user running this."""
    if os.environ.get("HF_TOKEN_PATH"):
        return Path(os.environ["HF_TOKEN_PATH"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return Path(os.environ.get("HF_HOME") or cache / "huggingface").expanduser() / "token"


def hub_token_note(recipe: Recipe) -> str | None:
    """A note, not a failure, for a SLURM / PBS job from here whose model is a hub id while a hub token
    is set in this environment (so the user relies on one) and no token file exists: batch jobs never
    get the variable, and a gated model would fail on the node. A public model needs no token; for
    slurm:HOST / pbs:HOST the token file is the login node's, not known here."""
    from workbench.models.source import parse_source

    target = recipe.launch.target
    if not target.scheduler or target.remote or parse_source(str(recipe.model.source)).kind != "hub":
        return None
    relied_on = [n for n in HUB_TOKEN_VARS if os.environ.get(n)]
    token = hub_token_file()
    if not relied_on or token.is_file():
        return None
    return (f"note: {recipe.path}: model.source {recipe.model.source} is a hub id and {relied_on[0]} is set here, "
            f"but {target.scheduler} jobs never get secrets and there is no token file {token}: if the model is "
            "gated, run `hf auth login` on the cluster (the job reads that file on the shared home)")


@dataclass(frozen=True)
class Validated:
    """One recipe validated: the path (or shipped name) as given, and either the error (one line) or
    the recipe with its splits described (rows per split) and a note for the user (hub_token_note)."""
    path: str
    error: str | None = None
    recipe: Recipe | None = None
    splits: str = ""
    note: str | None = None


def validate_recipes(paths: Sequence[str], overrides: Sequence[str] = ()) -> Iterator[Validated]:
    """Each recipe (a file or a shipped recipe's name) through preflight with `overrides`, one result
    per recipe as it is checked (a bad one does not stop the others)."""
    for path in paths:
        try:
            recipe, splits = preflight(path, overrides)
        except UserError as e:
            yield Validated(path, error=str(e))
            continue
        yield Validated(path, recipe=recipe, splits=splits.describe(), note=hub_token_note(recipe))


def knob_reference(markdown: bool = False) -> str:
    """Every knob of a recipe: name, type, default and help (`markdown`: as the docs' table)."""
    from workbench.recipe import schema as s

    if markdown:
        return s.markdown_table()
    lines = []
    for k in s.KNOBS:
        default = "(required)" if k.required else repr(k.default)
        lines.append(f"{k.name:34} {k.expected():40} default {default}\n    {k.help}")
    return "\n".join(lines)
