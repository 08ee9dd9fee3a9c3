"""A new user's own data on a shipped recipe, through the real CLI: a label column given with --set
replaces the recipe's 0/1 label columns, and the run is named and described from the data, not as the
demo ("Review moderation, 4 labels")."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.conftest import copy_encoder_demo
from tests.integration.runs import q

pytestmark = pytest.mark.timeout(600)


def own_csv(folder: Path) -> Path:
    classes = ["neg"] * 30 + ["pos"] * 15 + ["neu"] * 5
    lines = ["text,sentiment"] + [f"this film number {i} was {c},{c}" for i, c in enumerate(classes)]
    path = folder / "my_reviews.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_label_column_on_the_command_line_replaces_the_recipes_labels(cli, tmp_path):
    recipe = copy_encoder_demo(tmp_path / "r")
    csv = own_csv(tmp_path)
    done = cli("validate", str(recipe), "--set", f"data.train_file={csv}", "--set", "data.label_column=sentiment")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "my_reviews (classification" in done.stdout  # named from the data
    assert "3 classes" in done.stdout


def test_two_label_forms_on_the_command_line_say_how_to_clear_one(cli, tmp_path):
    recipe = copy_encoder_demo(tmp_path / "r")
    done = cli("run", str(recipe), "--dry-run", "--set", "data.labels={ a = \"a\" }", "--set", "data.label_column=sentiment")
    assert done.returncode == 2
    err = done.stderr.strip()
    assert "\n" not in err, err
    assert "data.labels" in err and "data.label_column" in err and "--set 'data.labels={}'" in err, err


def test_both_label_forms_in_the_recipe_file_say_how_to_clear_one(cli, tmp_path):
    recipe = copy_encoder_demo(tmp_path / "r")
    text = recipe.read_text(encoding="utf-8").replace('text_column = "text"', 'text_column = "text"\nlabel_column = "spam"')
    recipe.write_text(text, encoding="utf-8")
    done = cli("validate", str(recipe))
    assert done.returncode == 2
    assert "--set 'data.labels={}'" in done.stdout + done.stderr


def test_a_recipe_with_its_own_data_keeps_its_name(cli, tmp_path):
    recipe = copy_encoder_demo(tmp_path / "r")
    csv = own_csv(tmp_path)
    text = recipe.read_text(encoding="utf-8").replace('train_file = "data/reviews.csv"', f'train_file = "{csv}"')
    text = text.replace("labels = {", 'label_column = "sentiment"\n# labels = {')
    recipe.write_text(text, encoding="utf-8")
    done = cli("validate", str(recipe))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "demo_encoder_multilabel (classification" in done.stdout
    # and a name given on the command line wins over the data's
    done = cli("validate", str(recipe), "--set", f"data.train_file={csv}", "--set", "name=mine")
    assert "mine (classification" in done.stdout, done.stdout + done.stderr


@pytest.mark.slow
def test_a_run_on_own_data_is_named_and_described_from_it(cli, tmp_path):
    recipe = copy_encoder_demo(tmp_path / "r")
    csv = own_csv(tmp_path)
    done = cli("run", str(recipe), "--quiet", "--set", f"data.train_file={csv}", "--set", "data.label_column=sentiment",
               "--set", "train.max_steps=2", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_id, name, description), = q(tmp_path / "runs.duckdb", "SELECT run_id, recipe_name, description FROM runs")
    assert run_id.startswith("my_reviews-")
    assert "Review moderation" not in description and "my_reviews.csv" in description and "sentiment" in description
    frozen = tomllib.loads((tmp_path / "runs" / run_id / "recipe.toml").read_text(encoding="utf-8"))
    assert frozen["name"] == "my_reviews"
    assert frozen["data"]["labels"] == {} and frozen["data"]["label_column"] == "sentiment"  # the form used, alone
    assert frozen["data"]["holdout_split"] == "stratified"  # the split method, recorded per run

    # the same run as if frozen before data.holdout_split: it loads as random, and a run started from it
    # keeps that split (judged on the same rows as the run it came from)
    path = tmp_path / "runs" / run_id / "recipe.toml"
    path.write_text("".join(line for line in path.read_text(encoding="utf-8").splitlines(keepends=True)
                            if not line.startswith("holdout_split")), encoding="utf-8")
    done = cli("run", "--from", run_id, "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# --set data.holdout_split = random" in done.stdout, done.stdout
