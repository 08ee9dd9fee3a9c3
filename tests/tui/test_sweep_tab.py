"""The Compare screen's Sweep tab on a tune study (issue 30 item 4), through Pilot on a store whose trial runs
were ingested and whose study is a real Optuna journal (tools/sample_study.py): the trials ranked by the
study's metric with each one's state, the optimization history plotted (each trial's value, the best so
far), the parameter importances; and, while a trial runs, the tab re-reads the journal until it shows the
trial completed."""

from __future__ import annotations

import asyncio

import pytest

from tests.tui.conftest import FIXED_NOW, record_notifications, until
from tests.tui.test_compare import open_compare
from tools.sample_study import GROUP, TRIALS, build_sample_study, finish_running, run_id


def make_app(store):
    from workbench.tui.app import WorkbenchApp

    app = WorkbenchApp(store, clock=lambda: FIXED_NOW, follow=False, start_mode="runs")
    app.notes = record_notifications(app)
    return app


def column(table, key: str) -> list[str]:
    return [str(table.get_cell(row, key)) for row in table.rows]


@pytest.fixture
def live_store(tmp_path, recipes_env):
    store = tmp_path / "runs.duckdb"
    build_sample_study(store, running=True)
    return store


def test_the_sweep_tab_shows_a_running_study_and_follows_it_until_its_trial_completes(live_store):
    ids = [run_id(n) for n in range(len(TRIALS) + 1)]

    async def go():
        async with make_app(live_store).run_test(size=(120, 40)) as pilot:
            screen = await open_compare(pilot, ids, "tab-sweep")
            study = await until(pilot, lambda: screen.study, "the study read")
            table = screen.query_one("#trials-table")
            assert column(table, "trial") == ["2", "0", "1", "3", "4", "5"]
            assert column(table, "status") == ["completed", "completed", "completed", "pruned", "failed", "running"]
            summary = screen.query_one("#sweep-summary").render().plain
            assert summary.startswith(f"tune study {GROUP}: 6 trials ranked by f1_macro"), summary
            assert "3 completed, 1 pruned, 1 failed, 1 running · live" in summary
            assert "parameter importances (fANOVA, seed 0) from the 3 completed trials: " in summary
            assert [n for n, _v, _b in study.history] == [0, 1, 2]
            assert [b for _n, _v, b in study.history] == [study.history[0][1], study.history[0][1],
                                                          study.history[2][1]]  # the best so far
            assert screen.query_one("#sweep-plot").display

            finish_running(live_store, 5, 0.99)  # the trial's worker tells the study its value
            await until(pilot, lambda: column(table, "status")[0] == "completed" and column(table, "trial")[0] == "5",
                        "the finished trial ranked first")
            summary = screen.query_one("#sweep-summary").render().plain
            assert "4 completed, 1 pruned, 1 failed" in summary and "live" not in summary, summary
            assert "from the 4 completed trials" in summary
            assert [n for n, _v, _b in screen.study.history] == [0, 1, 2, 5]
            assert screen.study.history[-1][2] == 0.99

    asyncio.run(go())
