"""Compare: snapshots of a seed group, of LoRA vs full and of the Curves tab; the differing params, best values,
mean ± std of a group against the store, the per-label metric selector and the flag on runs
that did not complete."""

from __future__ import annotations

import asyncio
import statistics

from tests.tui.conftest import settled, until
from workbench.store.db import connect
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.runs import RunsScreen

LORA = "demo_encoder_multilabel-20260921-141320-a1b2"
FULL = "demo_encoder_multilabel-20260922-090000-c3d4"
SEEDS = [f"seed_sweep-20260923-100000-000{i}" for i in (1, 2, 3)]
FAILED = "encoder_multilabel-20260924-120000-dead"
RUNNING = "encoder_multilabel-20260925-080000-beef"


async def open_compare(pilot, run_ids: list[str], tab: str | None = None) -> CompareScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and pilot.app.screen.loaded, "the run list")
    pilot.app.push_screen(CompareScreen(run_ids))
    await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), "the compare screen")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.comparison is not None, "the comparison")
    if tab:
        screen.query_one("#compare-tabs").active = tab
    await settled(pilot)
    return screen


def tuned(store, run_ids, metric: str = "f1_micro") -> dict[str, float]:
    with connect(store) as con:
        return dict(con.execute(
            f"SELECT run_id, value FROM evals WHERE run_id IN ({', '.join('?' * len(run_ids))}) AND phase = 'tuned' "
            "AND label = '(all)' AND split = 'validation' AND metric = ?", [*run_ids, metric]).fetchall())


class TestCompareScreen:
    def test_snapshot_80x24_seed_group(self, snap_compare, make_app):
        assert snap_compare(make_app("runs"), terminal_size=(80, 24), run_before=lambda p: open_compare(p, SEEDS))

    def test_snapshot_120x40_lora_full_and_unfinished(self, snap_compare, make_app):
        assert snap_compare(make_app("runs"), terminal_size=(120, 40),
                            run_before=lambda p: open_compare(p, [LORA, FULL, FAILED, RUNNING], "tab-params"))

    def test_snapshot_100x30_curves(self, snap_compare, make_app):
        assert snap_compare(make_app("runs"), terminal_size=(100, 30),
                            run_before=lambda p: open_compare(p, [LORA, FULL, RUNNING], "tab-curves"))

    def test_snapshot_120x40_tune_study_sweep_tab(self, snap_compare, make_app, tmp_path):
        """A tune study (tools/sample_study.py): trials ranked with their states, importances, history."""
        from tools.sample_study import TRIALS, build_sample_study, run_id

        build_sample_study(tmp_path / "runs.duckdb")

        async def before(pilot):
            screen = await open_compare(pilot, [run_id(n) for n in range(len(TRIALS))], "tab-sweep")
            await until(pilot, lambda: screen.study, "the study read")

        assert snap_compare(make_app("runs", store=tmp_path / "runs.duckdb"), terminal_size=(120, 40),
                            run_before=before)

    def test_group_mean_std_and_best_highlighted(self, make_app, sample_store):
        vals = tuned(sample_store, SEEDS)
        mean, std = statistics.fmean(vals.values()), statistics.stdev(vals.values())
        best = max(vals, key=vals.get)

        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                screen = await open_compare(pilot, SEEDS)
                table = screen.query_one("#metrics-table")
                assert table.get_cell("f1_micro", "group:seeds-r16").plain == f"{mean:.3f} ± {std:.3f} (n=3)"
                for rid in SEEDS:
                    cell = table.get_cell("f1_micro", rid)
                    assert cell.plain == f"{vals[rid]:.3f}"
                    assert ("bold" in str(cell.style)) == (rid == best)
                # hamming_loss: lower is better, so the best is the lowest
                ham = tuned(sample_store, SEEDS, "hamming_loss")
                low = min(ham, key=ham.get)
                assert "bold" in str(table.get_cell("hamming_loss", low).style)
                assert screen.comparison.differing == ["train.seed"]
                assert screen.query_one("#params-table").get_cell("train.seed", SEEDS[2]) == "3"

        asyncio.run(go())

    def test_per_label_metric_selector_cycles(self, make_app, sample_store):
        with connect(sample_store) as con:
            recall = con.execute("SELECT value FROM evals WHERE run_id = ? AND phase = 'tuned' AND label = "
                                 "'toxicity' AND metric = 'recall' AND split = 'validation'", [LORA]).fetchone()[0]

        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                screen = await open_compare(pilot, [LORA, FULL])
                labels = screen.query_one("#labels-table")
                f1 = labels.get_cell("toxicity", LORA).plain
                await pilot.press("p")  # → precision
                await settled(pilot)
                assert screen.metric == "precision"
                assert screen.query_one("#compare-tabs").active == "tab-labels"
                await pilot.press("p")  # → recall
                await settled(pilot)
                assert screen.metric == "recall"
                cell = screen.query_one("#labels-table").get_cell("toxicity", LORA).plain
                assert cell == f"{recall:.3f}" and cell != f1
                assert "recall" in str(screen.query_one("#label-metric").render())

        asyncio.run(go())

    def test_runs_not_completed_are_flagged(self, make_app):
        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                screen = await open_compare(pilot, [LORA, FAILED, RUNNING])
                summary = str(screen.query_one("#compare-summary").render())
                assert "not completed: dead (failed), beef (running)" in summary
                table = screen.query_one("#metrics-table")
                headers = {str(c.key.value): c.label.plain for c in table.columns.values()}
                assert headers[FAILED] == "dead*" and headers[RUNNING] == "beef*" and headers[LORA] == "a1b2"
                assert table.get_cell("f1_micro", FAILED).plain == "—"

        asyncio.run(go())


