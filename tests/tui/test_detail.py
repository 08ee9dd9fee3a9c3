"""Run detail: snapshots of a completed LoRA run and a failed run; base vs tuned shows every
label's f1 improved (green, positive delta); the failed run opens on its error; tabs and the
back key."""

from __future__ import annotations

import asyncio

from tests.tui.conftest import settled, until
from tools.sample_store import LABELS
from workbench.store.db import connect
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.screens.runs import RunsScreen

LORA = "demo_encoder_multilabel-20260921-141320-a1b2"
FAILED = "encoder_multilabel-20260924-120000-dead"
RUNNING = "encoder_multilabel-20260925-080000-beef"


async def open_detail(pilot, run_id: str, tab: str | None = None) -> DetailScreen:
    """From the runs mode, as a user would get there (the screen is pushed), data loaded."""
    await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and pilot.app.screen.loaded, "the run list")
    pilot.app.push_screen(DetailScreen(run_id))
    await until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), "the detail screen")
    screen = pilot.app.screen
    await until(pilot, lambda: screen.detail is not None, "the run's detail")
    if tab:
        screen.query_one("#detail-tabs").active = tab
    await settled(pilot)
    return screen


class TestDetailScreen:
    def test_snapshot_80x24_metrics(self, snap_compare, make_app):
        assert snap_compare(make_app("runs"), terminal_size=(80, 24), run_before=lambda p: open_detail(p, LORA))

    def test_snapshot_80x24_base_vs_tuned(self, snap_compare, make_app):
        assert snap_compare(make_app("runs"), terminal_size=(80, 24),
                            run_before=lambda p: open_detail(p, LORA, "tab-diff"))

    def test_snapshot_120x40_failed_run(self, snap_compare, make_app):
        assert snap_compare(make_app("runs"), terminal_size=(120, 40), run_before=lambda p: open_detail(p, FAILED))

    def test_snapshot_120x40_telemetry(self, snap_compare, make_app):
        assert snap_compare(make_app("runs"), terminal_size=(120, 40),
                            run_before=lambda p: open_detail(p, LORA, "tab-telemetry"))

    def test_base_vs_tuned_shows_a_positive_f1_delta_on_every_label(self, make_app, sample_store):
        with connect(sample_store) as con:
            expected = dict(con.execute("SELECT label, tuned - base FROM base_vs_tuned WHERE run_id = ? "
                                        "AND metric = 'f1' AND label <> '(all)'", [LORA]).fetchall())
        assert set(expected) == set(LABELS)

        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                screen = await open_detail(pilot, LORA)
                table = screen.query_one("#diff-table")
                for label in LABELS:
                    cell = table.get_cell(f"{label}|f1", "Δ")
                    assert cell.plain.startswith("+") and float(cell.plain) > 0, (label, cell.plain)
                    assert abs(float(cell.plain) - expected[label]) < 1e-3
                    assert "green" in str(cell.style)  # better: green
                    assert table.get_cell(f"{label}|f1", "tuned").plain != table.get_cell(f"{label}|f1", "base").plain
                # aggregates follow the labels, hamming_loss went down (better): its delta is negative and green
                ham = table.get_cell("(all)|hamming_loss", "Δ")
                assert float(ham.plain) < 0 and "green" in str(ham.style)
                # the metrics tab: tuned per-label values as stored
                metrics = screen.query_one("#label-metrics")
                assert metrics.row_count == len(LABELS)
                assert metrics.get_cell("advertisement", "f1").plain == "0.810"
                assert "f1_micro 0.715" in str(screen.query_one("#aggregates").render())
                header = str(screen.query_one("#detail-header").render())
                assert "trainable 167.43k of 1.41M (11.85 %)" in header and "duration 52s" in header

        asyncio.run(go())

    def test_a_single_label_run_shows_its_confusion_matrix(self, make_app, sample_store, tmp_path):
        import shutil

        store = tmp_path / "runs.duckdb"
        shutil.copy(sample_store, store)
        cells = {("hate", "hate"): 40, ("hate", "neither"): 7, ("neither", "hate"): 3, ("neither", "neither"): 50}
        with connect(store) as con:
            for (gold, predicted), n in cells.items():
                con.execute("INSERT INTO confusion VALUES (?, 99, 'tuned', 'validation', ?, ?, ?)",
                            [LORA, gold, predicted, n])

        async def go():
            async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
                screen = await open_detail(pilot, LORA, tab="tab-metrics")
                text = str(screen.query_one("#task-sections").render())
                assert "confusion matrix (validation), tuned: rows gold, columns predicted" in text
                rows = {line.split()[0]: [int(x) for x in line.split()[1:]] for line in text.splitlines()[2:]}
                assert rows == {"hate": [40, 7], "neither": [3, 50]}

        asyncio.run(go())

    def test_the_label_prior_sits_under_the_tuned_aggregates(self, make_app, sample_store, tmp_path):
        import shutil

        store = tmp_path / "runs.duckdb"
        shutil.copy(sample_store, store)
        with connect(store) as con:
            for metric, value in (("f1_micro", 0.2), ("loss", 0.45)):
                con.execute("INSERT INTO evals (run_id, seq, phase, split, label, metric, value) VALUES "
                            "(?, 99, 'prior', 'validation', '(all)', ?, ?)", [LORA, metric, value])

        async def go():
            async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
                screen = await open_detail(pilot, LORA, tab="tab-metrics")
                text = str(screen.query_one("#aggregates").render())
                prior = next(line for line in text.splitlines() if line.startswith("label prior"))
                assert "f1_micro 0.200" in prior and "loss 0.450" in prior and "f1_micro 0.715" in text

        asyncio.run(go())

    def test_a_run_with_fairness_shows_rates_and_bias_aucs_base_to_tuned(self, make_app, sample_store, tmp_path):
        """Per group column and group: FPR / FNR and the bias AUCs base → tuned, the group over a limit
        in red, an AUC short of examples as its reason, the final score under it."""
        import shutil

        store = tmp_path / "runs.duckdb"
        shutil.copy(sample_store, store)
        with connect(store) as con:
            for phase, fpr, auc in (("base", 0.5, 0.55), ("tuned", 0.25, 0.8)):
                con.execute("INSERT INTO fairness VALUES (?, 99, ?, 'validation', 'black', 60, 40, 10, ?, 0.2, ?, "
                            "'race', 'toxic', 20, 2, 0.1, 0.5, ?, ?, ?, NULL)",
                            [LORA, phase, fpr, fpr > 0.2, auc, auc - 0.1, auc + 0.1])
                con.execute("INSERT INTO fairness VALUES (?, 99, ?, 'validation', 'a', 12, 9, 1, 0.111, 0.2, false, "
                            "'faith', 'toxic', 3, 0, 0.0, 0.5, NULL, NULL, NULL, 'bnsp_auc: 3 positives in the group "
                            "(needs 10); bpsn_auc: 9 negatives in the group (needs 10); subgroup_auc: 9 negatives in "
                            "the group and 3 positives in the group (needs 10)')", [LORA, phase])
                con.execute("INSERT INTO evals (run_id, seq, phase, split, label, metric, value) VALUES "
                            "(?, 99, ?, 'validation', 'toxic', 'bias_final_score', ?)", [LORA, phase, auc])

        async def go():
            async with make_app("runs", store=store).run_test(size=(160, 40)) as pilot:
                screen = await open_detail(pilot, LORA, tab="tab-metrics")
                text = str(screen.query_one("#task-sections").render())
                lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ")}
                black = lines["race:black"]
                assert "FPR 0.500 → 0.250 (0.200)" in black and "FNR — → 0.100" not in black
                assert "0.550 → 0.800 / 0.450 → 0.700 / 0.650 → 0.900" in black and "over a limit" in black
                assert "9 neg < 10 / 3 pos < 10" in lines["faith:a"] and "over a limit" not in lines["faith:a"]
                assert "toxic: final score 0.550 → 0.800" in text

        asyncio.run(go())

    def test_a_run_of_many_classes_shows_its_largest_errors_not_a_column_per_class(self, make_app, sample_store,
                                                                                   tmp_path):
        import shutil

        store = tmp_path / "runs.duckdb"
        shutil.copy(sample_store, store)
        cells = [(f"c{i:03d}", f"c{i:03d}", 2) for i in range(40)] + [("c031", "c002", 5), ("c017", "c030", 3)]
        with connect(store) as con:
            for gold, predicted, n in cells:
                con.execute("INSERT INTO confusion VALUES (?, 99, 'tuned', 'validation', ?, ?, ?)",
                            [LORA, gold, predicted, n])

        async def go():
            async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
                screen = await open_detail(pilot, LORA, tab="tab-metrics")
                text = str(screen.query_one("#task-sections").render())
                assert "confusion matrix (validation), tuned: 40 classes, 80 of 88 right; the 2 largest errors" in text
                assert [line.split() for line in text.splitlines()[1:3]] == [["c031", "→", "c002", "5"],
                                                                             ["c017", "→", "c030", "3"]]

        asyncio.run(go())

    def test_failed_run_opens_on_its_error(self, make_app):
        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                screen = await open_detail(pilot, FAILED)
                assert "RuntimeError: CUDA out of memory" in str(screen.query_one("#detail-header").render())
                assert screen.query_one("#detail-tabs").active == "tab-log"
                assert "RuntimeError: CUDA out of memory" in str(screen.query_one("#error").render())
                assert "error" in str(screen.query_one("#log-tail").render())
                await pilot.press("escape")
                await pilot.pause()
                assert isinstance(pilot.app.screen, RunsScreen)

        asyncio.run(go())

    def test_running_run_duration_from_the_clock_and_tabs_cycle(self, make_app):
        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                screen = await open_detail(pilot, RUNNING)
                header = str(screen.query_one("#detail-header").render())
                assert "duration 14m59s" in header and "running" in header
                tabs = screen.query_one("#detail-tabs")
                assert tabs.active == "tab-telemetry"  # no metrics yet: what it is doing
                await pilot.press("right_square_bracket")
                assert tabs.active == "tab-artifacts"
                await pilot.press("left_square_bracket", "left_square_bracket")
                assert tabs.active == "tab-params"
                params = screen.query_one("#params-table")
                assert params.get_cell("lora.r", "value") == "32"

        asyncio.run(go())

    def test_resume_asks_first_and_refuses_a_completed_run(self, make_app, sample_store):
        from workbench.tui.screens.confirm import ConfirmScreen

        async def go():
            async with make_app("runs").run_test(size=(120, 40)) as pilot:
                screen = await open_detail(pilot, LORA)
                await pilot.press("R")
                await settled(pilot)
                assert pilot.app.screen is screen  # no question for a completed run: a note says why
                notes = [n.message for n in pilot.app.notes]
                assert any("is completed: only a failed, interrupted or cancelled run can be resumed" in n
                           for n in notes), notes
                pilot.app.pop_screen()
                await pilot.pause()
                await open_detail(pilot, FAILED)
                await pilot.press("R")
                await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the resume question")
                assert "Resume run " + FAILED in str(pilot.app.screen.query_one("#question").render())
                await pilot.press("n")
                await until(pilot, lambda: not isinstance(pilot.app.screen, ConfirmScreen), "the question to close")
                await settled(pilot)
                assert isinstance(pilot.app.screen, DetailScreen)

        asyncio.run(go())
        with connect(sample_store, read_only=True) as con:
            assert con.execute("SELECT status FROM runs WHERE run_id = ?", [FAILED]).fetchone()[0] == "failed"


