"""`predict --text`: each task writes plain texts as its own prediction input, and its reader reads that
input back as one example per text, the text as the model reads it (no model loaded)."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from workbench.errors import UserError
from workbench.recipe import load_recipe
from workbench.tasks import get_task
from workbench.tasks.plain_texts import texts_input

DEMO = ROOT / "recipes" / "demo"
TEXTS = ["Great food, \"friendly\" staff, we will come back", "Acme Corp hired Jane Doe in Paris"]


def read_back(recipe_file: str, tmp_path, **sets):
    recipe = load_recipe(DEMO / recipe_file, [f"{k}={v}" for k, v in sets.items()])
    path, reading = texts_input(get_task(recipe.values), TEXTS, tmp_path)
    return get_task(recipe.with_values(reading).values).reader(unlabelled=True)(str(path))


def test_classification_reads_each_text_as_the_text_whatever_the_runs_template_and_id_column(tmp_path):
    table = read_back("decoder_classification.toml", tmp_path, **{"data.text_template": '"{id}: {text}"'})
    assert list(table.texts) == TEXTS and table.labels is None


def test_chat_reads_each_text_as_one_user_message(tmp_path):
    records = read_back("hate_speech.toml", tmp_path)
    assert [r.messages[-1] for r in records] == [{"role": "user", "content": t} for t in TEXTS]
    assert all(r.label is None for r in records)


def test_ner_reads_each_text_as_a_sentence_of_its_tokens(tmp_path):
    sentences = read_back("qlora_ner.toml", tmp_path)
    assert [s.tokens for s in sentences] == [t.split() for t in TEXTS]
    assert all(s.tags is None for s in sentences)


def test_an_empty_text_is_refused_in_one_line(tmp_path):
    recipe = load_recipe(DEMO / "encoder_multilabel.toml")
    with pytest.raises(UserError, match="--text number 2 is empty"):
        texts_input(get_task(recipe.values), ["fine", "  "], tmp_path)
