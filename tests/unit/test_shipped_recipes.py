"""The shipped recipes: found as package data, run / validated by name, copied out by `workbench init`.
(The wheel itself is built and installed in tests/integration/test_wheel.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from workbench.cli import main as cli
from workbench.errors import UserError
from workbench.recipe.catalog import SHIPPED_DIR, find_recipes, resolve_recipe, shipped_names

DEMOS = ["decoder_classification", "encoder_multilabel", "hate_speech", "qlora_ner", "sentiment_full_vs_lora"]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_shipped_dir_is_the_repository_recipes_folder_in_a_clone():
    assert SHIPPED_DIR.resolve() == (ROOT / "recipes").resolve()
    assert shipped_names() == sorted([*DEMOS, *(f"demo/{d}" for d in DEMOS)])


@pytest.mark.parametrize("arg, expected", [
    ("demo/encoder_multilabel", "demo/encoder_multilabel.toml"),
    ("demo/encoder_multilabel.toml", "demo/encoder_multilabel.toml"),
    ("encoder_multilabel", "encoder_multilabel.toml"),
    ("qlora_ner.toml", "qlora_ner.toml"),
])
def test_a_shipped_name_resolves_to_its_file_from_any_folder(tmp_path, monkeypatch, arg, expected):
    monkeypatch.chdir(tmp_path)
    assert resolve_recipe(arg) == SHIPPED_DIR / expected


def test_an_existing_file_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()
    mine = tmp_path / "demo" / "encoder_multilabel.toml"
    mine.write_text('name = "mine"\n')
    assert resolve_recipe("demo/encoder_multilabel.toml") == Path("demo/encoder_multilabel.toml")


def test_an_unknown_name_is_one_line_with_the_close_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as e:
        resolve_recipe("demo/encoder_multilabl")
    msg = str(e.value)
    assert "\n" not in msg
    assert "did you mean demo/encoder_multilabel " in msg and "`workbench init`" in msg


def test_a_missing_toml_path_is_left_for_the_loader_to_name(tmp_path):
    path = tmp_path / "nope.toml"
    assert resolve_recipe(str(path)) == path


def test_validate_by_name_and_an_unknown_name_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli(["validate", "demo/encoder_multilabel"]) == 0
    assert capsys.readouterr().out.startswith("ok  demo/encoder_multilabel: ")
    assert cli(["validate", "no_such_recipe"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no recipe file 'no_such_recipe'") and err.count("\n") == 1


def test_the_recipe_list_shows_the_shipped_recipes_from_an_empty_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORKBENCH_RECIPES", raising=False)
    entries = find_recipes()
    assert len(entries) == 2 * len(DEMOS) and all(e.shipped and e.error is None for e in entries)


def test_init_copies_every_shipped_file_then_refuses_without_force(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli(["init"]) == 0
    out = capsys.readouterr().out
    assert _files(tmp_path / "recipes") == _files(SHIPPED_DIR)
    assert "wrote 10 recipes" in out and "next: workbench run recipes/demo/encoder_multilabel.toml" in out

    edited = tmp_path / "recipes" / "demo" / "encoder_multilabel.toml"
    edited.write_text("# mine\n")
    assert cli(["init"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exist" in err and "--force" in err
    assert edited.read_text() == "# mine\n"  # untouched
    assert cli(["init", "--force"]) == 0
    assert edited.read_bytes() == (SHIPPED_DIR / "demo" / "encoder_multilabel.toml").read_bytes()


def test_init_into_another_folder_and_the_copies_validate(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli(["init", "elsewhere"]) == 0
    assert "next: workbench run elsewhere/recipes/demo/encoder_multilabel.toml" in capsys.readouterr().out
    copies = [f"elsewhere/recipes/demo/{d}.toml" for d in DEMOS]
    assert cli(["validate", *copies]) == 0  # their data, prompt and template paths resolve beside them
    assert capsys.readouterr().out.count("ok  ") == len(DEMOS)


# Where a source project (the seed a shipped recipe comes from) set a value, the recipe has it;
# these pin them, so they cannot drift silently (issue 28 item 6). Values the recipes chose
# themselves are not pinned here: their comments say so.
SEED_VALUES = {
    "hate_speech": {  # seed 001: chat SFT of gpt-oss-20b, per-group fairness targets
        "model.source": "openai/gpt-oss-20b",
        "model.max_length": 512,
        "eval.max_examples": 100,
        "fairness.positive_classes": ["hate"],
        "fairness.group_limits": {"LGBTQ+": 0.40, "Mexican": 0.10, "Middle East": 0.25},
    },
    "qlora_ner": {  # seed 002: CoNLL-03 NER as instruction SFT, QLoRA, tracked in MLflow
        "model.source": "meta-llama/Llama-2-7b-chat-hf",
        "quant.use_4bit": True, "quant.type": "nf4", "quant.double_quant": True,
        "lora.target_modules": ["q_proj", "v_proj"],
        "train.report_to": ["mlflow"],
    },
    "encoder_multilabel": {  # seed 003: review moderation on PBS
        "model.source": "distilbert-base-cased", "model.max_length": 512,
        "data.validation_fraction": 0.2, "data.split_seed": 42,
        "lora.r": 16, "lora.alpha": 32, "lora.dropout": 0.1, "lora.target_modules": ["q_lin", "k_lin", "v_lin"],
        "train.epochs": 2, "train.batch_size": 8, "train.learning_rate": 1e-4,
        "train.scheduler": "reduce_lr_on_plateau", "train.plateau_factor": 0.5, "train.plateau_patience": 3,
        "eval.threshold": 0.5,
    },
    "decoder_classification": {  # decoder-LLM multi-label classification
        "model.source": "meta-llama/Llama-3.2-1B", "model.max_length": 1024,
        "seeds": [1, 3, 4, 5], "lora.r": 2,
        "quant.use_4bit": True, "quant.type": "nf4",
        "train.report_to": ["tensorboard"],
        "eval.threshold": 0.5,
    },
}


def _shipped(name: str) -> dict:
    from workbench.recipe import load_recipe

    return dict(load_recipe(SHIPPED_DIR / f"{name}.toml").values)


@pytest.mark.parametrize("name", sorted(SEED_VALUES))
def test_a_shipped_recipe_keeps_its_source_projects_values(name):
    values = _shipped(name)
    assert {k: values[k] for k in SEED_VALUES[name]} == SEED_VALUES[name]


def test_hate_speech_trains_at_the_source_projects_effective_batch_and_says_how_to_launch_it_on_4_gpus():
    values = _shipped("hate_speech")
    # One GPU: 64 examples per optimizer step, as the source project's 4 GPUs (16 each).
    assert values["train.batch_size"] * values["train.gradient_accumulation_steps"] == 64
    header = (SHIPPED_DIR / "hate_speech.toml").read_text()
    assert "--gpus 4 --set train.gradient_accumulation_steps=4" in header


def _comment_above(text: str, line: str) -> str:
    """The comment block right above the (unique) line `line` of a recipe."""
    lines = text.splitlines()
    assert lines.count(line) == 1, line
    i, block = lines.index(line) - 1, []
    while i >= 0 and lines[i].startswith("#"):
        block.insert(0, lines[i])
        i -= 1
    return "\n".join(block)


@pytest.mark.parametrize("line", ["max_length = 256", "r = 16", "epochs = 2", "learning_rate = 2e-4"])
def test_qlora_ner_names_its_invented_values_as_its_own_choice(line):
    """Values the NER recipe chose were once called the source project's."""
    ner = (SHIPPED_DIR / "qlora_ner.toml").read_text()
    assert "source project's settings" not in ner
    assert "Chosen by this recipe" in _comment_above(ner, line)


def test_the_comments_say_what_a_recipe_does_not_do_as_its_source_did():
    decoder = (SHIPPED_DIR / "decoder_classification.toml").read_text()
    above = _comment_above(decoder, "threshold = 0.5")
    assert "not the source project's" in above and "0.830" in above
    assert "workbench eval RUN --set eval.tune_thresholds=false" in above
    hate = (SHIPPED_DIR / "hate_speech.toml").read_text()
    above = _comment_above(hate, "max_new_tokens = 8")
    assert "eval.base_system_prompt_file" in above and "not recorded here" in above
    assert "max_fpr = 0.10" in hate and "This recipe's limit" in _comment_above(hate, "max_fpr = 0.10")
