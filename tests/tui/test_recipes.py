"""Recipes mode: the table of shipped and user recipes (paths relative to their folder, broken
files listed with the reason), the header preview, and the ways on: edit, duplicate as new,
new from a template."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import copy_encoder_demo
from tests.tui.conftest import settled, until, workers_done
from workbench.errors import UserError
from workbench.recipe import load_recipe
from workbench.tui.screens.editor import EditorScreen
from workbench.tui.screens.prompt import PromptScreen
from workbench.tui.screens.recipes import RecipesScreen


@pytest.fixture
def user_recipes(tmp_path, monkeypatch) -> Path:
    """A user recipe folder: a copy of recipes/demo (with its data) and one broken file."""
    folder = tmp_path / "recipes"
    copy_encoder_demo(folder / "demo")
    (folder / "broken.toml").write_text("# Half-written.\nname = \n", encoding="utf-8")
    monkeypatch.setenv("WORKBENCH_RECIPES", str(folder))
    return folder


async def settle(pilot) -> None:
    """Until the recipe search has landed: rows in the table and the selected one previewed (on a
    loaded CI machine the message can trail the worker's end), then a settled screen."""
    await workers_done(pilot)
    screen = pilot.app.screen
    if isinstance(screen, RecipesScreen):
        await until(pilot, lambda: screen.query_one("#recipes-table").row_count
                    and str(screen.query_one("#recipe-preview").render()), "the recipe list and its preview")
    await settled(pilot)


async def editing(pilot, path: Path) -> EditorScreen:
    """Until the editor is open on `path` (written by a worker, then pushed), settled."""
    await until(pilot, lambda: isinstance(pilot.app.screen, EditorScreen) and pilot.app.screen.path == path,
                f"the editor on {path.name}")
    await settle(pilot)
    return pilot.app.screen


def table_rows(screen) -> list[list[str]]:
    table = screen.query_one("#recipes-table")
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


class TestRecipesScreen:
    def test_snapshot_80x24(self, snap_compare, make_app):
        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=settle)

    def test_snapshot_120x40(self, snap_compare, make_app):
        async def second_row(pilot):
            await settle(pilot)
            await pilot.press("down")

        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=second_row)


def test_lists_recipes_relative_to_their_folder_and_broken_files_with_the_reason(make_app, user_recipes):
    async def go():
        async with make_app().run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, RecipesScreen)
            rows = table_rows(screen)
            assert [r[0] for r in rows] == ["broken.toml", "demo/encoder_multilabel.toml"]
            assert rows[1][1:6] == ["yours", "demo_encoder_multilabel", "classification", "tiny:distilbert", "lora"]
            assert rows[1][6] == "Review moderation, 4 labels, tiny DistilBERT + LoRA (offline demo)"
            assert rows[0][6].startswith("does not parse")
            preview = str(screen.query_one("#recipe-preview").render())
            assert "invalid TOML" in preview and "broken.toml" in preview
            await pilot.press("down")
            await settled(pilot)
            preview = str(screen.query_one("#recipe-preview").render())
            assert "Offline demo of recipes/encoder_multilabel.toml" in preview
            assert str(user_recipes) not in preview  # never an absolute path

    asyncio.run(go())


def test_enter_opens_the_demo_recipe_in_the_editor(make_app, user_recipes):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("down", "enter")
            await settle(pilot)
            editor = pilot.app.screen
            assert isinstance(editor, EditorScreen)
            assert editor.path == user_recipes / "demo" / "encoder_multilabel.toml"
            assert editor.query_one("#field-lora-r").text == "16"
            assert "demo/encoder_multilabel.toml" in str(editor.query_one("#editor-title").render())

    asyncio.run(go())


def test_duplicate_as_new_writes_a_renamed_copy_next_to_it_and_opens_it(make_app, user_recipes):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("down", "d")
            await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the name prompt")
            await pilot.press("ctrl+u", *"review_mod_v2", "enter")
            new = user_recipes / "demo" / "review_mod_v2.toml"
            await editing(pilot, new)
            assert new.is_file()
            recipe = load_recipe(new)
            assert recipe.name == "review_mod_v2"
            assert Path(recipe["data.train_file"]) == (user_recipes / "demo" / "data" / "reviews.csv").resolve()
            assert "# Offline demo" in new.read_text(encoding="utf-8")  # comments kept

    asyncio.run(go())