def test_a_sweep_group_is_ranked_and_plotted_against_a_chosen_knob(make_app, tmp_path):
    """A 2 x 2 sweep (train.learning_rate x lora.r, one seed) in the Sweep tab: trials ranked by
    train.best_metric, `k` moves the plot to the next knob."""
    import shutil

    import duckdb

    from tests.tui.conftest import SAMPLE_ROOT
    from workbench.tui.screens.compare import CompareScreen

    store = tmp_path / "runs.duckdb"
    shutil.copy(SAMPLE_ROOT / "runs.duckdb", store)
    con = duckdb.connect(str(store))
    ids = [r for (r,) in con.execute("SELECT run_id FROM runs WHERE status = 'completed' ORDER BY run_id LIMIT 4").fetchall()]
    for rid, (lr, rank) in zip(ids, [("0.001", "8"), ("0.001", "16"), ("0.003", "8"), ("0.003", "16")]):
        con.execute("DELETE FROM params WHERE run_id = ? AND key IN ('train.learning_rate', 'lora.r', 'train.seed', "
                    "'train.best_metric', 'model.method', 'model.source', 'name', 'group')", [rid])
        con.execute("INSERT INTO params VALUES (?, 'train.learning_rate', ?), (?, 'lora.r', ?), "
                    "(?, 'train.best_metric', 'f1_micro')", [rid, lr, rid, rank, rid])
    # one sweep: its runs of one group (only one sweep's runs are ranked)
    con.execute("UPDATE runs SET group_id = 'lr-r-sweep' WHERE run_id IN (?, ?, ?, ?)", ids)
    # the last run is a full fine-tune: lora.r is no knob of it, so its trial reads "—" for lora.r
    con.execute("UPDATE runs SET method = CASE WHEN run_id = ? THEN 'full' ELSE 'lora' END WHERE run_id IN (?, ?, ?, ?)",
                [ids[3], *ids])
    f1 = dict(con.execute("SELECT run_id, value FROM evals WHERE phase = 'tuned' AND split = 'validation' AND "
                          "label = '(all)' AND metric = 'f1_micro'").fetchall())
    con.close()

    async def go():
        async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
            pilot.app.push_screen(CompareScreen(ids))
            await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen) and pilot.app.screen.comparison,
                        "the comparison")
            screen = pilot.app.screen
            r = screen.ranking
            assert r is not None and r.metric == "f1_micro" and set(r.knobs) >= {"lora.r", "train.learning_rate"}
            ranked = [t.mean for t in r.trials]
            assert ranked == sorted((f1[i] for i in ids if f1.get(i) is not None), reverse=True)
            assert [t.config["lora.r"] for t in r.trials].count("—") == 1
            assert {v for v, _m, _n in r.marginal["lora.r"]} == {"8", "16"}
            first = screen.query_one("#sweep-summary").render().plain
            await pilot.press("k")
            await until(pilot, lambda: screen.query_one("#sweep-summary").render().plain != first, "the next knob")
            assert screen.query_one("#compare-tabs").active == "tab-sweep"
            # every knob's plot draws, lora.r's with the full fine-tune as its own "—" category
            for _ in r.knobs:
                shown = screen.query_one("#sweep-summary").render().plain
                await pilot.press("k")
                await until(pilot, lambda shown=shown: screen.query_one("#sweep-summary").render().plain != shown,
                            "the next knob")
            assert screen.query_one("#trials-table").row_count == len(r.trials)

    asyncio.run(go())


