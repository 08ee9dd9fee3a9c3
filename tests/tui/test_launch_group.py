"""A recipe of several runs (methods = ["full", "lora"]) launched from the app on the local target: the
preview lists the runs, Submit starts them one after another as `workbench run` does (its own command,
detached), and the Monitor follows them as one group. Real tiny runs, real store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.tui.conftest import until
from tests.tui.test_launch_dialog import open_dialog, preview, preview_settled
from workbench.tui.screens.monitor import MonitorScreen

TWO_METHODS = ['methods=["full", "lora"]', "train.epochs=1"]


def store_runs(store):
    from workbench.store.db import connect

    with connect(store, read_only=True) as con:
        return con.execute("SELECT run_id, status, group_id, method FROM runs ORDER BY created_at").fetchall()


def cli_dry_run_lines(recipe, store) -> list[str]:
    """`workbench run RECIPE --set ... --dry-run`: its `# run N: ...` lines (the CLI's own plan)."""
    args = [a for o in TWO_METHODS for a in ("--set", o)]
    out = subprocess.run([sys.executable, "-m", "workbench", "--store", str(store), "run", str(recipe), *args,
                          "--dry-run"], capture_output=True, text=True, cwd=ROOT, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    return [line[2:].strip() for line in out.splitlines() if line.startswith("#   run ")]


# Waits on the app's state, never on its workers: a follower works until its run ends.
@pytest.mark.timeout(1200)
def test_two_methods_are_previewed_launched_in_turn_and_followed_as_a_group(make_app, demo, empty_store):
    async def go():
        app = make_app(store=empty_store, follow=True)
        async with app.run_test(size=(100, 30)) as pilot:
            dialog = await open_dialog(pilot, demo, TWO_METHODS)
            await preview_settled(pilot)
            text = preview(dialog)
            assert "2 runs, one group: methods full, lora" in text, text
            assert "run 1: model.method=full" in text and "run 2: model.method=lora" in text, text
            assert not dialog.query_one("#launch-preview").has_class("error-text")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.groups, "the monitor", timeout=300)
            (group, gw), = app.groups.items()
            assert gw.total == 2
            # A bound on failure only: two one-epoch tiny runs, one after another.
            await until(pilot, lambda: gw.ended and len(gw.run_ids) == 2
                        and all(app.watches[r].settled for r in gw.run_ids), "both runs to end", timeout=900, every=0.2)
            assert [app.watches[r].status for r in gw.run_ids] == ["completed", "completed"]
            monitor = app.screen
            await until(pilot, lambda: "2 of 2" in str(monitor.query_one("#group-line").render()),
                        "the monitor's group line")
            line = str(monitor.query_one("#group-line").render())
            assert group in line and "2 completed" in line, line
            return group, gw.run_ids

    group, run_ids = asyncio.run(go())
    rows = store_runs(empty_store)
    assert [r[0] for r in rows] == run_ids
    assert [(r[1], r[2]) for r in rows] == [("completed", group)] * 2
    assert [r[3] for r in rows] == ["full", "lora"]
    # what `workbench run` of the same recipe starts: the same runs, the same methods, in the same order
    assert cli_dry_run_lines(demo, empty_store) == ["run 1: model.method=full", "run 2: model.method=lora"]
