"""Checkpoints that come quantized (workbench/models/checkpoint.py): the decision per kind from
config.json alone, and the MXFP4 path for real — a tiny gpt-oss whose experts are stored in MXFP4
as openai/gpt-oss-* are (tests/mxfp4.py), dequantized at load, LoRA on it, a training step."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT
from tests.mxfp4 import GPT_OSS_QUANTIZATION, write_mxfp4_checkpoint
from workbench.errors import UserError
from workbench.models.checkpoint import NEEDS, check_checkpoint, decide, quantization, read_config
from workbench.recipe import load_recipe
from workbench.recipe.sections import view_of

DEMO = ROOT / "recipes" / "demo" / "hate_speech.toml"


def recipe(**over):
    """The demo recipe, typed, with knobs changed (quant__use_4bit=True: quant.use_4bit)."""
    v = dict(load_recipe(DEMO).values)
    v.update({f"{k.replace('__', '.')}": x for k, x in over.items()})
    return view_of(v)


def refused(config, **over) -> str:
    with pytest.raises(UserError) as e:
        decide(config, recipe(**over))
    message = str(e.value)
    assert "\n" not in message
    return message


def test_a_checkpoint_without_quantization_follows_the_recipe():
    assert decide({"model_type": "llama"}, recipe(quant__use_4bit=True)).label == "4bit-nf4"
    assert decide(None, recipe(quant__use_4bit=False)).label is None
    assert quantization({"model_type": "llama"}) == ("", {})


def test_mxfp4_is_dequantized_and_refuses_bitsandbytes_4bit():
    mx = {"quantization_config": GPT_OSS_QUANTIZATION}
    plan = decide(mx, recipe(quant__use_4bit=False))
    assert (plan.method, plan.label, plan.kbit) == ("mxfp4", "mxfp4→bf16", False)
    message = refused(mx, quant__use_4bit=True)
    assert "MXFP4" in message and "set quant.use_4bit = false" in message and "dequantized to bf16" in message


def test_bitsandbytes_checkpoints():
    nf4 = {"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}}
    plan = decide(nf4, recipe(quant__use_4bit=True))
    assert (plan.label, plan.kbit) == ("4bit-nf4", True)
    assert "set quant.use_4bit = true" in refused(nf4, quant__use_4bit=False)
    int8 = {"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True}}
    assert "8-bit bitsandbytes" in refused(int8, quant__use_4bit=True)


@pytest.mark.parametrize("kind", ["gptq", "awq"])
def test_gptq_and_awq_train_lora_on_their_own_weights_when_peft_can(kind):
    config = {"quantization_config": {"quant_method": kind, "bits": 4}}
    assert f"{kind.upper()}: set quant.use_4bit = false" in refused(config, quant__use_4bit=True)
    assert "use model.method = \"lora\"" in refused(config, quant__use_4bit=False, model__method="full")
    from importlib.util import find_spec

    if not all(find_spec(p) for p in NEEDS[kind]):
        message = refused(config, quant__use_4bit=False)
        missing = [p for p in NEEDS[kind] if find_spec(p) is None]
        assert f"needs {' and '.join(missing)}" in message and f"pip install {' '.join(missing)}" in message
    else:  # pragma: no cover - not installed on the CI machine
        assert decide(config, recipe(quant__use_4bit=False)).label == kind


@pytest.mark.parametrize("kind", ["compressed-tensors", "fp8", "hqq", "something-new"])
def test_other_formats_are_refused_with_what_to_do(kind):
    message = refused({"quantization_config": {"quant_method": kind}}, quant__use_4bit=False)
    assert f'quant_method "{kind}"' in message and "unquantized checkpoint" in message


def test_the_config_is_read_from_a_folder_or_the_cache_never_downloaded(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps({"quantization_config": GPT_OSS_QUANTIZATION}))
    assert quantization(read_config(str(tmp_path)))[0] == "mxfp4"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    assert read_config("openai/gpt-oss-20b") is None  # not cached: unknown, no download
    assert check_checkpoint(recipe(model__source="openai/gpt-oss-20b", quant__use_4bit=True)).label == "4bit-nf4"
    with pytest.raises(UserError, match="MXFP4"):
        check_checkpoint(recipe(model__source=str(tmp_path), quant__use_4bit=True))


@pytest.fixture(scope="module")
def mxfp4_folder(tmp_path_factory):
    from workbench.models.tiny import build_tiny

    texts = [json.loads(line)["messages"][1]["content"]
             for line in (ROOT / "recipes" / "demo" / "data" / "hate" / "train.jsonl").read_text().splitlines()]
    tiny = build_tiny("gpt_oss", texts, hidden=64, layers=2, vocab=400)
    return tiny, write_mxfp4_checkpoint(tiny, tmp_path_factory.mktemp("mxfp4") / "gpt-oss-mxfp4")


def test_mxfp4_checkpoint_loads_dequantized_and_trains_lora(mxfp4_folder):
    import torch
    from transformers import AutoModelForCausalLM

    from workbench.models.load import apply_method, load_causal_lm

    tiny, folder = mxfp4_folder
    v = recipe(model__source=str(folder), quant__use_4bit=False, lora__dropout=0.0)
    loaded = load_causal_lm(str(folder), v)
    assert loaded.quant.label == "mxfp4→fp32"  # the CPU computes in fp32 (bf16 on a GPU that has it)
    model = loaded.model
    assert getattr(model.config, "quantization_config", None) is None and not getattr(model, "is_quantized", False)
    experts = model.model.layers[0].mlp.experts
    assert type(experts).__name__ == "GptOssExperts" and experts.gate_up_proj.dtype == torch.float32
    original = AutoModelForCausalLM.from_pretrained(str(tiny)).model.layers[0].mlp.experts
    for name in ("gate_up_proj", "down_proj"):  # FP4 keeps ~1 significant digit: within its rounding error
        a, b = getattr(original, name), getattr(experts, name)
        assert a.shape == b.shape and 0 < float((a - b).norm().detach() / a.norm().detach()) < 0.2

    peft_model = apply_method(loaded, v, task_type="CAUSAL_LM")
    lora = {n: p for n, p in peft_model.named_parameters() if p.requires_grad}
    assert any("q_proj.lora_B" in n for n in lora) and not any("experts" in n for n in lora)
    before = {n: p.detach().clone() for n, p in lora.items()}
    ids = loaded.tokenizer(["<|start|>user<|message|>hello there<|end|>"], return_tensors="pt")["input_ids"]
    optimizer = torch.optim.AdamW(lora.values(), lr=1e-2)
    peft_model.train()
    loss = peft_model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(before[n], p) for n, p in lora.items() if "lora_B" in n)


def test_a_bitsandbytes_4bit_checkpoint_trains_qlora_on_its_own_weights(mxfp4_folder, tmp_path):
    """A checkpoint saved in 4-bit (as the hub's *-bnb-4bit uploads are): loaded by its own
    quantization_config (the recipe's is not passed), k-bit prepared, LoRA trains."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    from workbench.models.load import apply_method, load_causal_lm

    pytest.importorskip("bitsandbytes")
    tiny, _ = mxfp4_folder
    saved = tmp_path / "bnb-4bit"
    AutoModelForCausalLM.from_pretrained(
        str(tiny), quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="fp4"),
        device_map={"": "cpu"}, dtype=torch.float32).save_pretrained(saved)
    AutoTokenizer.from_pretrained(str(tiny)).save_pretrained(saved)
    v = recipe(model__source=str(saved), quant__use_4bit=True)  # the recipe asks nf4: the checkpoint's fp4 wins
    loaded = load_causal_lm(str(saved), v)
    assert (loaded.quant.label, loaded.quant.kbit) == ("4bit-fp4", True)
    assert loaded.model.config.quantization_config.bnb_4bit_quant_type == "fp4"
    model = apply_method(loaded, v, task_type="CAUSAL_LM")
    ids = loaded.tokenizer(["<|start|>user<|message|>hello there<|end|>"], return_tensors="pt")["input_ids"]
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for n, p in model.named_parameters() if "lora_B" in n)