def test_the_sweep_tab_says_which_trials_meet_the_targets(make_app, tmp_path):
    """Trials of runs judged against eval.targets: a targets column, `met k/n` per trial."""
    from tests.unit.test_targets import sweep_run
    from workbench.store.ingest import ingest_run

    store = tmp_path / "runs.duckdb"
    folders = [sweep_run(tmp_path / "runs", f"demo-20260101-12000{i}-000{i}", r, f1, met)
               for i, (r, f1, met) in enumerate(((4, 0.4, False), (8, 0.7, True), (8, 0.6, True)))]
    with connect(store) as con:
        for run_dir in folders:
            ingest_run(con, run_dir)

    async def go():
        async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
            screen = await open_compare(pilot, [f.name for f in folders], "tab-sweep")
            table = screen.query_one("#trials-table")
            await until(pilot, lambda: table.row_count == 2, "the trials")
            rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
            assert [row[-1] for row in rows] == ["met 2/2", "met 0/1"] and rows[0][1] == "8", rows

    asyncio.run(go())


def test_the_curves_tab_overlays_the_runs_and_m_cycles_the_metric(make_app, sample_store):
    """Curves: each run's loss from the steps table, then (m) each aggregate of the epoch evaluations,
    back to loss after the last; the plot's legend names each run."""
    runs = [LORA, FULL]
    with connect(sample_store) as con:
        loss = {rid: con.execute("SELECT step, loss FROM steps WHERE run_id = ? ORDER BY seq", [rid]).fetchall()
                for rid in runs}
        evals = [m for (m,) in con.execute(
            "SELECT metric FROM evals WHERE run_id = ? AND phase = 'epoch' AND label = '(all)' GROUP BY metric "
            "ORDER BY min(rowid)", [LORA]).fetchall()]
        f1 = {rid: con.execute("SELECT step, value FROM evals WHERE run_id = ? AND phase = 'epoch' AND split = "
                               "'validation' AND label = '(all)' AND metric = 'f1_micro' ORDER BY seq", [rid]).fetchall()
              for rid in runs}
    assert evals[0] == "f1_micro" and len(evals) == 7 and len(loss[LORA]) == 20

    def series(screen) -> dict[str, list]:
        return {c.run_id: c.points for c in screen.curves.curves}

    async def go():
        async with make_app("runs").run_test(size=(100, 30)) as pilot:
            screen = await open_compare(pilot, runs, "tab-curves")
            await until(pilot, lambda: screen.curves is not None, "the curves")
            assert screen.curves.metric == "loss" and series(screen) == loss
            legend = screen.query_one("#curves-plot").render().plain
            assert "a1b2" in legend and "c3d4" in legend
            seen = []
            for _ in range(len(evals) + 1):
                shown = screen.curves
                await pilot.press("m")
                await until(pilot, lambda shown=shown: screen.curves is not shown, "the next metric")
                seen.append(screen.curves.metric)
                assert screen.query_one("#curves-summary").render().plain.startswith(screen.curves.metric)
                if screen.curves.metric == "eval:f1_micro":
                    assert series(screen) == f1
            assert seen == [f"eval:{m}" for m in evals] + ["loss"]
            assert screen.query_one("#compare-tabs").active == "tab-curves"

    asyncio.run(go())
