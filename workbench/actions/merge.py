"""A LoRA run's adapter merged into its base, for `workbench merge RUN --output DIR`: the tuned model as
one plain Hugging Face folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.actions.refs import completed_run
from workbench.errors import UserError


@dataclass(frozen=True)
class Merged:
    """A merged model: the run, the folder written and its size in bytes; `merged` False for a full
    fine-tune, whose model was copied as it is (its size then None)."""

    run_id: str
    output: Path
    merged: bool
    bytes: int | None


def merge(store: Path, ref: str, output: Path, *, dtype: str = "auto") -> Merged:
    """Write the model of the completed run `ref` names to `output` (new or empty): its adapter merged
    into the base, in `dtype` (auto, fp32, bf16, fp16), or a full fine-tune's model copied."""
    run_id, run_dir, recipe = completed_run(store, ref, "merge")
    out = output.expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError("already exists and is not an empty folder; give a new folder", path=out)
    if not out.parent.is_dir():
        raise UserError("parent folder does not exist", path=out.parent)
    saved = run_dir / ("model" if recipe.model.method == "full" else "adapter")
    if not saved.is_dir():
        raise UserError(f"run {run_id} has no saved {saved.name} folder", path=saved)

    from workbench.models.load import quiet_transformers
    from workbench.models.merge import copy_full_model, merge_and_save
    from workbench.tasks import get_task

    quiet_transformers()
    if recipe.model.method == "full":
        result = copy_full_model(saved, out)
    else:
        # A QLoRA adapter is merged into the base reloaded in full precision (quantize=False).
        model, tokenizer = get_task(recipe.values).load_finished(run_dir, quantize=False, to_gpu=False)
        result = merge_and_save(model, tokenizer, out, dtype)
    return Merged(run_id, out, bool(result["merged"]), result.get("bytes"))
