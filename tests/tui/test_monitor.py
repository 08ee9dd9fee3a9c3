"""Live monitor: snapshots on fixed data, telemetry floods coalesced into few renders, and a real
local run that outlives the app, is re-attached by a new app and stopped after a confirmation."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import q
from tests.tui.conftest import SAMPLE_ROOT, settled, until, workers_done
from workbench.events import parse_event
from workbench.tui.messages import EventsReceived
from workbench.tui.screens.monitor import MonitorScreen, RunMonitor

RUNNING = "encoder_multilabel-20260925-080000-beef"
DONE = "demo_encoder_multilabel-20260921-141320-a1b2"


async def _open_monitor(pilot, *run_ids: str) -> None:
    app = pilot.app
    for run_id in run_ids:
        app.follow_run(run_id, SAMPLE_ROOT / "runs" / run_id)
    await pilot.press("3")
    await workers_done(pilot)
    await until(pilot, lambda: monitors_current(app, run_ids), "every monitor to render its run's events")
    await settled(pilot)


def monitors_current(app, run_ids) -> bool:
    """A tab for each run, each showing its watch as it is now (the view renders on its tick)."""
    if not isinstance(app.screen, MonitorScreen):
        return False
    monitors = {m.run_watch.run_id: m for m in app.screen.query(RunMonitor)}
    return set(monitors) == set(run_ids) and all(
        m.run_watch.version > 0 and m.rendered == m.run_watch.version for m in monitors.values())


class TestMonitorScreen:
    def test_snapshot_80x24(self, snap_compare, make_app):
        assert snap_compare(make_app(), terminal_size=(80, 24),
                            run_before=lambda pilot: _open_monitor(pilot, RUNNING, DONE))

    def test_snapshot_120x40(self, snap_compare, make_app):
        assert snap_compare(make_app(), terminal_size=(120, 40),
                            run_before=lambda pilot: _open_monitor(pilot, RUNNING))

    def test_empty_monitor_says_how_to_get_a_run(self, make_app):
        async def go():
            async with make_app().run_test(size=(80, 24)) as pilot:
                await pilot.press("3")
                await pilot.pause()
                assert isinstance(pilot.app.screen, MonitorScreen)
                assert "No run is being monitored" in str(pilot.app.screen.query_one("#empty").render())

        asyncio.run(go())

    def test_a_telemetry_flood_costs_a_few_renders_and_keys_stay_live(self, make_app):
        """2,000 telemetry events in 400 messages inside a second: the view renders on its tick
        (not per message), shows the last sample, and a key press is still handled at once."""

        async def go():
            async with make_app().run_test(size=(120, 40)) as pilot:
                app = pilot.app
                await _open_monitor(pilot, RUNNING, DONE)
                monitor = next(m for m in app.screen.query(RunMonitor) if m.run_watch.run_id == RUNNING)
                before = monitor.renders
                for i in range(400):
                    app.post_message(EventsReceived(RUNNING, [parse_event(
                        {"type": "telemetry", "seq": 10_000 + 5 * i + g, "t": 2e9 + i, "host": "gpubox", "rank": g,
                         "gpu": g, "util": float((i + g) % 100), "mem_used": 2**30 * 40, "mem_total": 2**30 * 80})
                        for g in range(5)], []))
                tabs_before = app.screen.query_one("#runs-tabs").active
                t0 = time.perf_counter()
                await pilot.press("right")
                latency = time.perf_counter() - t0
                await until(pilot, lambda: monitor.rendered == app.watches[RUNNING].version,
                            "the monitor's tick to render the flood")
                assert app.screen.query_one("#runs-tabs").active != tabs_before
                assert monitor.renders - before <= 4, f"{monitor.renders - before} renders for 400 messages"
                assert app.watches[RUNNING].devices[("gpu", "gpubox", 4)].latest["util"] == float((399 + 4) % 100)
                print(f"key press during the flood handled in {latency * 1000:.0f} ms")

        asyncio.run(go())


def test_run_outlives_the_app_is_reattached_and_stopped_after_a_yes(tmp_path, recipes_env):
    """A local run launched and followed by one app keeps running after the app quits; a new
    app re-attaches to it on start; `s` asks first (no keeps it going), yes stops it: cancelled."""
    from workbench.launch.launcher import launch
    from workbench.recipe import load_recipe
    from workbench.store.db import connect
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.confirm import ConfirmScreen

    store = tmp_path / "runs.duckdb"
    # Long enough to be stopped mid-way (the demo's 20 epochs), small enough to start quickly.
    recipe = load_recipe(DEMO_RECIPE, ["train.logging_steps=1", "launch.telemetry_interval=0.2"])
    run_dir = launch(recipe, store, command="test")
    run_id = run_dir.name

    async def first_app():
        app = WorkbenchApp(store, start_mode="monitor")
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: run_id in app.watches and app.watches[run_id].step > 0,
                        "the re-attached run's first step", timeout=600)

    async def second_app():
        app = WorkbenchApp(store, start_mode="monitor")
        async with app.run_test(size=(100, 30)) as pilot:
            await until(pilot, lambda: run_id in app.watches and app.watches[run_id].losses,
                        "the second app to re-attach", timeout=300)
            watch = app.watches[run_id]
            await until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.front() is not None,
                        "the run's tab in front")
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the stop question")
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, MonitorScreen), "the monitor again")
            assert not [w for w in app.workers if w.group == "stop"]  # no: nothing was sent
            assert watch.status == "running"
            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the stop question")
            await pilot.press("y")
            await until(pilot, lambda: watch.settled, "the stopped run to end", timeout=300)
            assert watch.status == "cancelled"
            await until(pilot, lambda: monitors_current(app, [run_id]), "the monitor to show the end")
            monitor = app.screen.query_one(RunMonitor)
            assert "cancelled" in str(monitor.query_one("#headline").render())

    asyncio.run(first_app())
    # The first app is gone; the run is not.
    with connect(store, read_only=True) as con:
        assert con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0] == "running"
    asyncio.run(second_app())
    assert q(store, "SELECT status, error FROM runs WHERE run_id = ?", [run_id])[0] == \
        ("cancelled", "cancelled by workbench stop")


def test_a_resumed_run_and_a_launch_from_the_editor_are_shown_in_front(tmp_path, demo):
    """A failed run followed in the monitor, then resumed from its detail: the monitor shows the new
    attempt (not the failed frame) and follows it to 100 % at its last step. Then, with a detail
    opened from the monitor, a launch from the editor shows the monitor with the new run in front
    (not that detail)."""
    from tests.conftest import workbench
    from tests.tui.test_runs import cursor_to, runs_ready
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.confirm import ConfirmScreen
    from workbench.tui.screens.detail import DetailScreen
    from workbench.tui.screens.editor import EditorScreen
    from workbench.tui.screens.launch import LaunchScreen

    # 120 rows: 6 steps an epoch, 18 in 3 epochs; logging every 5 steps, so step 18 is not a multiple
    text = demo.read_text()
    demo.write_text(text.replace("epochs = 20", "epochs = 3").replace("logging_steps = 10", "logging_steps = 5")
                    .replace("[data]\n", "[data]\nmax_rows = 120\n"))
    store = tmp_path / "runs.duckdb"
    killed = workbench("run", demo, "--quiet", store=store, env={"WORKBENCH_KILL_AT": "step:8"}, cwd=tmp_path)
    assert killed.returncode != 0
    (run_id,) = [r for (r,) in q(store, "SELECT run_id FROM runs WHERE status = 'failed'")]

    def front(app):
        return app.screen.front() if isinstance(app.screen, MonitorScreen) else None

    def shows(app, rid: str, status: str, info: str) -> bool:
        m = front(app)
        return (m is not None and m.run_watch is app.watches.get(rid) and m.rendered == m.run_watch.version
                and str(m.query_one("#headline").render()).startswith(status)
                and str(m.query_one("#progress-info").render()).startswith(info))

    async def go():
        app = WorkbenchApp(store, start_mode="runs")
        async with app.run_test(size=(100, 30)) as pilot:
            await runs_ready(pilot)
            await cursor_to(pilot, run_id)
            await pilot.press("m")
            await until(pilot, lambda: shows(app, run_id, "failed", "step "), "the failed run in the monitor")
            failed_watch = app.watches[run_id]
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.detail, "its detail")
            await pilot.press("R")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the resume question")
            await pilot.press("y")
            await until(pilot, lambda: app.watches.get(run_id, failed_watch) is not failed_watch,
                        "the new attempt followed", timeout=300)
            await until(pilot, lambda: app.watches[run_id].settled, "the resumed run to end", timeout=600, every=0.2)
            assert app.watches[run_id].status == "completed", app.watches[run_id].error
            await until(pilot, lambda: shows(app, run_id, "completed", "step 18/18"), "the end, at 100 %")
            assert front(app).query_one("#progress").percentage == 1.0

            await pilot.press("d")  # a detail over the monitor, then a launch from the editor elsewhere
            await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.detail, "the detail")
            await pilot.press("1")
            await until(pilot, lambda: app.screen.query("DataTable") and app.screen.query_one("DataTable").row_count,
                        "the recipe list")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, EditorScreen) and app.screen.loaded, "the editor")
            await pilot.press("ctrl+l")
            await until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.loaded, "the launch dialog")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: len(app.watches) == 2, "the launched run followed", timeout=300)
            (new_id,) = set(app.watches) - {run_id}
            await until(pilot, lambda: isinstance(app.screen, MonitorScreen), "the monitor in front")
            await until(pilot, lambda: front(app) is not None and front(app).run_watch.run_id == new_id, "the new run's tab")
            await until(pilot, lambda: app.watches[new_id].settled, "the new run to end", timeout=600, every=0.2)
            await until(pilot, lambda: shows(app, new_id, "completed", "step 18/18"), "the new run's end")

    asyncio.run(go())