def test_keys_after_down_reach_the_detail_not_the_split_selector(make_app):
    """Down then m opens the monitor at once: the split selector no longer holds the focus (Down
    opened its list, and m went into it)."""
    from tests.tui.test_runs import LORA, cursor_to, runs_ready
    from workbench.tui.screens.monitor import MonitorScreen

    async def go():
        async with make_app("runs").run_test(size=(120, 40)) as pilot:
            await runs_ready(pilot)
            await cursor_to(pilot, LORA)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen) and pilot.app.screen.detail, "detail")
            await settled(pilot)
            await pilot.press("down", "m")
            await until(pilot, lambda: isinstance(pilot.app.screen, MonitorScreen), "the monitor")
            assert pilot.app.current_mode == "monitor"

    asyncio.run(go())


def test_a_run_whose_event_file_was_read_again_says_so_in_its_header(make_app, tmp_path):
    """Truncated mid-run, then ingested: the detail's header carries ingestion's note (a line of its own)."""
    from tests.conftest import DEMO_RECIPE
    from tests.unit.test_event_file_changes import RUN, lines_of, steps
    from tests.unit.test_store import make_run
    from workbench.rundir import events_file
    from workbench.store.ingest import ingest_run

    store = tmp_path / "runs.duckdb"
    run_dir = make_run(tmp_path / "runs", RUN, DEMO_RECIPE, end=None)
    path = events_file(run_dir)
    with open(path, "ab") as f:
        f.write(steps(9, 40, first_step=31))
    with connect(store) as con:
        ingest_run(con, run_dir)
    path.write_bytes(b"".join(lines_of(path)[:4]) + steps(49, 2, first_step=71))
    with connect(store) as con:
        (note,) = ingest_run(con, run_dir).notes
    assert note.startswith("events.jsonl shrank to ")

    async def go():
        async with make_app("runs", store=store).run_test(size=(160, 40)) as pilot:
            screen = await open_detail(pilot, RUN)
            header = str(screen.query_one("#detail-header").render())
            assert f"\n⚠ record {note}" in header, header

    asyncio.run(go())


def test_a_run_judged_against_targets_shows_them_in_its_detail_and_mark(make_app, tmp_path):
    """eval.targets judged (a `targets` event): the detail lists each target met / not met, the header's
    status and the runs list carry T✗ (one missed)."""
    from tests.unit.test_targets import sweep_run
    from workbench.store.ingest import ingest_run

    store = tmp_path / "runs.duckdb"
    run_dir = sweep_run(tmp_path / "runs", "demo-20260101-120000-00aa", 8, 0.4, False)
    with connect(store) as con:
        ingest_run(con, run_dir)

    async def go():
        async with make_app("runs", store=store).run_test(size=(160, 40)) as pilot:
            screen = await open_detail(pilot, run_dir.name)
            shown = str(screen.query_one("#aggregates").render())
            assert "targets" in shown and "f1_macro 0.4000 vs 0.5000 (validation) not met" in shown, shown
            assert "T✗" in str(screen.query_one("#detail-header").render())

    asyncio.run(go())
