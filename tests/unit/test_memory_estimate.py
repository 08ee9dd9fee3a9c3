"""The GPU memory estimate (workbench/models/memory.py): parameter counts equal what training
really builds, weight bytes equal the loaded model's footprint, a 7B model's figures match the
published ones, and the warning when a GPU is too small."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from workbench.models.memory import GIB, estimate, gib, shard
from workbench.recipe import load_recipe

DECODER = ROOT / "recipes" / "demo" / "decoder_classification.toml"
ENCODER = ROOT / "recipes" / "demo" / "encoder_multilabel.toml"
TEXTS = ["the pasta was great", "terrible service and cold food", "visit our site for discounts"] * 20


@pytest.mark.parametrize(("recipe", "arch", "overrides"), [
    (DECODER, "llama", ["model.precision=fp32"]),  # 4-bit + LoRA (the QLoRA layout), fp32 as on this CPU
    (ENCODER, "bert", ["model.method=full"]),  # a full fine-tune at fp32
    (ENCODER, "distilbert", []),  # LoRA with a new head kept trainable
])
def test_counts_and_weight_bytes_equal_the_loaded_model(recipe, arch, overrides):
    from transformers import AutoConfig

    from workbench.models.load import apply_method, count_params, load_sequence_classifier
    from workbench.models.tiny import build_tiny

    path = str(build_tiny(arch, TEXTS, hidden=64, layers=2, vocab=300))
    view = load_recipe(recipe, [f"model.source={path}", *overrides]).view
    est = estimate(view, AutoConfig.from_pretrained(path), causal=False, num_labels=4)
    loaded = load_sequence_classifier(path, ["a", "b", "c", "d"], seed=0, recipe=view)
    # bitsandbytes' footprint counts 4-bit weights at half a byte and their quantization state
    assert est.parts["weights"] == pytest.approx(loaded.model.get_memory_footprint(), rel=0.02)
    trainable, _ = count_params(apply_method(loaded, view))
    assert est.trainable == trainable


def llama_7b():
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32, dtype="bfloat16")


def test_a_7b_llama_in_4bit_with_lora_is_the_qlora_figure():
    view = load_recipe(ROOT / "recipes" / "qlora_ner.toml", ["model.source=tiny:llama", "lora.r=16",
                                                              "train.batch_size=1", "model.max_length=512"]).view
    est = estimate(view, llama_7b(), causal=True)
    assert est.params == pytest.approx(6.74e9, rel=0.01)
    # QLoRA (Dettmers et al. 2023): a 7B model's NF4 weights take about 3.5-4 GiB
    assert 3.4 * GIB < est.parts["weights"] < 4.0 * GIB
    assert est.trainable < 0.01 * est.params


def test_a_full_bf16_finetune_of_7b_needs_8_bytes_per_parameter_plus_activations():
    view = load_recipe(ENCODER, ["model.source=tiny:bert", "model.method=full", "train.batch_size=1",
                                   "model.max_length=128"]).view
    est = estimate(view, llama_7b(), causal=True)
    # bf16 weights (2) + bf16 gradients (2) + two AdamW moments (4) = 8 bytes per parameter
    without_activations = est.total - est.parts["activations"] - est.parts["CUDA context"]
    assert without_activations == pytest.approx(8 * est.params, rel=0.01)


def test_gradient_checkpointing_shrinks_activations_and_sharding_splits_weights():
    base = ["model.source=tiny:llama", "train.batch_size=8", "model.max_length=2048"]
    plain = estimate(load_recipe(DECODER, base).view, llama_7b(), causal=False)
    ckpt = estimate(load_recipe(DECODER, [*base, "train.gradient_checkpointing=true"]).view, llama_7b(),
                    causal=False)
    assert ckpt.parts["activations"] < plain.parts["activations"] / 5
    halves = shard(plain, 2)
    assert halves.parts["weights"] == -(-plain.parts["weights"] // 2) and halves.gpus == 2


def test_lines_warn_when_the_gpu_is_too_small():
    view = load_recipe(DECODER, ["model.source=tiny:llama", "train.batch_size=8", "model.max_length=2048"]).view
    est = estimate(view, llama_7b(), causal=False)
    fits = est.lines([est.total + GIB], "gpubox")
    too_small = est.lines([est.total - GIB], "gpubox")
    assert not any(line.startswith("warning") for line in fits) and "fits gpubox's GPU" in fits[-1]
    assert too_small[-1].startswith("warning: about ") and "gpubox" in too_small[-1]
    assert gib(3 * GIB) == "3.00 GiB" and gib(5 << 20) == "5 MiB"
