"""Keys a new user met (issue 29 item 8): the mode keys and `q` where text is typed (the SQL box
types them; the palette's modes and ctrl+q work there, and the footer says so), one escape leaving a changed
editor even after the arrows went through a choice field, and the command palette global: any run
(by part of its id: its detail), any recipe (its editor), any mode's commands from any screen."""

from __future__ import annotations

import asyncio

from textual.command import CommandPalette

from tests.tui.conftest import settled, until
from tests.tui.test_app import highlighted_command
from tests.tui.test_editor import open_editor
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.screens.editor import EditorScreen
from workbench.tui.screens.query import QueryScreen
from workbench.tui.screens.runs import RunsScreen


def shown_keys(screen) -> set[str]:
    """The keys the footer of `screen` shows now: of each action, its first shown key (as Footer does)."""
    first: dict[str, str] = {}
    for key, active in screen.active_bindings.items():
        if active.binding.show and active.binding.description:
            first.setdefault(active.binding.action, key)
    return set(first.values())


async def in_sql_box(pilot) -> QueryScreen:
    screen = pilot.app.screen
    assert isinstance(screen, QueryScreen)
    await settled(pilot)
    await pilot.press("f3")
    await until(pilot, lambda: pilot.app.focused is screen.query_one("#sql"), "the focus in the SQL box")
    return screen


def test_digits_type_in_the_sql_box_and_the_palette_switches_modes_from_it(make_app):
    async def go():
        async with make_app("query").run_test(size=(80, 24)) as pilot:
            screen = await in_sql_box(pilot)
            await pilot.press(*"select 1234")
            await until(pilot, lambda: screen.query_one("#sql").text == "select 1234", "the digits in the box")
            assert pilot.app.screen is screen
            await palette_pick(pilot, "runs", "Runs")
            await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen), "the runs mode")
            await pilot.press("4")
            await until(pilot, lambda: pilot.app.screen is screen, "the query mode again")
            assert screen.query_one("#sql").text == "select 1234"

    asyncio.run(go())


def test_q_types_in_the_sql_box_where_the_footer_shows_ctrl_q_and_quits_outside_it(make_app):
    async def go():
        app = make_app("query")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await in_sql_box(pilot)
            await pilot.press("q")
            await until(pilot, lambda: screen.query_one("#sql").text == "q", "q in the box")
            assert app.is_running
            keys = await until(pilot, lambda: shown_keys(screen) or None, "the footer's keys")
            assert "q" not in keys and "ctrl+q" in keys, keys
            await pilot.press("escape")
            await until(pilot, lambda: pilot.app.focused is screen.query_one("#results"), "the focus on the results")
            assert "q" in shown_keys(screen) and "ctrl+q" not in shown_keys(screen)
            await pilot.press("q")
            await until(pilot, lambda: not app.is_running, "the app to quit")

    asyncio.run(go())


def test_ctrl_q_quits_from_the_sql_box(make_app):
    async def go():
        app = make_app("query")
        async with app.run_test(size=(80, 24)) as pilot:
            await in_sql_box(pilot)
            await pilot.press("ctrl+q")
            await until(pilot, lambda: not app.is_running, "the app to quit")

    asyncio.run(go())


def test_one_escape_asks_to_discard_after_the_arrows_went_through_a_choice_field(make_app, demo):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            editor = await open_editor(pilot, demo)
            await pilot.press("x")  # the first field (the name) changed
            await until(pilot, lambda: any(f.changed for f in editor.fields), "the change")
            # down moves field to field, over the task's choice too (it does not open its list)
            for _ in range(3):
                await pilot.press("down")
                await settled(pilot)
            assert type(pilot.app.focused).__name__ != "SelectOverlay", pilot.app.focused
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the discard question")

    asyncio.run(go())


async def palette_pick(pilot, typed: str, expect: str) -> None:
    """ctrl+p, type, wait until the highlighted command starts with `expect`, enter."""
    app = pilot.app
    await pilot.press("ctrl+p")
    await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
    await pilot.press(*typed)
    await until(pilot, lambda: highlighted_command(app.screen).startswith(expect), f"{expect!r} in the palette",
                timeout=30)
    await pilot.press("enter")
    await until(pilot, lambda: not isinstance(app.screen, CommandPalette), "the palette to close")


def test_palette_on_query_finds_a_run_by_part_of_its_id_and_opens_its_detail(make_app, sample_ids):
    run_id = next(r for r in sample_ids if r.endswith("-beef"))

    async def go():
        async with make_app("query").run_test(size=(100, 30)) as pilot:
            await settled(pilot)
            await palette_pick(pilot, "20260925", f"run {run_id}")
            detail = await until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen) and pilot.app.screen,
                                 "the run's detail")
            assert detail.run_id == run_id
            await until(pilot, lambda: detail.detail is not None, "the detail to load")

    asyncio.run(go())


def test_palette_on_query_finds_a_recipe_and_opens_its_editor(make_app, demo):
    async def go():
        async with make_app("query").run_test(size=(100, 30)) as pilot:
            await settled(pilot)
            await palette_pick(pilot, "encoder_multi", "recipe demo/encoder_multilabel")
            editor = await until(pilot, lambda: isinstance(pilot.app.screen, EditorScreen) and pilot.app.screen,
                                 "the recipe's editor")
            assert editor.path == demo

    asyncio.run(go())


def test_palette_on_query_runs_another_modes_command(make_app):
    async def go():
        async with make_app("query").run_test(size=(100, 30)) as pilot:
            await settled(pilot)
            await palette_pick(pilot, "runs: filter", "Runs: Filter")
            runs = await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and pilot.app.screen,
                               "the runs mode")
            await until(pilot, lambda: pilot.app.focused is runs.query_one("#filter"), "the focus in the filter")

    asyncio.run(go())
