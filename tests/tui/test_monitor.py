"""Live monitor: snapshots on fixed data, telemetry floods coalesced into few renders, and a real
local run that outlives the app, is re-attached by a new app and stopped after a confirmation."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import q
from tests.tui.conftest import SAMPLE_ROOT
from workbench.tui.messages import EventsReceived
from workbench.tui.screens.monitor import MonitorScreen, RunMonitor

RUNNING = "encoder_multilabel-20260925-080000-beef"
DONE = "demo_encoder_multilabel-20260921-141320-a1b2"


async def _open_monitor(pilot, *run_ids: str) -> None:
    app = pilot.app
    for run_id in run_ids:
        app.follow_run(run_id, SAMPLE_ROOT / "runs" / run_id)
    await pilot.press("3")
    await app.workers.wait_for_complete()
    await pilot.pause(1.2)  # two render ticks


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
                monitor = next(m for m in app.screen.query(RunMonitor) if m.watch.run_id == RUNNING)
                before = monitor.renders
                for i in range(400):
                    app.post_message(EventsReceived(RUNNING, [
                        {"type": "telemetry", "seq": 10_000 + 5 * i + g, "t": 2e9 + i, "host": "gpubox", "rank": g,
                         "gpu": g, "util": float((i + g) % 100), "mem_used": 2**30 * 40, "mem_total": 2**30 * 80}
                        for g in range(5)], []))
                tabs_before = app.screen.query_one("#runs-tabs").active
                t0 = time.perf_counter()
                await pilot.press("right")
                latency = time.perf_counter() - t0
                await pilot.pause(1.2)
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

    async def wait_until(pilot, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await pilot.pause(0.2)

    async def first_app():
        app = WorkbenchApp(store, start_mode="monitor")
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: run_id in app.watches and app.watches[run_id].step > 0, 120,
                             "the re-attached run's first step")

    async def second_app():
        app = WorkbenchApp(store, start_mode="monitor")
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_until(pilot, lambda: run_id in app.watches and app.watches[run_id].losses, 60,
                             "the second app to re-attach")
            watch = app.watches[run_id]
            await pilot.pause(0.6)
            await pilot.press("s")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await pilot.pause(1.0)
            assert watch.status == "running"
            await pilot.press("s")
            await pilot.pause()
            await pilot.press("y")
            await wait_until(pilot, lambda: watch.settled, 90, "the stopped run to end")
            assert watch.status == "cancelled"
            await pilot.pause(0.6)
            monitor = app.screen.query_one(RunMonitor)
            assert "cancelled" in str(monitor.query_one("#headline").render())

    asyncio.run(first_app())
    # The first app is gone; the run is not.
    with connect(store, read_only=True) as con:
        assert con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0] == "running"
    asyncio.run(second_app())
    assert q(store, "SELECT status, error FROM runs WHERE run_id = ?", [run_id])[0] == \
        ("cancelled", "cancelled by workbench stop")
