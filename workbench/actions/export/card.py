"""The model card of an export (`workbench export`): the README.md beside the model, saying what the
export holds, how the run was trained and scored, and a snippet that loads it with plain
transformers (+ peft for an adapter; the snippet's code: code.py). What differs per task, the task
says (tasks/exported.py)."""

from __future__ import annotations

from typing import Any

from workbench.actions.export.code import snippet
from workbench.data.splits import Splits
from workbench.recipe.sections import RecipeView
from workbench.rundir import SPLIT_ORDER
from workbench.store.schema import NEUTRAL_METRICS
from workbench.tasks.base import FinishedRunTask
from workbench.tasks.exported import CardText, as_python

BASE_DIR = "base_model"  # in the export: a copy of a tiny model's base folder
LABEL_METRICS = ("precision", "recall", "f1", "accuracy", "support", "threshold")
AGGREGATE_ORDER = ("f1_micro", "f1_macro", "f1_weighted", "f1_samples", "accuracy", "precision_micro",
                   "recall_micro", "precision_macro", "recall_macro", "exact_match", "hamming_loss", "loss",
                   "unparseable", "unparseable_rate", "malformed", "malformed_rate", "invented", "invented_rate",
                   "invented_unknown_type", "examples", "groups_flagged")


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


def _data_lines(recipe: RecipeView, card: CardText, described: str | None) -> list[str]:
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
    rows = Splits.rows_described(described or "")
    lines.append("- rows the run read: " + ", ".join(f"{n:,} {split}" for split, n in rows.items()) if rows else
                 "- (the run's log does not say its row counts per split; see the files)")
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
    lines += ["## Method", "", *_method_lines(recipe, kind, card), "", "## Data", "",
              *_data_lines(recipe, card, facts.get("data_read")), "",
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
