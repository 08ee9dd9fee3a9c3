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
