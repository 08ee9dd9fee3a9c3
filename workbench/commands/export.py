"""`workbench export RUN --output DIR [--merged] [--dtype ...] [--format folder|sagemaker]`: a
finished run as a folder a colleague uses without workbench, or as a SageMaker model archive.

DIR holds the model (the LoRA adapter with its tokenizer; with --merged the adapter merged into
its base, by the code `workbench merge` uses; a full fine-tune's model), `labels.json` (label
names and the thresholds `predict` uses), `metrics.json` (base and tuned per split, from the
store), the run's frozen `recipe.toml`, and a model card `README.md` whose snippet loads the model
with plain transformers (+ peft for an adapter; the snippet's code: commands/export_code.py). A
tiny model (tiny:<arch>) has no hub id: its base folder is copied into DIR/base_model, so the
export stands on its own. `--format sagemaker` packs the same files, merged, with a serving
`code/` folder into DIR/model.tar.gz (commands/export_sagemaker.py).

The folder is written as a hidden sibling of DIR and renamed at the end: a failed export leaves
nothing behind.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench import rundir
from workbench.actions.refs import completed_run, resolve_run
from workbench.commands import export_sagemaker
from workbench.commands.common import store_of
from workbench.commands.export_code import snippet
from workbench.console import console
from workbench.errors import UserError
from workbench.models.source import MODEL_FILE
from workbench.recipe.sections import RecipeView
from workbench.store import export_read, read
from workbench.store.db import connect
from workbench.store.schema import ALL_LABELS, NEUTRAL_METRICS
from workbench.tasks import get_task
from workbench.tasks.base import FinishedRunTask
from workbench.tasks.exported import CardText, as_python

BASE_DIR = "base_model"  # in DIR: a copy of a tiny model's base folder
SPLIT_ORDER = ("validation", "test")
LABEL_METRICS = ("precision", "recall", "f1", "accuracy", "support", "threshold")
AGGREGATE_ORDER = ("f1_micro", "f1_macro", "f1_weighted", "f1_samples", "accuracy", "precision_micro",
                   "recall_micro", "precision_macro", "recall_macro", "exact_match", "hamming_loss", "loss",
                   "unparseable", "unparseable_rate", "malformed", "malformed_rate", "examples", "groups_flagged")


def main(args) -> int:
    store = store_of(args)
    with connect(store, read_only=True) as con:
        run_id = resolve_run(con, args.run)
        if read.run_kind(con, run_id) == "eval":
            raise UserError(f"run {run_id} is an eval run (it trained nothing); export needs a training run")
    run_id, run_dir, recipe = completed_run(store, run_id, "export")
    values = recipe.values
    task = get_task(values)
    out = Path(args.output).expanduser().absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("already exists and is not an empty folder; give a new folder", path=out)
    if not out.parent.is_dir():
        raise UserError("parent folder does not exist", path=out.parent)
    full = recipe.model.method == "full"
    saved = run_dir / ("model" if full else "adapter")
    if not saved.is_dir():
        raise UserError(f"run {run_id} has no saved {saved.name} folder", path=saved)
    sagemaker = getattr(args, "format", None) == "sagemaker"
    dtype = getattr(args, "dtype", "auto") or "auto"
    merged = bool(getattr(args, "merged", False))
    if merged and full:
        console.print(f"note: {run_id} is a full fine-tune: there is no adapter to merge; exporting its model")
    # A serving container has no workbench and needs no peft: the SageMaker archive is always merged.
    merged = not full and (merged or sagemaker)
    if dtype != "auto" and not full and not merged:
        raise UserError(f"--dtype {dtype} sets the weights of a merged model: add --merged (an adapter is "
                        "exported as trained)")
    kind = "full" if full else "merged" if merged else "adapter"
    with connect(store, read_only=True) as con:
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
        metrics = metrics_record(run_id, task.kind, evals, warnings)
        content = tmp / export_sagemaker.STAGE if sagemaker else tmp
        export_line = (export_sagemaker.EXPORT_LINE if sagemaker
                       else f"EXPORT = {as_python(str(out))}  # this folder (change it if you move the folder)")
        extra = (export_sagemaker.card_lines(recipe.view, task.inference_code(labels, "model_dir").serving, facts)
                 if sagemaker else [])
        base = _write_folder(content, run_dir, saved, task, kind=kind, dtype=dtype, labels=labels, metrics=metrics,
                             card=lambda base: model_card(run_id, task, facts, labels, metrics, kind=kind, base=base,
                                                          dtype=dtype, export_line=export_line, extra=extra))
        if sagemaker:
            export_sagemaker.write_code(content, run_id, task, labels, facts)
            export_sagemaker.pack(content, tmp)
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
    _report(run_id, out, kind, base, sagemaker)
    return 0


def _report(run_id: str, out: Path, kind: str, base: dict[str, str], sagemaker: bool) -> None:
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    what = {"adapter": "the LoRA adapter" + (" and its tiny base model" if base["kind"] == "tiny" else ""),
            "merged": "the adapter merged into its base", "full": "the fully fine-tuned model"}[kind]
    if sagemaker:
        console.print(f"exported {run_id} to {out / export_sagemaker.ARCHIVE} ({size / 2**20:,.1f} MiB): {what} with "
                      "code/inference.py and code/requirements.txt for SageMaker, labels.json, metrics.json, "
                      "recipe.toml; README.md (also beside it) says how to deploy it")
    else:
        console.print(f"exported {run_id} to {out} ({size / 2**20:,.1f} MiB): {what}, labels.json, metrics.json, "
                      "recipe.toml; README.md says how to load it")


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
    mask = os.umask(0)
    os.umask(mask)
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)


# --- labels.json, metrics.json ------------------------------------------------------------------

def labels_record(task: FinishedRunTask, meta: dict[str, Any]) -> dict[str, Any]:
    """Label names in the model's output order (`meta`: the run's labels.json), the task, and how the
    task decides a prediction (for classification the thresholds `workbench predict` uses)."""
    return {"task": task.kind, "labels": list(meta["labels"]), **task.export_labels(meta)}


def _number(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def metrics_record(run_id: str, task: str, evals: list[tuple], warnings: list[str]) -> dict[str, Any]:
    """{"run_id", "task", "splits": {split: {phase: {"labels": {label: {metric: value}}, "aggregates":
    {metric: value}}}}, "warnings": [...]}: the store's evaluations of the base and tuned models
    (a non-finite value as null)."""
    splits: dict[str, dict[str, dict[str, Any]]] = {}
    for phase, split, label, metric, value in evals:
        entry = splits.setdefault(split, {}).setdefault(phase, {"labels": {}, "aggregates": {}})
        if label == ALL_LABELS:
            entry["aggregates"][metric] = _number(value)
        else:
            entry["labels"].setdefault(label, {})[metric] = _number(value)
    order = [s for s in SPLIT_ORDER if s in splits] + sorted(s for s in splits if s not in SPLIT_ORDER)
    return {"run_id": run_id, "task": task, "splits": {s: splits[s] for s in order}, "warnings": list(warnings)}


# --- the model card -----------------------------------------------------------------------------

def _f(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and v.is_integer() and abs(v) >= 2:
        return str(int(v))
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _ordered(names, preferred) -> list[str]:
    return [m for m in preferred if m in names] + sorted(m for m in names if m not in preferred)


def _metrics_tables(metrics: dict[str, Any], label_word: str) -> list[str]:
    lines: list[str] = []
    for split in SPLIT_ORDER:
        phases = metrics["splits"].get(split)
        if not phases:
            continue
        b, t = phases.get("base", {}), phases.get("tuned", {})
        lines += [f"### {split}", ""]
        labels = list(dict.fromkeys([*t.get("labels", {}), *b.get("labels", {})]))
        if labels:
            names = {m for e in (b, t) for row in e.get("labels", {}).values() for m in row}
            cols = _ordered(names, LABEL_METRICS)
            lines += [f"| {label_word} | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
            for label in labels:
                cells = []
                for m in cols:
                    bv = b.get("labels", {}).get(label, {}).get(m)
                    tv = t.get("labels", {}).get(label, {}).get(m)
                    cells.append(_f(tv) if m in ("support", "threshold") or bv is None else f"{_f(bv)} → {_f(tv)}")
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            lines.append("")
        aggs = _ordered({*b.get("aggregates", {}), *t.get("aggregates", {})}, AGGREGATE_ORDER)
        if aggs:
            lines += ["| metric | base | tuned | Δ |", "|---|---|---|---|"]
            for m in aggs:
                bv, tv = b.get("aggregates", {}).get(m), t.get("aggregates", {}).get(m)
                delta = f"{tv - bv:+.3f}" if bv is not None and tv is not None and m not in NEUTRAL_METRICS else "—"
                lines.append(f"| {m} | {_f(bv)} | {_f(tv)} | {delta} |")
            lines.append("")
    others = [s for s in metrics["splits"] if s not in SPLIT_ORDER]
    if others:
        lines += [f"metrics.json also holds {', '.join(others)} (the same rows scored another way).", ""]
    return lines


def _data_lines(recipe: RecipeView, card: CardText) -> list[str]:
    d = recipe.data
    if d.dataset:
        ds = d.dataset + (f" ({d.dataset_config})" if d.dataset_config else "")
        lines = [f"- dataset: `{ds}`", f"- train split: `{d.train_split}`"]
        validation = d.validation_split and f"split `{d.validation_split}`"
        test = d.test_split and f"split `{d.test_split}`"
    else:
        lines = [f"- train: `{d.train_file}`"]
        validation = d.validation_file and f"`{d.validation_file}`"
        test = d.test_file and f"`{d.test_file}`"
    lines.append(f"- validation: {validation}" if validation else
                 f"- validation: {d.validation_fraction:g} of the training rows held out "
                 f"(split seed {d.split_seed})")
    lines.append(f"- test: {test}" if test else "- test: none")
    if d.max_rows:
        lines.append(f"- at most {d.max_rows} rows read per file")
    lines += card.data
    lines.append("- (row counts per split are not recorded; see the files)")
    return lines


def _method_lines(recipe: RecipeView, kind: str, card: CardText) -> list[str]:
    lora, quant = recipe.lora, recipe.quant
    if recipe.model.method == "full":
        return ["- full fine-tune: every weight trained"]
    targets = ", ".join(f"`{m}`" for m in lora.target_modules) or "peft's defaults for the architecture"
    lines = [f"- {'QLoRA' if quant.use_4bit else 'LoRA'}: r {lora.r}, alpha {lora.alpha:g}, "
             f"dropout {lora.dropout:g}, bias `{lora.bias}`, target modules {targets}"]
    if lora.modules_to_save:
        lines.append("- also trained in full: " + ", ".join(f"`{m}`" for m in lora.modules_to_save))
    else:
        lines += card.with_adapter
    if quant.use_4bit:
        lines.append(f"- base loaded in 4 bits while training: {quant.type}, double quant "
                     f"{str(quant.double_quant).lower()} (bitsandbytes)")
    if kind == "merged":
        lines.append("- exported merged: the adapter folded into the base weights (no peft needed)")
    return lines


KNOBS = ("train.epochs", "train.max_steps", "train.learning_rate", "train.batch_size",
         "train.gradient_accumulation_steps", "model.max_length", "train.seed", "train.optimizer", "train.scheduler",
         "train.warmup_steps", "train.weight_decay", "model.precision", "train.best_metric")


def _knob_lines(values: dict[str, Any], card: CardText) -> list[str]:
    lines = ["| knob | value |", "|---|---|"]
    for k in (*KNOBS, *card.knobs):
        if k not in values or (k == "train.max_steps" and not values[k]):
            continue
        value = values[k]
        lines.append(f"| `{k}` | {value:g} |" if isinstance(value, float) else f"| `{k}` | {value} |")
    return lines + [""]


def _base_expr(base: dict[str, str], kind: str) -> tuple[str, str]:
    """(the snippet's BASE line, what the card says of the base)."""
    if base["kind"] == "tiny":
        text = (f"`{base['source']}`: a small random-initialised model workbench built for the run "
                f"(recorded at `{base['path']}`)")
        if kind == "adapter":
            return (f"BASE = EXPORT + {as_python('/' + BASE_DIR)}  # a copy of the run's tiny base model",
                    text + f"; a copy is in `{BASE_DIR}/`")
        return "", text
    if base["kind"] == "hub":
        return f"BASE = {as_python(base['source'])}  # the Hugging Face hub id", f"`{base['source']}` (Hugging Face hub)"
    return (f"BASE = {as_python(base['path'])}  # the local folder the run loaded its base from",
            f"the local folder `{base['path']}`")


def model_card(run_id: str, task: FinishedRunTask, facts: dict[str, Any], labels: dict[str, Any],
               metrics: dict[str, Any], *, kind: str, base: dict[str, str], dtype: str, export_line: str,
               extra: list[str] | tuple[str, ...] = ()) -> str:
    """The model card: what the export holds, how the run was trained and scored, and a snippet that
    loads it (`export_line` sets the snippet's EXPORT folder); `extra`: more sections at its end.
    What differs per task, the task says (card_text, inference_code)."""
    recipe = task.recipe
    card = task.card_text(labels)
    base_line, base_text = _base_expr(base, kind)
    library = "peft" if kind == "adapter" else "transformers"
    front = ["---", f"library_name: {library}"]
    if base["kind"] == "hub":
        front.append(f"base_model: {base['source']}")
    front += ["tags:", "- workbench", f"- {task.kind}", f"- {recipe.model.method if kind != 'merged' else 'lora-merged'}",
              "---", ""]
    title = recipe.name or facts.get("recipe_name") or run_id
    what = {"adapter": "a LoRA adapter (peft) with its tokenizer", "merged":
            "the LoRA adapter merged into its base: a plain transformers model", "full":
            "a fully fine-tuned transformers model"}[kind]
    lines = [*front, f"# {title}: {run_id}", ""]
    if recipe.description:
        lines += [recipe.description, ""]
    lines += [f"Exported by `workbench export` from run `{run_id}`: {what}.", "",
              "| | |", "|---|---|", f"| run | `{run_id}` |", f"| task | `{task.kind}` |",
              f"| base model | {base_text} |", f"| method | {recipe.model.method}"
              + (" (merged)" if kind == "merged" else "") + " |"]
    for key, name in (("trainable_params", "trainable parameters"), ("total_params", "total parameters")):
        if facts.get(key):
            lines.append(f"| {name} | {facts[key]:,} |")
    if facts.get("ended_at"):
        lines.append(f"| finished | {facts['ended_at']:%Y-%m-%d %H:%M} UTC |")
    if kind != "adapter" and dtype != "auto":
        lines.append(f"| weights | {dtype} |")
    lines += ["", "## Files", ""]
    files = {"adapter": ["`adapter_config.json`, `adapter_model.safetensors`: the LoRA adapter (peft)"],
             "merged": ["`config.json`, `model.safetensors`: the merged model"],
             "full": ["`config.json`, `model.safetensors`: the fine-tuned model"]}[kind]
    files.append("the tokenizer files (`tokenizer.json`, `tokenizer_config.json`, …)")
    if kind == "adapter" and base["kind"] == "tiny":
        files.append(f"`{BASE_DIR}/`: the base model the adapter was trained on")
    files += [card.labels_file,
              "`metrics.json`: base and tuned metrics per split, per label and aggregated (and the run's warnings)",
              "`recipe.toml`: the run's frozen recipe (every setting; `workbench run recipe.toml` trains it again)"]
    lines += [f"- {f}" for f in files] + [""]
    lines += ["## Method", "", *_method_lines(recipe, kind, card), "", "## Data", "", *_data_lines(recipe, card), "",
              "## Training", "", *_knob_lines(task.values, card)]
    lines += ["## Metrics", "",
              "Base model (before training) → tuned model, on the same rows." if any(
                  "base" in p for p in metrics["splits"].values()) else "The tuned model (the base was not evaluated).",
              "", *_metrics_tables(metrics, card.label_word)]
    if metrics["warnings"]:
        lines += ["Warnings the run raised:", "", *[f"- {w}" for w in metrics["warnings"]], ""]
    lines += card.labels_section
    lines += ["## How to load it", ""]
    needs = "`pip install torch transformers peft`" if kind == "adapter" else "`pip install torch transformers`"
    lines += [f"Plain transformers{' + peft' if kind == 'adapter' else ''}, no workbench ({needs}):", ""]
    lines += ["```python", snippet(task.inference_code(labels, "EXPORT"), kind, export_line, base_line), "```", ""]
    notes = []
    if kind == "adapter" and recipe.quant.use_4bit:
        notes.append("The adapter was trained against the base loaded in 4 bits; the snippet loads the base in full "
                     "precision, where results differ by the quantization error. To load it as trained, pass "
                     "`quantization_config=BitsAndBytesConfig(load_in_4bit=True, "
                     f"bnb_4bit_quant_type={recipe.quant.type!r}, "
                     f"bnb_4bit_use_double_quant={recipe.quant.double_quant})` to `from_pretrained(BASE, ...)` "
                     "(bitsandbytes).")
    if kind == "merged" and recipe.quant.use_4bit:
        notes.append("Trained against a 4-bit base and merged into the full-precision one: results differ from the "
                     "run's by the quantization error.")
    notes += card.notes
    if kind == "adapter" and base["kind"] == "local":
        notes.append("The base is a local folder on the machine that trained the run: copy it along, or point BASE "
                     "at your copy.")
    if kind == "adapter":
        notes.append("To merge the adapter into the base yourself: `model = model.merge_and_unload()`.")
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    return "\n".join([*lines, *extra])
