"""`workbench export RUN --output DIR [--merged] [--dtype ...] [--format folder|sagemaker]` (and the
app's export key): a finished run as a folder a colleague uses without workbench, or as a SageMaker
model archive.

DIR holds the model (the LoRA adapter with its tokenizer; with --merged the adapter merged into
its base, by the code `workbench merge` uses; a full fine-tune's model), `labels.json` (label
names and the thresholds `predict` uses), `metrics.json` (base and tuned per split, from the
store), the run's frozen `recipe.toml`, and a model card `README.md` (card.py) whose snippet loads
the model with plain transformers (+ peft for an adapter; the snippet's code: code.py). A tiny
model (tiny:<arch>) has no hub id: its base folder is copied into DIR/base_model, so the export
stands on its own. `--format sagemaker` packs the same files, merged, with a serving `code/`
folder into DIR/model.tar.gz (sagemaker.py).

Two steps: plan_export checks the run and the folder (quick, UserError on bad input), write_export
does the work; export_run does both. The folder is written as a hidden sibling of DIR and renamed
at the end: a failed export leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from workbench import rundir
from workbench.actions.export import sagemaker
from workbench.actions.export.card import BASE_DIR, model_card
from workbench.actions.refs import completed_run, resolve_run
from workbench.errors import UserError
from workbench.models.source import MODEL_FILE
from workbench.recipe import Recipe
from workbench.store import export_read, read
from workbench.store.db import connect
from workbench.tasks import get_task
from workbench.tasks.base import FinishedRunTask
from workbench.tasks.exported import as_python

FORMATS = ("folder", "sagemaker")
DTYPES = ("auto", "fp32", "bf16", "fp16")
Kind = Literal["adapter", "merged", "full"]  # what an export holds


@dataclass(frozen=True)
class ExportPlan:
    """An export checked and ready to write: the completed training run (id, folder, frozen recipe,
    its task), the folder to write (`out`, absolute), the run's saved model folder, what goes in
    (`kind`: adapter, merged or full), the weights' dtype, whether it is a SageMaker archive, and
    `merge_ignored`: --merged was asked of a full fine-tune, which has no adapter to merge (its model
    is exported)."""
    store: Path
    run_id: str
    run_dir: Path
    recipe: Recipe
    task: FinishedRunTask
    out: Path
    saved: Path
    kind: Kind
    dtype: str
    sagemaker: bool
    merge_ignored: bool
    read_only: bool


@dataclass(frozen=True)
class Exported:
    """An export written: the run, the folder (`path`) and, for SageMaker, its archive (`archive`,
    else None), what it holds (`kind`: adapter, merged or full; `base`: the base model's kind, hub,
    local or tiny), and its size in bytes."""
    run_id: str
    path: Path
    archive: Path | None
    kind: Kind
    base: str
    size: int

    @property
    def model(self) -> str:
        """The model it holds, in words."""
        return {"adapter": "the LoRA adapter" + (" and its tiny base model" if self.base == "tiny" else ""),
                "merged": "the adapter merged into its base", "full": "the fully fine-tuned model"}[self.kind]

    @property
    def summary(self) -> str:
        """What was written, in one line (the CLI prints it, the app shows it)."""
        size = f"{self.size / 2**20:,.1f} MiB"
        if self.archive is not None:
            return (f"exported {self.run_id} to {self.archive} ({size}): {self.model} with code/inference.py and "
                    "code/requirements.txt for SageMaker, labels.json, metrics.json, recipe.toml; README.md (also "
                    "beside it) says how to deploy it")
        return (f"exported {self.run_id} to {self.path} ({size}): {self.model}, labels.json, metrics.json, "
                "recipe.toml; README.md says how to load it")


def export_run(store: Path, ref: str, output: str | Path, *, merged: bool = False, dtype: str = "auto",
               fmt: str = "folder", read_only: bool = True) -> Exported:
    """Export the run `ref` names into the folder `output` (plan_export, then write_export)."""
    return write_export(plan_export(store, ref, output, merged=merged, dtype=dtype, fmt=fmt, read_only=read_only))


def plan_export(store: Path, ref: str, output: str | Path, *, merged: bool = False, dtype: str = "auto",
                fmt: str = "folder", read_only: bool = True) -> ExportPlan:
    """Check the run `ref` names (a completed training run with its saved model) and the folder
    `output` (new or empty, its parent there); `merged`, `dtype` and `fmt` as export's flags.
    `read_only=False` inside the app's process (actions.refs.find_run_dir). UserError when refused."""
    if fmt not in FORMATS:
        raise UserError(f"export format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if dtype not in DTYPES:
        raise UserError(f"--dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    with connect(store, read_only=read_only) as con:
        run_id = resolve_run(con, ref)
        if read.run_kind(con, run_id) == "eval":
            raise UserError(f"run {run_id} is an eval run (it trained nothing); export needs a training run")
    run_id, run_dir, recipe = completed_run(store, run_id, "export", read_only=read_only)
    task = get_task(recipe.values)
    out = Path(output).expanduser().absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("already exists and is not an empty folder; give a new folder", path=out)
    if not out.parent.is_dir():
        raise UserError("parent folder does not exist", path=out.parent)
    full = recipe.model.method == "full"
    saved = run_dir / ("model" if full else "adapter")
    if not saved.is_dir():
        raise UserError(f"run {run_id} has no saved {saved.name} folder", path=saved)
    sagemaker_ = fmt == "sagemaker"
    # A serving container has no workbench and needs no peft: the SageMaker archive is always merged.
    merge = not full and (merged or sagemaker_)
    if dtype != "auto" and not full and not merge:
        raise UserError(f"--dtype {dtype} sets the weights of a merged model: add --merged (an adapter is "
                        "exported as trained)")
    kind: Kind = "full" if full else "merged" if merge else "adapter"
    return ExportPlan(store, run_id, run_dir, recipe, task, out, saved, kind, dtype, sagemaker_,
                      merge_ignored=merged and full, read_only=read_only)


def write_export(plan: ExportPlan) -> Exported:
    """Write the export plan_export checked; UserError when the disk refuses (nothing is left behind)."""
    run_id, run_dir, task, out, kind, dtype = plan.run_id, plan.run_dir, plan.task, plan.out, plan.kind, plan.dtype
    with connect(plan.store, read_only=plan.read_only) as con:
        evals = export_read.evaluations(con, run_id)
        facts = export_read.run_facts(con, run_id)
        warnings = read.run_warnings(con, run_id)
    meta = rundir.read_labels(run_dir)

    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    except OSError as e:
        raise UserError(f"cannot write here: {e.strerror or e}", path=out.parent) from None
    try:
        labels = labels_record(task, meta)
        metrics = rundir.metrics_record(run_id, task.kind, evals, warnings)
        content = tmp / sagemaker.STAGE if plan.sagemaker else tmp
        export_line = (sagemaker.EXPORT_LINE if plan.sagemaker
                       else f"EXPORT = {as_python(str(out))}  # this folder (change it if you move the folder)")
        extra = (sagemaker.card_lines(plan.recipe.view, task.inference_code(labels, "model_dir").serving, facts)
                 if plan.sagemaker else [])
        base = _write_folder(content, run_dir, plan.saved, task, kind=kind, dtype=dtype, labels=labels,
                             metrics=metrics,
                             card=lambda base: model_card(run_id, task, facts, labels, metrics, kind=kind, base=base,
                                                          dtype=dtype, export_line=export_line, extra=extra))
        if plan.sagemaker:
            sagemaker.write_code(content, run_id, task, labels, facts)
            sagemaker.pack(content, tmp)
        _shareable(tmp)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    except OSError as e:  # a full disk, a folder that turned read-only: nothing is left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"export failed, nothing written: {e.strerror or e}", path=e.filename or out) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return Exported(run_id, out, out / sagemaker.ARCHIVE if plan.sagemaker else None, kind, base["kind"], size)


def _write_folder(dest: Path, run_dir: Path, saved: Path, task: FinishedRunTask, *, kind: str, dtype: str,
                  card: Callable[[dict[str, str]], str], labels: dict[str, Any], metrics: dict[str, Any]
                  ) -> dict[str, str]:
    """The export's files into `dest`: the model, labels.json, metrics.json, recipe.toml and the card
    (`card(base)`); returns the base model as the card names it."""
    dest.mkdir(exist_ok=True)
    base = _write_model(kind, run_dir, saved, task, dest, dtype)
    rundir.write_json_atomic(dest / "labels.json", labels, indent=2)
    rundir.write_json_atomic(dest / "metrics.json", metrics, indent=2)
    shutil.copyfile(run_dir / rundir.RECIPE, dest / "recipe.toml")
    (dest / "README.md").write_text(card(base), encoding="utf-8")
    return base


# --- the model files --------------------------------------------------------------------------

def _write_model(kind: str, run_dir: Path, saved: Path, task: FinishedRunTask, dest: Path,
                 dtype: str) -> dict[str, str]:
    """The model's files into `dest`; returns the base model as the card names it:
    {"kind": "hub" | "local" | "tiny", "source": the recipe's, "path": what the run loaded}."""
    from workbench.models.merge import copy_full_model, merge_and_save

    recorded = rundir.read_json(run_dir / MODEL_FILE) or {}
    source = task.recipe.model.source.spec.strip()
    path = str(recorded.get("path") or source)
    # what from_pretrained was given: a folder (absolute) for local and tiny sources, else the hub id
    base = {"kind": "tiny" if source.startswith("tiny:") else "local" if Path(path).is_absolute() else "hub",
            "source": source, "path": path}
    if kind == "adapter":
        shutil.copytree(saved, dest, dirs_exist_ok=True)
        if base["kind"] == "tiny":
            from workbench.models.source import base_path

            path = base_path(run_dir, task.recipe, lambda: task.tokenizer_texts(task.load_splits().train))
            shutil.copytree(path, dest / BASE_DIR)
        return base
    if kind == "full" and dtype == "auto":
        copy_full_model(saved, dest)
        return base
    from workbench.models.load import quiet_transformers

    quiet_transformers()
    # As `workbench merge`: a QLoRA adapter is merged into its base reloaded in full precision.
    model, tokenizer = task.load_finished(run_dir, quantize=False, to_gpu=False)
    if kind == "merged":
        merge_and_save(model, tokenizer, dest, dtype)
    else:  # a full fine-tune cast to --dtype
        import torch

        model.to({"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype]).save_pretrained(dest)
        tokenizer.save_pretrained(dest)
    return base


def _shareable(folder: Path) -> None:
    """Modes as a plain copy would get under the user's umask: the run's files (and a tiny model's
    cache) may be private to their owner, and the export is made to be handed on."""
    mask = _umask()
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


def _umask() -> int:
    """This process's umask, read without setting it where Linux says it (/proc/self/status): the
    app exports in a worker thread, and os.umask(0) would leave other threads' new files open to all
    for a moment."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass  # not Linux, or an older kernel: set and restore it below
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- labels.json (metrics.json: rundir.metrics_record) ------------------------------------------

def labels_record(task: FinishedRunTask, meta: dict[str, Any]) -> dict[str, Any]:
    """Label names in the model's output order (`meta`: the run's labels.json), the task, and how the
    task decides a prediction (for classification the thresholds `workbench predict` uses)."""
    return {"task": task.kind, "labels": list(meta["labels"]), **task.export_labels(meta)}
