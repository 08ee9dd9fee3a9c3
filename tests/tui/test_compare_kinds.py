"""The Compare screen compares what is comparable (issue 29 item 5), on the sample store with runs of two
demo recipes and a 2 x 2 sweep beside it (tests/integration/test_compare_kinds.py's comparison_store):
the Sweep tab ranks only one sweep's runs, else says in one line that ranking needs them and shows the
params that differ and the metrics side by side; mean ± std columns only over runs that differ in seed
alone."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from tests.integration.test_compare_kinds import ENCODER, FULL, HATE, LORA, SEEDS, SWEEP, SWEPT, comparison_store, tuned
from tests.tui.test_compare import open_compare
from workbench.store.db import connect


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return comparison_store(tmp_path_factory.mktemp("kinds") / "runs.duckdb")


@pytest.fixture
def make_app(store, recipes_env):
    """make_app(start_mode, store): conftest's make_app on this module's store, without its session
    sample store (built under a lock another test session may hold for minutes)."""
    from tests.tui.conftest import FIXED_NOW, record_notifications
    from workbench.tui.app import WorkbenchApp

    def make(start_mode: str = "runs", store=store):
        app = WorkbenchApp(store, clock=lambda: FIXED_NOW, follow=False, start_mode=start_mode)
        app.notes = record_notifications(app)
        return app

    return make


def texts(screen, selector: str) -> str:
    return screen.query_one(selector).render().plain


def group_columns(table) -> list[str]:
    return [str(k.value) for k in table.columns if str(k.value).startswith("group:")]


def test_two_recipes_sweep_tab_says_ranking_needs_one_sweep_and_shows_them_side_by_side(make_app, store):
    with connect(store, read_only=True) as con:
        files = dict(con.execute("SELECT run_id, value FROM params WHERE key = 'data.train_file' AND run_id IN (?, ?)",
                                 [ENCODER, HATE]).fetchall())
    f1 = tuned(store, [ENCODER, HATE], "f1_micro")

    async def go():
        async with make_app("runs", store=store).run_test(size=(100, 30)) as pilot:
            screen = await open_compare(pilot, [ENCODER, HATE], "tab-sweep")
            assert texts(screen, "#compare-summary").startswith("2 unrelated runs (not one sweep)")
            summary = texts(screen, "#sweep-summary")
            assert summary.startswith("ranking needs runs of one sweep") and "\n" not in summary, summary
            assert screen.ranking is None and not screen.query_one("#sweep-plot").display
            table = screen.query_one("#trials-table")
            assert table.display
            for rid in (ENCODER, HATE):
                assert str(table.get_cell("data.train_file", rid)) == files[rid]
                assert str(table.get_cell("f1_micro", rid)) == f"{f1[rid]:.3f}"
            params = screen.query_one("#params-table")
            keys = [str(k.value) for k in params.rows]
            assert "data.train_file" in keys and "description" not in keys and "name" not in keys
            assert group_columns(screen.query_one("#metrics-table")) == []

    asyncio.run(go())


def test_differing_learning_rates_outside_a_sweep_get_no_ranking_and_no_mean_std(make_app, store):
    async def go():
        async with make_app("runs", store=store).run_test(size=(100, 30)) as pilot:
            screen = await open_compare(pilot, [LORA, FULL], "tab-sweep")
            assert texts(screen, "#sweep-summary").startswith("ranking needs runs of one sweep")
            assert screen.ranking is None and "±" not in texts(screen, "#compare-summary")
            assert group_columns(screen.query_one("#metrics-table")) == []
            assert str(screen.query_one("#trials-table").get_cell("train.learning_rate", FULL)) == "0.0005"

    asyncio.run(go())


def test_runs_differing_in_seed_alone_get_mean_std_over_them_all(make_app, store):
    runs = [LORA, *SEEDS]  # the LoRA run is the seed group's recipe with seed 42, in no group
    vals = tuned(store, runs, "f1_micro")

    async def go():
        async with make_app("runs", store=store).run_test(size=(120, 30)) as pilot:
            screen = await open_compare(pilot, runs)
            assert texts(screen, "#compare-summary").startswith("4 runs differing in seed alone: mean ± std")
            table = screen.query_one("#metrics-table")
            assert group_columns(table) == ["group:seeds-r16", "group:these runs"]
            mean, std = statistics.fmean(vals.values()), statistics.stdev(vals.values())
            assert table.get_cell("f1_micro", "group:these runs").plain == f"{mean:.3f} ± {std:.3f} (n=4)"

    asyncio.run(go())


def test_a_sweep_is_ranked_and_its_group_gets_no_mean_std_over_learning_rates(make_app, store):
    ids = [rid for rid, _lr, _seed in SWEPT]

    async def go():
        async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
            screen = await open_compare(pilot, ids, "tab-sweep")
            summary = texts(screen, "#compare-summary")
            assert summary.startswith(f"4 runs of sweep {SWEEP}: ranked by loss"), summary
            assert f"group {SWEEP}: no mean ± std, its runs differ in train.learning_rate" in summary, summary
            assert screen.ranking is not None and screen.ranking.knobs == ["train.learning_rate"]
            assert screen.query_one("#trials-table").row_count == 2 and screen.query_one("#sweep-plot").display
            assert group_columns(screen.query_one("#metrics-table")) == []

    asyncio.run(go())
