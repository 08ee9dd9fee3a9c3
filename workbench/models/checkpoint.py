"""Checkpoints that come quantized: what a model's own config.json says about its weights, read
before any weights load, and what workbench does with each kind.

A checkpoint whose config.json carries a `quantization_config` (openai/gpt-oss-*: MXFP4 experts;
GPTQ, AWQ and bitsandbytes uploads) is loaded by transformers by that config, whatever the recipe
asks; given a second quantization config of another kind (the recipe's bitsandbytes 4-bit) it
refuses to load. So the decision is made once, here, from config.json alone:

  no quantization_config  the recipe's own settings (quant.use_4bit: NF4 through bitsandbytes)
  mxfp4                   dequantized at load (Mxfp4Config(dequantize=True)), LoRA on bf16 weights;
                          with quant.use_4bit refused: transformers cannot re-quantize it to NF4
  bitsandbytes 4-bit      QLoRA on its own 4-bit weights; needs quant.use_4bit = true
  gptq, awq               LoRA on its own quantized layers (peft, through gptqmodel) when the
                          packages are installed; needs quant.use_4bit = false
  anything else           refused (bitsandbytes 8-bit, compressed-tensors, fp8, ...)

`check_checkpoint` runs in `workbench validate` and every launch (no torch, never downloads: a
local folder, or a hub id already in the local cache); `plan_for` runs in the loader on the
resolved path, so a refused checkpoint stops there too, before any weights load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.recipe.sections import RecipeView


@dataclass(frozen=True)
class Plan:
    method: str = ""  # the checkpoint's quantization ("" : none; "bitsandbytes-4bit", "mxfp4", "gptq", ...)
    label: str | None = None  # what ran, for the run log and runs.quantized: 4bit-nf4, mxfp4→bf16, gptq
    kbit: bool = False  # LoRA trains on quantized layers (peft's k-bit preparation before the adapters)
    note: str = ""  # one line for the run log


# The packages transformers and peft need to load, and put LoRA on, each format workbench trains.
NEEDS = {"gptq": ("gptqmodel", "optimum"), "awq": ("gptqmodel",)}


def read_config(source: str) -> dict[str, Any] | None:
    """config.json of a local folder, or of a hub id already in the local Hugging Face cache; None
    when it is not here (nothing is downloaded) or not readable JSON."""
    folder = Path(source).expanduser()
    if (folder / "config.json").is_file():
        path: str | None = str(folder / "config.json")
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(source, "config.json")
        except Exception:  # not a valid repo id, an unreadable cache: nothing known
            return None
        path = hit if isinstance(hit, str) else None
    if path is None:
        return None
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def quantization(config: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(kind, quantization_config) of a checkpoint's config; kind "" when it is not pre-quantized."""
    config = config or {}
    qc = config.get("quantization_config")
    if not isinstance(qc, dict):  # multimodal checkpoints keep it in their text model's config
        text = config.get("text_config")
        qc = text.get("quantization_config") if isinstance(text, dict) else None
    if not isinstance(qc, dict):
        return "", {}
    if qc.get("load_in_4bit"):
        return "bitsandbytes-4bit", qc
    if qc.get("load_in_8bit"):
        return "bitsandbytes-8bit", qc
    return str(qc.get("quant_method") or "unknown").lower(), qc


