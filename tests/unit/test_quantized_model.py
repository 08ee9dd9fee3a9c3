"""A 4-bit model (real bitsandbytes on CPU) keeps its frozen base bit for bit across the
eval / train switches of a run, so the model evaluated in the run is the one `predict` reloads.

bitsandbytes repacks 4-bit weights for its CPU inference kernel on the first eval-mode forward
and packs them back, lossily, on the next training step; before `keep_4bit_layout` each epoch's
evaluation nudged the base weights and `predict` scored the test split 0.004 F1 away from the run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import ROOT
from workbench.models.load import apply_method, load_sequence_classifier
from workbench.models.source import resolve_source
from workbench.recipe import load_recipe
from workbench.tasks import load_splits
from workbench.tasks.classification import EncodedTexts, collator, predict_logits

pytest.importorskip("bitsandbytes")


def _base_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" not in k and "modules_to_save" not in k}


def test_eval_then_train_step_leaves_4bit_base_weights_and_logits_unchanged():
    recipe = load_recipe(ROOT / "recipes" / "demo" / "decoder_classification.toml", ["data.max_rows=64"])
    values = recipe.values
    assert values["quant.use_4bit"] and values["quant.double_quant"]
    splits = load_splits(values)
    loaded = load_sequence_classifier(resolve_source(recipe.view, splits.train.texts), splits.label_names, seed=1,
                                      recipe=recipe.view)
    model = apply_method(loaded, recipe.view)
    tok, texts = loaded.tokenizer, splits.validation.texts[:16]
    before = _base_state(model)
    first = predict_logits(model, tok, texts, batch_size=8, max_length=64)

    model.train()
    data = EncodedTexts(tok, splits.train.texts[:4], splits.train.labels[:4], 64)
    model(**collator(tok)([data[i] for i in range(4)])).loss.backward()  # gradients, no optimizer step

    again = predict_logits(model, tok, texts, batch_size=8, max_length=64)
    after = _base_state(model)
    assert sorted(after) == sorted(before)
    changed = [k for k in before if before[k].shape != after[k].shape or not torch.equal(before[k], after[k])]
    assert changed == [], f"4-bit base tensors changed by eval/train switches: {changed[:4]}"
    np.testing.assert_array_equal(first, again)
