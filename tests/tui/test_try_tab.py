"""The run detail's Try tab (issue 29 item 3, the app): a typed text and Enter run the tuned model and the base
model beside it in a worker, on a real tiny trained run (test_lifecycle's finished runs, trained once per
module); the answers equal the core's (actions/try_text.py) and `workbench predict --text`'s; a second try
loads nothing again; closing the screen frees the models; a run without weights says why in one line."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from tests.conftest import workbench
from tests.integration.test_lifecycle import finished, two_runs  # noqa: F401 - fixtures: two runs trained once
from tests.tui.conftest import FIXED_NOW, record_notifications, until
from tests.tui.test_detail import FAILED, open_detail
from workbench.actions.try_text import TryModels
from workbench.tui.widgets.try_pane import LOADING, TryPane

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TEXTS = ["Buy cheap watches now at example.com, 50% off", "Great food and friendly staff"]


@pytest.fixture
def app_on(recipes_env):
    """app_on(store): the app on a store of trained runs (not the sample store: its lock is not needed)."""
    from workbench.tui.app import WorkbenchApp

    def make(store):
        app = WorkbenchApp(store, clock=lambda: FIXED_NOW, follow=False, start_mode="runs")
        app.notes = record_notifications(app)
        return app

    return make


def shown(pane: TryPane, part: str) -> str:
    return str(pane.query_one(part).render())


def said(pane: TryPane) -> list[str]:
    """Every status line the pane will show, kept (a tiny model loads faster than a test looks)."""
    seen: list[str] = []
    status = pane.query_one("#try-status")
    update = status.update

    def recording(content="", **kwargs):
        seen.append(str(content))
        return update(content, **kwargs)

    status.update = recording
    return seen


def test_try_tab_answers_with_the_tuned_and_the_base_model_and_keeps_them_loaded(app_on, tmp_path, two_runs):  # noqa: F811
    run, store = two_runs[0], tmp_path / "runs.duckdb"
    expected = TryModels(store, run).try_text(TEXTS[0])  # the core, on its own models
    printed = workbench("predict", run, "--text", TEXTS[0], "--format", "json", store=store, timeout=300)
    assert printed.returncode == 0, printed.stdout + printed.stderr
    assert json.loads(printed.stdout) == expected[0].row  # the core answers as the CLI prints
    kept = []

    async def go():
        async with app_on(store).run_test(size=(120, 40)) as pilot:
            screen = await open_detail(pilot, run, "tab-try")
            pane = screen.query_one(TryPane)
            field = pane.query_one("#try-input")
            await until(pilot, lambda: field.has_focus, "the text field focused with the tab")
            statuses = said(pane)
            await pilot.press(*"Buy")  # typed as a user types
            assert field.value == "Buy"
            field.value = TEXTS[0]
            await pilot.press("enter")
            await pilot.press("end", "x")  # the field takes keys while the worker runs
            assert field.value == TEXTS[0] + "x"
            await until(pilot, lambda: shown(pane, "#try-status").startswith("answers to"), "the first answers", 300)
            assert statuses == [LOADING, f"answers to: {TEXTS[0]}"]  # the first try loaded the models
            tuned, base = shown(pane, "#try-tuned"), shown(pane, "#try-base")
            assert tuned.startswith(f"tuned ({run})") and base.startswith("base model (before tuning)")
            assert tuned.splitlines()[1:] == list(expected[0].lines)
            assert base.splitlines()[1:] == list(expected[1].lines)
            assert expected[0].row != expected[1].row  # tuning changed the scores: the columns are two models
            models = pane.models
            assert models is not None and models.loads == ["tuned", "base"]
            field.value = TEXTS[1]
            await pilot.press("enter")
            await until(pilot, lambda: f"answers to: {TEXTS[1]}" in shown(pane, "#try-status"), "the second answers")
            assert statuses[2:] == ["answering…", f"answers to: {TEXTS[1]}"]  # no loading: the models are kept
            assert pane.models is models and models.loads == ["tuned", "base"]  # loaded once each
            again = TryModels(store, run).try_text(TEXTS[1])
            assert shown(pane, "#try-tuned").splitlines()[1:] == list(again[0].lines)
            assert shown(pane, "#try-base").splitlines()[1:] == list(again[1].lines)
            kept.append(models)
            await pilot.press("escape")  # back: the screen closes, its models are freed
            await until(pilot, lambda: models.loaded == (), "the models released")

    asyncio.run(go())
    assert kept[0].loaded == ()


def test_try_tab_of_a_run_without_weights_says_why_in_one_line(app_on, tmp_path, two_runs):  # noqa: F811
    run, store = two_runs[1], tmp_path / "runs.duckdb"
    shutil.rmtree(tmp_path / "runs" / run / "adapter")

    async def go():
        async with app_on(store).run_test(size=(120, 40)) as pilot:
            screen = await open_detail(pilot, run, "tab-try")
            pane = screen.query_one(TryPane)
            pane.query_one("#try-input").value = TEXTS[0]
            await pilot.press("enter")
            await until(pilot, lambda: "no trained weights" in shown(pane, "#try-status"), "the refusal")
            assert shown(pane, "#try-status") == (f"run {run} has no trained weights to try: {tmp_path / 'runs' / run} "
                                                 "holds no adapter/ or model/ with labels.json")
            assert pane.models is None and not pane.busy and shown(pane, "#try-tuned") == ""

    asyncio.run(go())


def test_try_tab_of_a_failed_run_says_it_is_not_completed(make_app):
    async def go():
        async with make_app("runs").run_test(size=(120, 40)) as pilot:
            screen = await open_detail(pilot, FAILED, "tab-try")
            pane = screen.query_one(TryPane)
            pane.query_one("#try-input").value = "anything"
            await pilot.press("enter")
            await until(pilot, lambda: "completed run" in shown(pane, "#try-status"), "the refusal")
            assert shown(pane, "#try-status") == f"run {FAILED} is failed; trying a text needs a completed run"

    asyncio.run(go())
