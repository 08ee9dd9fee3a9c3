"""The whole path through the app, by keys, with real parts all the way: pick the demo recipe →
change a hyperparameter in the form → launch it locally → the monitor follows it to completion →
open it in the runs browser → its detail shows base vs tuned, tuned better."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import copy_encoder_demo
from tests.integration.runs import q
from tests.tui.conftest import settled, until
from workbench.store.schema import ALL_LABELS
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.screens.editor import EditorScreen
from workbench.tui.screens.launch import LaunchScreen
from workbench.tui.screens.monitor import MonitorScreen, RunMonitor
from workbench.tui.screens.runs import RunsScreen

LABELS = ("advertisement", "irrelevant_content", "non_visitor_rant", "toxicity")


# Waits on the app's state, never on its workers: a follower works until its run ends.
@pytest.mark.timeout(1500)
def test_pick_edit_launch_monitor_browse_and_see_base_vs_tuned(tmp_path, monkeypatch):
    copy_encoder_demo(tmp_path / "recipes" / "demo")
    monkeypatch.setenv("WORKBENCH_RECIPES", str(tmp_path / "recipes"))
    store = tmp_path / "runs.duckdb"
    recipe_file = tmp_path / "recipes" / "demo" / "encoder_multilabel.toml"
    on_disk = recipe_file.read_bytes()

    async def go():
        app = WorkbenchApp(store)
        async with app.run_test(size=(100, 30)) as pilot:
            # 1. Recipes: the demo is listed; enter opens it in the editor.
            def listed() -> bool:
                table = app.screen.query_one("DataTable")
                return table.row_count > 0 and "demo_encoder_multilabel" in str(table.get_row_at(0))

            await until(pilot, listed, "the recipe list")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.loaded, "the editor")
            editor = app.screen
            # 2. To the lora section (ctrl+n: general → model → data → lora), then type r = 8.
            await pilot.press("ctrl+n", "ctrl+n", "ctrl+n")
            await until(pilot, lambda: editor.query_one("#sections").active == "sec-lora", "the lora section")
            field = editor.query_one("#field-lora-r")
            field.focus_input()
            await until(pilot, lambda: app.focused is field.query_one("#value"), "the focus on lora.r")
            await pilot.press("ctrl+u", "8")
            await until(pilot, lambda: "lora.r: 16 → 8" in str(editor.query_one("#changes").render()),
                        "the change summary")
            # 3. Launch from the editor: the dialog previews the local command; submit.
            await pilot.press("ctrl+l")
            await until(pilot, lambda: isinstance(app.screen, LaunchScreen), "the launch dialog")
            await until(pilot, lambda: app.screen.loaded, "the dialog to load the recipe")
            await pilot.press("ctrl+s")
            # 4. The app follows the new run in the monitor until it is settled.
            await until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.watches, "the monitor")
            (run_id, watch), = app.watches.items()
            # A bound on failure only: the demo trains in ~40 s on 2 quiet cores, ~2 min beside two CPU burners.
            await until(pilot, lambda: watch.settled, "the run to finish", timeout=900, every=0.2)
            assert watch.status == "completed", watch.error
            assert watch.losses and watch.losses[-1][1] < watch.losses[0][1]
            monitor = app.screen.query_one(RunMonitor)
            await until(pilot, lambda: monitor.rendered == watch.version, "the monitor to show the end")
            assert "completed" in str(monitor.query_one("#headline").render())
            assert "f1μ" in str(monitor.query_one("#evals-line").render())
            # 5. The runs browser lists it first (newest); enter opens its detail.
            await pilot.press("2")
            await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.cursor_run() == run_id,
                        "the runs browser, the new run first")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.diff, "the detail")
            detail = app.screen
            assert detail.run_id == run_id
            # 6. Base vs tuned: every label there, f1 deltas as stored, coloured by better / worse.
            await pilot.press("right_square_bracket")
            await until(pilot, lambda: detail.query_one("#detail-tabs").active == "tab-diff", "the diff tab")
            await settled(pilot)
            table = detail.query_one("#diff-table")
            cells = {label: table.get_cell(f"{label}|f1", "Δ") for label in LABELS}
            return run_id, cells

    # The store is read once the app has closed: DuckDB refuses, in one process, a read-only
    # connection beside the app's read-write ones (tui/store_gate.py).
    run_id, cells = asyncio.run(go())
    for label, cell in cells.items():
        stored = q(store, "SELECT delta FROM base_vs_tuned WHERE run_id = ? AND label = ? AND metric = 'f1'",
                   [run_id, label])[0][0]
        assert abs(float(cell.plain) - stored) < 1e-3
        assert ("green" if stored > 0 else "red") in str(cell.style) or round(stored, 3) == 0
    # Learning, by the numbers: the tuned model beats the base one on held-out rows.
    base, tuned = q(store, "SELECT base, tuned FROM base_vs_tuned WHERE run_id = ? AND label = ? AND metric = "
                           "'f1_micro'", [run_id, ALL_LABELS])[0]
    assert tuned > base + 0.1
    # The form's change reached the run (and only the run: the recipe file was not saved).
    assert q(store, "SELECT value FROM params WHERE run_id = ? AND key = 'lora.r'", [run_id]) == [("8",)]
    assert recipe_file.read_bytes() == on_disk
