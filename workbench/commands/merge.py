"""`workbench merge RUN --output DIR`: the tuned model as one plain Hugging Face folder."""

from __future__ import annotations

from pathlib import Path

from workbench.actions.refs import completed_run
from workbench.commands.common import store_of
from workbench.console import console
from workbench.errors import UserError


def main(args) -> int:
    run_id, run_dir, recipe = completed_run(store_of(args), args.run, "merge")
    out = Path(args.output).expanduser()
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
        result = merge_and_save(model, tokenizer, out, args.dtype)
    if result["merged"]:
        console.print(f"merged the adapter of {run_id} into its base: {out} ({result['bytes'] / 2**20:,.1f} MiB); "
                      "load it with transformers' from_pretrained, no peft needed")
    else:
        console.print(f"{run_id} is a full fine-tune: copied its model to {out}")
    return 0
