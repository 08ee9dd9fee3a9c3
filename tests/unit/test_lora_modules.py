"""LoRA modules resolved against the model before launch (workbench/models/meta.py): by peft's own
rules on the model built from its config on the meta device, each problem one (knob, line) naming
the layers the model has; what passes is what training's get_peft_model accepts."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from workbench.models.memory import estimate
from workbench.models.meta import lora_module_problem
from workbench.models.source import source_config
from workbench.recipe import load_recipe
from workbench.tasks import task_class

ENCODER = ROOT / "recipes" / "demo" / "encoder_multilabel.toml"  # tiny:distilbert, classification
DECODER = ROOT / "recipes" / "demo" / "decoder_classification.toml"  # tiny:llama, classification (a score head)
NER = ROOT / "recipes" / "demo" / "qlora_ner.toml"  # tiny:llama, a causal LM
DISTILBERT = ("tiny:distilbert (DistilBertForSequenceClassification); its layers: word_embeddings, position_embeddings, "
              "q_lin, k_lin, v_lin, out_lin, lin1, lin2, pre_classifier, classifier")
LLAMA = "embed_tokens, q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"


def problem(recipe, *overrides):
    view = load_recipe(recipe, list(overrides)).view
    causal = task_class(view.task).peft_task_type == "CAUSAL_LM"
    return lora_module_problem(view, source_config(view), causal=causal)


@pytest.mark.parametrize("recipe", [ENCODER, DECODER, NER, ROOT / "recipes" / "demo" / "hate_speech.toml"])
def test_the_demo_recipes_modules_exist(recipe):
    assert problem(recipe) is None


@pytest.mark.parametrize("task", ["classification", "chat_classification", "ner"])
def test_a_new_recipe_from_a_template_names_modules_its_model_has(tmp_path, task):
    """The app's "new from template": the classification one left lora.target_modules empty on
    tiny:distilbert, for which peft has no default (every such recipe failed in training)."""
    from workbench.tasks import recipe_template

    path = tmp_path / "fresh.toml"
    path.write_text(recipe_template(task, "fresh"), encoding="utf-8")
    assert problem(path) is None


@pytest.mark.parametrize("overrides, expected", [
    (['lora.target_modules=["query"]'], ("lora.target_modules", f"lora.target_modules: 'query' is no layer of {DISTILBERT}")),
    # peft adapted q_lin alone and said nothing of the name it did not find
    (['lora.target_modules=["q_lin", "query"]'],
     ("lora.target_modules", f"lora.target_modules: 'query' is no layer of {DISTILBERT}")),
    (['lora.target_modules=["attention"]'],
     ("lora.target_modules", "lora.target_modules: 'attention' names distilbert.transformer.layer.0.attention, a "
      "DistilBertSelfAttention, which LoRA cannot adapt (it adapts Linear, Conv1D, Conv and Embedding layers); its "
      f"layers: {DISTILBERT.partition('its layers: ')[2]}")),
    (["lora.target_modules=[]"],  # peft has no default for DistilBERT
     ("lora.target_modules", "lora.target_modules is empty and peft has no default for "
      + DISTILBERT.replace(";", ": name the layers to adapt;"))),
    (['lora.target_modules=["all-linear", "q_lin"]'],
     ("lora.target_modules", "lora.target_modules: 'all-linear' (every linear layer) stands alone, not beside names")),
    # peft saved nothing for a name it did not find
    (['lora.modules_to_save=["classifer"]'],
     ("lora.modules_to_save", f"lora.modules_to_save: 'classifer' is no module of {DISTILBERT}")),
    (['lora.target_modules=["all-linear"]'], None),
    (['lora.target_modules=["q_lin"]', 'lora.modules_to_save=["pre_classifier", "classifier"]'], None),
    (['lora.target_modules=["query"]', "model.method=full"], None),  # no LoRA, no modules
])
def test_encoder(overrides, expected):
    assert problem(ENCODER, *overrides) == expected


def test_decoders_list_their_own_layers_and_head():
    assert problem(DECODER, 'lora.target_modules=["q_lin"]') == (
        "lora.target_modules", "lora.target_modules: 'q_lin' is no layer of tiny:llama (LlamaForSequenceClassification); "
        f"its layers: {LLAMA}, score")
    assert problem(NER, 'lora.modules_to_save=["score"]') == (
        "lora.modules_to_save", "lora.modules_to_save: 'score' is no module of tiny:llama (LlamaForCausalLM); "
        f"its layers: {LLAMA}, lm_head")
    assert problem(NER, "lora.target_modules=[]") is None  # peft's default for llama: q_proj, v_proj


def test_all_linear_trains_every_linear_layer_but_the_head_as_the_estimate_counts():
    """lora.target_modules = ["all-linear"] is peft's shorthand (as a list item peft took it for a
    module name and refused the run): training adapts every linear layer but the output head."""
    from transformers import AutoConfig

    from workbench.models.load import apply_method, count_params, load_sequence_classifier
    from workbench.models.tiny import build_tiny

    path = str(build_tiny("distilbert", ["the pasta was great", "cold food", "visit our site"] * 20, hidden=32,
                          layers=1, vocab=200))
    view = load_recipe(ENCODER, [f"model.source={path}", 'lora.target_modules=["all-linear"]']).view
    model = apply_method(load_sequence_classifier(path, ["a", "b", "c", "d"], seed=0, recipe=view), view)
    adapted = {name.rsplit(".", 2)[-2] for name, _ in model.named_modules() if name.endswith(".lora_A")}
    assert adapted == {"q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"}
    trainable, _ = count_params(model)
    assert estimate(view, AutoConfig.from_pretrained(path), causal=False, num_labels=4).trainable == trainable