def test_duplicate_refuses_a_name_that_is_not_a_file_name(make_app, user_recipes):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("down", "d")
            await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the name prompt")
            await pilot.press("ctrl+u", *"../evil", "enter")
            await settled(pilot)
            problem = pilot.app.screen.query_one("#problem")
            assert problem.display and "letters, digits" in str(problem.render())
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(pilot.app.screen, RecipesScreen), "the recipes again")
            await settle(pilot)
            assert sorted(p.name for p in user_recipes.rglob("*.toml")) == ["broken.toml", "encoder_multilabel.toml"]

    asyncio.run(go())


def test_new_from_template_writes_a_valid_recipe(make_app, user_recipes):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("n")
            await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the template prompt")
            await pilot.press("ctrl+u", *"fresh", "enter")
            new = user_recipes / "fresh.toml"
            await editing(pilot, new)
            assert new.is_file()
        return new

    new = asyncio.run(go())
    recipe = load_recipe(new)  # valid as written: the schema accepts every templated value
    assert recipe.name == "fresh" and recipe["model.source"] == "tiny:distilbert"
    # The template points at data/train.csv, which does not exist yet: the pre-flight says so.
    from workbench.actions.validate import preflight

    with pytest.raises(UserError, match="train"):
        preflight(str(new))
    # Once train_file names an existing CSV, it loads with that file.
    csv = user_recipes / "demo" / "data" / "reviews.csv"
    assert load_recipe(new, [f"data.train_file={csv}"])["data.train_file"] == str(csv)


def test_after_init_each_recipe_shows_its_origin_the_users_first(make_app, tmp_path, monkeypatch):
    """`workbench init` copies the shipped recipes into ./recipes: the list holds each twice, told apart
    by the origin column, the user's copies above the shipped ones."""
    from workbench.actions.init import init

    init(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORKBENCH_RECIPES")

    async def go():
        async with make_app().run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = pilot.app.screen
            table = screen.query_one("#recipes-table")
            headers = [str(c.label) for c in table.columns.values()]
            assert "origin" in headers
            origins = [r[headers.index("origin")] for r in table_rows(screen)]
            n = len(origins) // 2
            assert n > 1 and origins == ["yours"] * n + ["shipped"] * n
            rows = table_rows(screen)
            assert [r[0] for r in rows[:n]] == [r[0] for r in rows[n:]]

    asyncio.run(go())


def test_home_and_end_go_to_the_first_and_last_recipe(make_app):
    async def go():
        async with make_app().run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            table = pilot.app.screen.query_one("#recipes-table")
            await pilot.press("down", "down")
            await pilot.press("end")
            await until(pilot, lambda: table.cursor_row == table.row_count - 1, "the cursor on the last recipe")
            await pilot.press("home")
            await until(pilot, lambda: table.cursor_row == 0, "the cursor on the first recipe")

    asyncio.run(go())


def test_a_recipe_that_fails_the_schema_is_flagged_like_one_that_does_not_parse(make_app, user_recipes):
    typo = user_recipes / "typo.toml"
    text = (user_recipes / "demo" / "encoder_multilabel.toml").read_text(encoding="utf-8")
    typo.write_text(text.replace('name = "demo_encoder_multilabel"', 'name = "typo"').replace("[lora]", "[lora]\nrr = 8"),
                    encoding="utf-8")

    async def go():
        async with make_app().run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            screen = pilot.app.screen
            rows = table_rows(screen)
            assert [r[0] for r in rows] == ["broken.toml", "demo/encoder_multilabel.toml", "typo.toml"]
            assert rows[0][-1].startswith("does not parse")
            assert rows[2][-1].startswith("does not validate: unknown key lora.rr"), rows[2]
            assert not rows[1][-1].startswith("does not")
            await pilot.press("down", "down")
            await settled(pilot)
            preview = str(screen.query_one("#recipe-preview").render())
            assert "unknown key lora.rr" in preview
            await pilot.press("l")
            await until(pilot, lambda: any("unknown key lora.rr" in n.message for n in pilot.app.notes),
                        "the launch refused with the reason")
            assert isinstance(pilot.app.screen, RecipesScreen)

    asyncio.run(go())
