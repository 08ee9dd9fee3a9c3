"""Merging a LoRA run's adapter into its base model (`workbench merge`): the result is an
ordinary Hugging Face folder that plain transformers loads, without peft.

A QLoRA adapter was trained against 4-bit weights; merging into 4-bit weights would round the
update away, so the base is reloaded in full precision and the adapter merged into that (what
the QLoRA authors recommend). The merged model therefore differs from the 4-bit one it was
trained with by the quantization error only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any


def merge_run(run_dir: Path, values: dict[str, Any], output: Path, dtype: str = "auto") -> dict[str, Any]:
    import torch
    from peft import PeftModel

    from workbench.tasks import task_module

    adapter = run_dir / "adapter"
    output.mkdir(parents=True, exist_ok=True)
    if values["model.method"] == "full":
        # Already a plain model: copy it.
        shutil.copytree(run_dir / "model", output, dirs_exist_ok=True)
        return {"output": str(output), "merged": False}
    task = values["task"]
    if task == "classification":
        from workbench.models.load import load_sequence_classifier
        from workbench.tasks.classification import LABELS_FILE, base_of

        labels = json.loads((run_dir / LABELS_FILE).read_text("utf-8"))["labels"]
        loaded = load_sequence_classifier(base_of(run_dir, values), labels, seed=values["train.seed"],
                                          tokenizer_path=str(adapter))
    else:
        from workbench.models.load import load_causal_lm
        from workbench.data.splits import load_splits
        from workbench.models.source import base_path

        module = task_module(task)
        base = base_path(run_dir, values, lambda: module.make_task(values).tokenizer_texts(load_splits(values).train))
        loaded = load_causal_lm(base, values, tokenizer_path=str(adapter), quantize=False)
    model = PeftModel.from_pretrained(loaded.model, str(adapter))
    merged = model.merge_and_unload()
    if dtype != "auto":
        merged = merged.to({"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype])
    merged.save_pretrained(output)
    loaded.tokenizer.save_pretrained(output)
    size = sum(f.stat().st_size for f in output.rglob("*") if f.is_file())
    return {"output": str(output), "merged": True, "bytes": size}
