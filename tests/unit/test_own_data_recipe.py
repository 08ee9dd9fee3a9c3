"""The rules of workbench/recipe/own_data.py on loaded recipes: which label form and which name a
--set of the user's own data leaves (the CLI's side: tests/integration/test_own_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import UserError
from workbench.recipe import load_recipe


def recipe(tmp: Path, data: str, top: str = 'name = "reviews_demo"\ndescription = "Review moderation, 4 labels"\n') -> Path:
    path = tmp / "r.toml"
    path.write_text(f'{top}task = "classification"\n[model]\nsource = "tiny:bert"\n[data]\n{data}', encoding="utf-8")
    return path


LABELS = 'train_file = "reviews.csv"\nlabels = { toxic = "toxicity" }\nlabel_values = { yes = 1 }\n'


def test_a_label_column_set_clears_the_files_labels_and_their_knobs(tmp_path):
    r = load_recipe(recipe(tmp_path, LABELS), ["data.label_column=sentiment"])
    assert r.data.labels == {} and r.data.label_values == {} and r.data.label_column == "sentiment"
    assert "data.labels" not in r.explicit


def test_labels_set_clear_the_files_label_column_and_its_separator(tmp_path):
    r = load_recipe(recipe(tmp_path, 'train_file = "x.csv"\nlabel_column = "tags"\nlabel_separator = "|"\n'),
                    ['data.labels={ a = "a" }'])
    assert r.data.label_column == "" and r.data.label_separator == "" and r.data.labels == {"a": "a"}


def test_a_cleared_form_with_the_other_given_is_no_conflict(tmp_path):
    r = load_recipe(recipe(tmp_path, LABELS), ["data.label_column=sentiment", "data.labels={}"])
    assert r.data.labels == {} and r.data.label_column == "sentiment"


def test_two_forms_on_the_command_line_are_refused_in_one_line(tmp_path):
    with pytest.raises(UserError) as e:
        load_recipe(recipe(tmp_path, LABELS), ["data.label_columns=[\"a\"]", "data.label_column=sentiment"])
    assert "--set 'data.label_columns=[]'" in str(e.value) and "\n" not in str(e.value)


def test_new_training_data_renames_and_redescribes(tmp_path):
    r = load_recipe(recipe(tmp_path, LABELS), ["data.train_file=my_tweets.csv", "data.label_column=sentiment"])
    assert r.name == "my_tweets"
    assert r.view.description == "my_tweets.csv: column sentiment; tiny:bert, lora"
    r = load_recipe(recipe(tmp_path, LABELS), ["data.train_file=t.csv", "data.label_column=s", 'data.classes=["a","b"]'])
    assert r.view.description.startswith("t.csv: s, 2 classes;")
    r = load_recipe(recipe(tmp_path, LABELS), ["data.train_file=", "data.dataset=/data/hub/imdb"])
    assert r.name == "imdb" and r.view.description.startswith("/data/hub/imdb: 1 label;")


def test_the_name_stays_where_the_data_is_the_recipes_or_the_name_is_given(tmp_path):
    path = recipe(tmp_path, LABELS)
    assert load_recipe(path).name == "reviews_demo"
    same = str((tmp_path / "reviews.csv").resolve())
    assert load_recipe(path, ["data.train_file=" + same]).name == "reviews_demo"  # the file's own data again
    r = load_recipe(path, ["data.train_file=other.csv", "name=mine"])
    assert r.name == "mine" and r.view.description.startswith("other.csv")
    r = load_recipe(path, ["data.train_file=other.csv", "description=my words"])
    assert r.name == "other" and r.view.description == "my words"
    assert load_recipe(path, ["lora.r=4"]).view.description == "Review moderation, 4 labels"


def test_a_training_file_named_train_is_named_by_its_folder(tmp_path):
    r = load_recipe(recipe(tmp_path, LABELS), ["data.train_file=sst2/train.tsv"])
    assert r.name == "sst2"
    r = load_recipe(recipe(tmp_path, LABELS), ["data.train_file=my reviews;$(x).csv"])
    assert r.name == "my_reviews_x"