def decide(config: dict[str, Any] | None, recipe: RecipeView, *, dtype: str = "bf16") -> Plan:
    """What workbench does with this checkpoint under this recipe; a UserError (one line) when it
    cannot train on it. `dtype`: the precision a dequantized checkpoint trains at."""
    kind, qc = quantization(config)
    use_4bit = recipe.quant.use_4bit
    if not kind:
        return Plan(label=f"4bit-{recipe.quant.type}" if use_4bit else None)
    where = f"model.source {recipe.model.source.spec!r}"
    if kind == "mxfp4":
        if use_4bit:
            raise UserError(f"{where} comes quantized to MXFP4 (quantization_config.quant_method = \"mxfp4\"), which "
                            "transformers cannot re-quantize to 4-bit NF4 through bitsandbytes (it refuses a second "
                            "quantization config): set quant.use_4bit = false, and the model loads dequantized to "
                            f"{dtype} for LoRA")
        return Plan(kind, f"mxfp4→{dtype}", note=f"the checkpoint's MXFP4 weights dequantized to {dtype} at load; "
                                                 f"LoRA trains on {dtype} weights")
    if kind == "bitsandbytes-4bit":
        qtype = str(qc.get("bnb_4bit_quant_type") or "fp4")
        if not use_4bit:
            raise UserError(f"{where} comes quantized to 4-bit by bitsandbytes ({qtype}): set quant.use_4bit = true "
                            "(QLoRA on its own 4-bit weights; quant.type and quant.double_quant are the checkpoint's)")
        return Plan(kind, f"4bit-{qtype}", kbit=True,
                    note=f"the checkpoint comes quantized to 4-bit {qtype} by bitsandbytes: QLoRA on its own weights")
    if kind in NEEDS:
        name = kind.upper()
        if use_4bit:
            raise UserError(f"{where} comes quantized with {name}: set quant.use_4bit = false (LoRA trains on its "
                            f"{name} weights as they are; transformers refuses a second quantization config)")
        if "full" in (recipe.methods or [recipe.model.method]):
            raise UserError(f"{where} comes quantized with {name}: its weights cannot be fully fine-tuned; "
                            "use model.method = \"lora\"")
        missing = [p for p in NEEDS[kind] if find_spec(p) is None]
        if missing:
            raise UserError(f"{where} comes quantized with {name}: LoRA on its weights (peft) needs "
                            f"{' and '.join(missing)}, not installed here (pip install {' '.join(missing)})")
        return Plan(kind, kind, kbit=True, note=f"the checkpoint comes quantized with {name}: LoRA on its own weights")
    shown = "8-bit bitsandbytes" if kind == "bitsandbytes-8bit" else f"quant_method \"{kind}\""
    raise UserError(f"{where} comes pre-quantized ({shown}), which workbench does not train on (it trains on MXFP4 "
                    "dequantized to bf16, bitsandbytes 4-bit, GPTQ and AWQ): use the model's unquantized "
                    "checkpoint (quant.use_4bit = true quantizes it to 4-bit NF4 at load)")


def check_checkpoint(recipe: RecipeView) -> Plan:
    """The cheap check before launch: the decision for model.source when its config.json is here
    (a local folder, or a hub id in the local cache; tiny:<arch> models are never pre-quantized).
    A hub id not cached is decided by the training process, before its weights load."""
    from workbench.models.source import parse_source

    src = parse_source(recipe.model.source.spec)
    config = read_config(src.path if src.kind == "local" else src.spec) if src.kind != "tiny" else None
    return decide(config, recipe)


def plan_for(path: str, recipe: RecipeView, *, dtype: str) -> Plan:
    """The decision for the path from_pretrained is about to load (a folder or a hub id). A hub id
    not in the cache has its config.json fetched first: the file from_pretrained fetches first
    anyway, before any weights."""
    config = read_config(path)
    if config is None and not Path(path).expanduser().exists():
        try:
            from huggingface_hub import hf_hub_download

            config = json.loads(Path(hf_hub_download(path, "config.json")).read_text(encoding="utf-8"))
        except Exception:  # from_pretrained reports an unreachable model in its own words
            config = None
    return decide(config, recipe, dtype=dtype)


def load_kwargs(plan: Plan, kwargs: dict[str, Any], dtype) -> dict[str, Any]:
    """from_pretrained's keyword arguments for this checkpoint, from those the recipe asks for."""
    if plan.method == "mxfp4":
        from transformers.utils.quantization_config import Mxfp4Config

        return {**kwargs, "quantization_config": Mxfp4Config(dequantize=True), "dtype": dtype}
    if plan.method:
        # Loaded by its own quantization_config; the recipe's (bitsandbytes 4-bit on the same
        # kind of checkpoint) would only be overridden, with a warning.
        return {k: v for k, v in kwargs.items() if k != "quantization_config"}
    return kwargs
