"""Merging a LoRA run's adapter into its base model (`workbench merge`): the result is an
ordinary Hugging Face folder that plain transformers loads, without peft.

A QLoRA adapter was trained against 4-bit weights; merging into 4-bit weights would round the
update away, so the base is reloaded in full precision and the adapter merged into that (what
the QLoRA authors recommend). The merged model therefore differs from the 4-bit one it was
trained with by the quantization error only.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def copy_full_model(model_dir: Path, output: Path) -> dict[str, Any]:
    """A full fine-tune is already a plain model: copy it."""
    shutil.copytree(model_dir, output, dirs_exist_ok=True)
    return {"output": str(output), "merged": False}


def merge_and_save(peft_model, tokenizer, output: Path, dtype: str = "auto") -> dict[str, Any]:
    """Merge a peft model's adapter into its (full-precision) base and save both as one folder."""
    import torch

    output.mkdir(parents=True, exist_ok=True)
    merged = peft_model.merge_and_unload()
    if dtype != "auto":
        merged = merged.to({"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype])
    merged.save_pretrained(output)
    tokenizer.save_pretrained(output)
    size = sum(f.stat().st_size for f in output.rglob("*") if f.is_file())
    return {"output": str(output), "merged": True, "bytes": size}
