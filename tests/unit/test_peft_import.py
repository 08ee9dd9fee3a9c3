"""peft without bitsandbytes (workbench/models/peft_import.py), in fresh processes: a model that is
not quantized is wrapped with LoRA and bitsandbytes is never imported, whoever imports peft first;
a 4-bit model loaded after that, in the same process, still gets peft's 4-bit LoRA layers."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

DECODER = ROOT / "recipes" / "demo" / "decoder_classification.toml"
ENCODER = ROOT / "recipes" / "demo" / "encoder_multilabel.toml"

SCRIPT = """
import sys
from workbench.models.load import apply_method, count_params, load_sequence_classifier, quiet_transformers
from workbench.models.tiny import build_tiny
from workbench.recipe import load_recipe

quiet_transformers()
import transformers.trainer_utils  # imports peft, as set_seed and the Trainer do
texts = ["the pasta was great", "terrible service and cold food", "visit our site for discounts"] * 20
path = str(build_tiny(sys.argv[1], texts, hidden=64, layers=2, vocab=300))
view = load_recipe(sys.argv[2], [f"model.source={path}", *sys.argv[3:]]).view
model = apply_method(load_sequence_classifier(path, ["a", "b"], seed=0, recipe=view), view)
kinds = {type(m) for m in model.modules()}
layers = sorted(k.__module__ + "." + k.__name__ for k in kinds if k.__module__.startswith("peft.tuners.lora"))
print("bitsandbytes" in sys.modules, count_params(model)[0] > 0, *layers)
"""


def _wrapped(*args: str) -> tuple[list[str], str]:
    p = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.split(), p.stderr


def test_a_model_that_is_not_quantized_is_wrapped_without_bitsandbytes():
    (bnb, trains, *layers), stderr = _wrapped("distilbert", str(ENCODER))
    assert (bnb, trains) == ("False", "True")
    assert "gemm_4bit" not in stderr
    assert "peft.tuners.lora.layer.Linear" in layers


def test_a_4bit_model_still_gets_peft_4bit_lora_layers():
    (bnb, trains, *layers), _ = _wrapped("llama", str(DECODER), "model.precision=fp32")
    assert (bnb, trains) == ("True", "True")
    assert "peft.tuners.lora.bnb.Linear4bit" in layers, layers
