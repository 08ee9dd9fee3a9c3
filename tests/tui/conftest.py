"""Fixtures of the TUI tests: a store of fixed sample runs at a fixed path (snapshots show run
folders and artifact paths, so the path must be the same on every machine), a fixed clock, and
the app built the way `workbench` builds it, with its configuration injected."""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from textual.worker import WorkerFailed, WorkerState

from tests.conftest import copy_encoder_demo
from tools.sample_store import T0, held_sample_store

SAMPLE_ROOT = Path("/tmp/workbench-tui-sample")
FIXED_NOW = T0 + 4 * 86_400 + 900  # 15 minutes after the sample's running run started
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sample_store():
    """Built once per session at the fixed path, held for the session (tools/sample_store.py
    held_sample_store: another session, or docs/make_screenshots.py, waits until this one ends)."""
    with held_sample_store(SAMPLE_ROOT) as store:
        yield store


@pytest.fixture
def sample_ids(sample_store) -> list[str]:
    from workbench.store.db import connect

    with connect(sample_store, read_only=True) as con:
        return [r for (r,) in con.execute("SELECT run_id FROM runs ORDER BY created_at").fetchall()]


@pytest.fixture
def recipes_env(monkeypatch):
    """The shipped recipes only (not whatever ./recipes holds)."""
    monkeypatch.setenv("WORKBENCH_RECIPES", str(ROOT / "recipes"))
    return ROOT / "recipes"


@pytest.fixture
def make_app(sample_store, recipes_env):
    """make_app(start_mode="runs", store=None): the app on the sample store, clock fixed, no followers."""
    from workbench.tui.app import WorkbenchApp

    def make(start_mode: str = "recipes", store: Path | None = None, follow: bool = False) -> WorkbenchApp:
        app = WorkbenchApp(store or sample_store, clock=lambda: FIXED_NOW, follow=follow, start_mode=start_mode)
        app.notes = record_notifications(app)
        return app

    return make


def record_notifications(app) -> list[SimpleNamespace]:
    """Every notification the app shows, as (title, message), kept: the app drops a toast after
    its timeout, which the waits of a test on a busy machine can outlast."""
    seen: list[SimpleNamespace] = []
    notify = app.notify

    def recording(message, *, title: str = "", **kwargs):
        seen.append(SimpleNamespace(title=title, message=message))
        return notify(message, title=title, **kwargs)

    app.notify = recording
    return seen


@pytest.fixture
def demo(tmp_path, monkeypatch) -> Path:
    """A user copy of recipes/demo (with its data folder); the recipes mode lists only it."""
    folder = tmp_path / "recipes"
    copy_encoder_demo(folder / "demo")
    monkeypatch.setenv("WORKBENCH_RECIPES", str(folder))
    return folder / "demo" / "encoder_multilabel.toml"


@pytest.fixture
def empty_store(tmp_path) -> Path:
    from workbench.store.db import connect

    store = tmp_path / "store" / "runs.duckdb"
    store.parent.mkdir()
    with connect(store):
        pass
    return store


async def until(pilot, predicate, what: str, timeout: float = 60.0, every: float = 0.05):
    """Wait for state, not time: let the app run until `predicate()` holds (its value is returned).
    `timeout` only bounds a failure: generous, so a busy machine is slow, never wrong."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        await pilot.pause(every)
    return value


async def workers_done(pilot, timeout: float = 60.0) -> None:
    """Until no worker is running. Not `workers.wait_for_complete()`: it raises when an exclusive
    worker is cancelled by its successor, which a periodic re-read slower than its period (a 10,000
    run list on a busy machine) does; a cancelled worker is finished, not failed."""
    await until(pilot, lambda: all(w.is_finished for w in pilot.app.workers), "the workers to finish", timeout)
    failed = [w for w in pilot.app.workers if w.state == WorkerState.ERROR]
    if failed:
        raise WorkerFailed(failed[0].error)


async def settled(pilot, timeout: float = 60.0, quiet: int = 3) -> None:
    """Wait for state, not time: until the workers are done, animations over, and the screen renders
    the same frame `quiet` times in a row (pending layouts and refreshes have landed, however busy
    the machine). `timeout` only bounds a failure."""
    await workers_done(pilot, timeout)
    await pilot.wait_for_scheduled_animations()
    last, same, t0 = None, 0, time.perf_counter()
    while same < quiet:
        assert time.perf_counter() - t0 < timeout, "the screen never settled"
        await pilot.pause()
        frame = pilot.app.export_screenshot()
        same = same + 1 if frame == last else 0
        last = frame


@pytest.fixture
def snap_compare(snap_compare):
    """pytest-textual-snapshot's snap_compare, taking its picture only once the screen has settled."""

    def compare(app, *, run_before=None, **kwargs):
        async def before(pilot):
            if run_before is not None:
                result = run_before(pilot)
                if inspect.isawaitable(result):
                    await result
            await settled(pilot)

        return snap_compare(app, run_before=before, **kwargs)

    return compare
