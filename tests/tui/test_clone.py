"""Clone and change: `d` on a run (the Runs list, a run's detail) writes its frozen recipe as a new recipe
in the user's recipes folder under the name given, and opens it in the editor with the run's values."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.tui.conftest import until
from tests.tui.test_recipes import editing
from tests.tui.test_runs import FULL, LORA, cursor_to, runs_ready
from workbench.recipe import load_recipe
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.screens.prompt import PromptScreen


@pytest.fixture
def user_recipes(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "recipes"
    folder.mkdir()
    monkeypatch.setenv("WORKBENCH_RECIPES", str(folder))
    return folder


def test_clone_key_on_the_runs_list_opens_the_editor_on_the_runs_recipe_under_a_new_name(make_app, user_recipes):
    async def go():
        async with make_app("runs").run_test(size=(120, 40)) as pilot:
            await runs_ready(pilot)
            await cursor_to(pilot, LORA)
            await pilot.press("d")
            prompt = await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen) and pilot.app.screen,
                                 "the name prompt")
            assert "demo_encoder_multilabel_from_a1b2" in prompt.value  # the run's recipe name and its short id
            await pilot.press("ctrl+u", *"lr_lower", "enter")
            editor = await editing(pilot, user_recipes / "lr_lower.toml")
            assert editor.query_one("#field-lora-r").text == "16"  # the run's values, ready to change
            assert editor.query_one("#field-name").text == "lr_lower"
            recipe = load_recipe(user_recipes / "lr_lower.toml")
            assert recipe.name == "lr_lower" and recipe["model.method"] == "lora"
            assert recipe["train.learning_rate"] == 3e-3 and recipe["train.epochs"] == 20
            assert recipe.view.description.startswith(f"from {LORA}: Review moderation")

    asyncio.run(go())


def test_clone_key_on_a_run_detail_opens_the_editor_with_the_default_name(make_app, user_recipes):
    async def go():
        async with make_app("runs").run_test(size=(120, 40)) as pilot:
            await runs_ready(pilot)
            pilot.app.push_screen(DetailScreen(FULL))
            await until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen) and pilot.app.screen.detail,
                        "the run's detail")
            await pilot.press("d")
            await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the name prompt")
            await pilot.press("enter")
            new = user_recipes / "demo_encoder_multilabel_from_c3d4.toml"
            await editing(pilot, new)
            assert load_recipe(new)["model.method"] == "full"

    asyncio.run(go())
