"""Runs browser: snapshots on the sample store; filter, sort, marks → compare, group → compare,
enter → detail, live refresh of a run ingested while the app runs, and 10,000 runs loading in a
worker with cursor keys still answered at once."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import time

from tests.tui.conftest import SAMPLE_ROOT, settled, until
from workbench.store.db import connect, runs_root
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.screens.runs import RunsScreen

LORA = "demo_encoder_multilabel-20260921-141320-a1b2"
FULL = "demo_encoder_multilabel-20260922-090000-c3d4"
SEED_RUN = "seed_sweep-20260923-100000-0002"


async def runs_ready(pilot, timeout: float = 30.0) -> RunsScreen:
    """Wait until the runs screen has its first list (the load is a thread worker)."""
    await until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and pilot.app.screen.loaded, "the run list",
                timeout=timeout)
    await settled(pilot)  # the info line's new width has reached the layout, however busy the machine
    return pilot.app.screen


def table_ids(screen: RunsScreen) -> list[str]:
    table = screen.query_one("#runs-table")
    return [row.key.value for row in table.ordered_rows]


async def filtered(pilot, screen: RunsScreen) -> None:
    """Until the table shows what the filter box holds: the box's change handled, its debounce fired."""
    box = screen.query_one("#filter")
    await until(pilot, lambda: screen.filter_text == box.value and screen._filter_timer is None, "the filter to apply")
    await pilot.pause()


async def cursor_to(pilot, run_id: str) -> None:
    table = pilot.app.screen.query_one("#runs-table")
    table.move_cursor(row=table.get_row_index(run_id))
    await pilot.pause()


class TestRunsScreen:
    def test_snapshot_80x24(self, snap_compare, make_app):
        assert snap_compare(make_app("runs"), terminal_size=(80, 24), run_before=runs_ready)

    def test_snapshot_120x40_marked_and_filtered(self, snap_compare, make_app):
        async def before(pilot):
            await runs_ready(pilot)
            await pilot.press("down", "space", "space")  # marks the 2nd and 3rd rows
            await pilot.press("slash", *"lora")
            await filtered(pilot, pilot.app.screen)
            await pilot.press("enter")

        assert snap_compare(make_app("runs"), terminal_size=(120, 40), run_before=before)

    def test_lists_every_run_with_status_metric_and_group(self, make_app, sample_ids):
        async def go():
            async with make_app("runs").run_test(size=(120, 40)) as pilot:
                screen = await runs_ready(pilot)
                assert sorted(table_ids(screen)) == sorted(sample_ids)
                assert table_ids(screen)[0] == sample_ids[-1]  # newest first
                table = screen.query_one("#runs-table")
                assert table.get_cell(LORA, "metric").plain == "0.715 +0.490"
                assert table.get_cell(LORA, "status").plain == "completed"
                assert table.get_cell(SEED_RUN, "group") == "seeds-r16"
                # the running run's time comes from the app's (fixed) clock: 15 minutes
                assert table.get_cell("encoder_multilabel-20260925-080000-beef", "time") == "14m59s"

        asyncio.run(go())

    def test_filter_narrows_and_escape_clears(self, make_app):
        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                screen = await runs_ready(pilot)
                await pilot.press("slash", *"seed")
                await filtered(pilot, screen)
                ids = table_ids(screen)
                assert len(ids) == 3 and all(i.startswith("seed_sweep") for i in ids)
                await pilot.press("enter")  # back to the table, filter kept
                await pilot.press("slash", "ctrl+a", *"slurm failed")  # every word must match
                await filtered(pilot, screen)
                assert table_ids(screen) == []
                await pilot.press("enter", "escape")  # escape on the table clears the filter
                await filtered(pilot, screen)
                assert len(table_ids(screen)) == 7

        asyncio.run(go())

    def test_sort_changes_the_first_row_and_reverses(self, make_app, sample_store):
        with connect(sample_store) as con:
            best = con.execute("SELECT run_id FROM run_summary ORDER BY tuned_f1_micro DESC NULLS LAST "
                               "LIMIT 1").fetchone()[0]
            worst = con.execute("SELECT run_id FROM run_summary WHERE tuned_f1_micro IS NOT NULL "
                                "ORDER BY tuned_f1_micro LIMIT 1").fetchone()[0]

        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                screen = await runs_ready(pilot)
                first = table_ids(screen)[0]
                await pilot.press("s")  # started → f1μ (best first)
                assert table_ids(screen)[0] == best != first
                await pilot.press("S")
                assert table_ids(screen)[0] == worst
                assert "sort f1μ ↑" in str(screen.query_one("#info").render())

        asyncio.run(go())

    def test_two_marked_runs_compare_shows_the_differing_method(self, make_app):
        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                screen = await runs_ready(pilot)
                await cursor_to(pilot, FULL)
                await pilot.press("space")  # marks FULL, cursor moves down onto LORA
                await pilot.press("space")
                assert screen.marks == {FULL, LORA}
                assert screen.query_one("#runs-table").get_cell(LORA, "mark") == "●"
                await pilot.press("c")
                await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), "the compare screen")
                compare = pilot.app.screen
                await until(pilot, lambda: compare.comparison is not None, "the comparison")
                await settled(pilot)
                params = compare.query_one("#params-table")
                assert params.get_cell("model.method", FULL) == "full"
                assert params.get_cell("model.method", LORA) == "lora"
                await pilot.press("escape")
                await until(pilot, lambda: not isinstance(pilot.app.screen, CompareScreen), "the runs screen again")
                assert pilot.app.screen is screen and screen.marks == {FULL, LORA}  # marks kept

        asyncio.run(go())

    def test_one_mark_is_not_enough_to_compare(self, make_app):
        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                await runs_ready(pilot)
                await pilot.press("space", "c")
                await settled(pilot)
                assert isinstance(pilot.app.screen, RunsScreen)

        asyncio.run(go())

    def test_g_compares_the_seed_group_with_mean_and_std(self, make_app, sample_store):
        with connect(sample_store) as con:
            vals = [v for (v,) in con.execute(
                "SELECT e.value FROM evals e JOIN runs r USING (run_id) WHERE r.group_id = 'seeds-r16' "
                "AND e.phase = 'tuned' AND e.label = '(all)' AND e.metric = 'f1_micro' "
                "AND e.split = 'validation'").fetchall()]
        assert len(vals) == 3
        expected = f"{statistics.fmean(vals):.3f} ± {statistics.stdev(vals):.3f} (n=3)"

        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                await runs_ready(pilot)
                await cursor_to(pilot, SEED_RUN)
                await pilot.press("g")
                await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), "the compare screen")
                compare = pilot.app.screen
                assert compare.run_ids == sorted(compare.run_ids) and len(compare.run_ids) == 3
                await until(pilot, lambda: compare.comparison is not None, "the comparison")
                await settled(pilot)
                summary = str(compare.query_one("#compare-summary").render())
                assert f"group seeds-r16: f1_micro {expected}" in summary
                metrics = compare.query_one("#metrics-table")
                assert metrics.get_cell("f1_micro", "group:seeds-r16").plain == expected

        asyncio.run(go())

    def test_enter_opens_the_detail_of_the_cursor_run(self, make_app):
        async def go():
            async with make_app("runs").run_test(size=(80, 24)) as pilot:
                await runs_ready(pilot)
                await cursor_to(pilot, LORA)
                await pilot.press("enter")
                await until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen), "the detail screen")
                assert pilot.app.screen.run_id == LORA

        asyncio.run(go())

    def test_a_new_run_appears_without_a_key_press(self, make_app, tmp_path):
        from tools.sample_store import T0, write_run
        from workbench.store.ingest import ingest_run

        store = tmp_path / "runs.duckdb"
        shutil.copy(SAMPLE_ROOT / "runs.duckdb", store)
        new_id = "live_probe-20260926-090000-f00d"

        async def go():
            async with make_app("runs", store=store).run_test(size=(80, 24)) as pilot:
                screen = await runs_ready(pilot)
                await cursor_to(pilot, LORA)
                await pilot.press("space")  # a mark, to see it survive the refresh
                await cursor_to(pilot, LORA)
                assert new_id not in table_ids(screen)
                run_dir = write_run(runs_root(store), new_id, start=T0 + 5 * 86_400, quality=0.9)
                with connect(store) as con:
                    ingest_run(con, run_dir)
                t0 = time.perf_counter()
                # the list re-reads the store every REFRESH_S (2 s); the bound is for a busy machine
                await until(pilot, lambda: new_id in table_ids(screen), "the new run to appear", timeout=120)
                print(f"new run shown {time.perf_counter() - t0:.2f} s after it was stored")
                assert table_ids(screen)[0] == new_id  # newest first
                assert screen.query_one("#runs-table").get_cell(new_id, "metric").plain.startswith("0.")
                assert screen.cursor_run() == LORA and screen.marks == {LORA}

        asyncio.run(go())

    def test_a_run_that_ended_unfollowed_is_shown_and_recorded_settled(self, make_app, empty_store):
        """A run started elsewhere after the app opened (its reattach never saw it), whose processes
        were then killed: the list shows it failed, and the app, a writer, records it (issue 25, item 6)."""
        from tests.integration.runs import dead_pid, register, write_run_folder

        run_id = "killed_elsewhere-20260926-090000-dead"

        async def go():
            async with make_app("runs", store=empty_store, follow=True).run_test(size=(120, 30)) as pilot:
                screen = await runs_ready(pilot)
                gone = dead_pid()
                run_dir = write_run_folder(runs_root(empty_store), run_id, end=None, pid=gone,
                                           job={"kind": "local", "pid": gone, "host": "testhost"},
                                           exit_record={"returncode": -9, "signal": "SIGKILL"})
                register(empty_store, run_dir)  # recorded queued, as a launcher does
                await until(pilot, lambda: run_id in screen.rows and screen.rows[run_id]["status"] == "failed",
                            "the run to show as failed", timeout=120)
                with connect(empty_store) as con:
                    status, error = con.execute("SELECT status, error FROM runs").fetchone()
                assert status == "failed" and "SIGKILL" in error

        asyncio.run(go())

    def test_ten_thousand_runs_load_filter_and_keys_stay_fast(self, make_app, tmp_path):
        from tools.sample_store import add_bulk_runs, build_sample_store

        store = tmp_path / "runs.duckdb"
        build_sample_store(store)
        add_bulk_runs(store, 10_000)

        async def go():
            async with make_app("runs", store=store).run_test(size=(80, 24)) as pilot:
                t0 = time.perf_counter()
                screen = await runs_ready(pilot, timeout=60)
                shown_s = time.perf_counter() - t0
                assert len(table_ids(screen)) == 10_007
                latencies = []
                for key in ("down", "down", "down", "pagedown", "down", "up", "up"):
                    t = time.perf_counter()
                    await pilot.press(key)
                    latencies.append(time.perf_counter() - t)
                median = statistics.median(latencies)
                assert screen.query_one("#runs-table").cursor_row > 3
                await pilot.press("slash", *"bulk-00012")
                await filtered(pilot, screen)
                ids = table_ids(screen)
                assert 0 < len(ids) <= 11 and all(i.startswith("bulk-00012") for i in ids)
                print(f"10,007 runs: read in {screen.load_seconds:.2f} s (worker), shown in {shown_s:.2f} s; "
                      f"cursor keys median {median * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")
                assert median < 0.5

        asyncio.run(go())


class TestRunLifecycleKeys:
    """t / n / a / delete in the runs browser, on a copy of the sample store and its run folders."""

    @staticmethod
    def own_sample(tmp_path):
        """The sample store and its run folders copied into tmp_path (the store pointed at the copies)."""
        import duckdb

        store = tmp_path / "runs.duckdb"
        shutil.copy(SAMPLE_ROOT / "runs.duckdb", store)
        shutil.copytree(SAMPLE_ROOT / "runs", tmp_path / "runs")
        con = duckdb.connect(str(store))
        con.execute("UPDATE runs SET run_dir = replace(run_dir, ?, ?)", [str(SAMPLE_ROOT), str(tmp_path)])
        con.close()
        return store

    def test_tag_note_archive_and_delete_from_the_list(self, make_app, tmp_path):
        from workbench import rundir

        store = self.own_sample(tmp_path)
        running = "encoder_multilabel-20260925-080000-beef"

        def stored(sql, params=()):
            with connect(store, read_only=True) as c:
                return c.execute(sql, list(params)).fetchall()

        async def go():
            async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
                screen = await runs_ready(pilot)
                await cursor_to(pilot, LORA)
                await pilot.press("t", *"baseline=yes", "enter")
                await until(pilot, lambda: any(n.message.startswith("tagged") for n in pilot.app.notes), "tagged")
                assert stored("SELECT key, value FROM tags WHERE run_id = ?", [LORA]) == [("baseline", "yes")]
                assert rundir.read_annotations(tmp_path / "runs" / LORA)["tags"] == {"baseline": "yes"}
                await cursor_to(pilot, LORA)
                await pilot.press("n", *"rerun at 1e-3", "enter")
                await until(pilot, lambda: stored("SELECT text FROM notes"), "the note")
                assert stored("SELECT run_id, text FROM notes") == [(LORA, "rerun at 1e-3")]

                await cursor_to(pilot, running)  # a run still going is not deleted
                await pilot.press("delete", *"yes", "enter")
                await until(pilot, lambda: any(n.title == "not done" for n in pilot.app.notes), "the refusal")
                assert "is running: stop it first" in pilot.app.notes[-1].message
                assert running in table_ids(screen) and (tmp_path / "runs" / running).is_dir()

                await cursor_to(pilot, FULL)
                await pilot.press("delete", *"no", "enter")  # anything but yes keeps it: the dialog stays
                await pilot.press("escape")
                await until(pilot, lambda: pilot.app.screen is screen, "the dialog closed")
                assert FULL in table_ids(screen)
                await pilot.press("delete", *"yes", "enter")
                await until(pilot, lambda: FULL not in table_ids(screen), "the deleted run to leave the list")
                assert not (tmp_path / "runs" / FULL).exists() and not stored("SELECT 1 FROM runs WHERE run_id = ?",
                                                                                [FULL])
                assert (tmp_path / "runs" / ".trash" / FULL).is_dir()  # `workbench rm --undo` restores it

                await cursor_to(pilot, SEED_RUN)
                await pilot.press("a", "y")  # archive asks first
                await until(pilot, lambda: SEED_RUN not in table_ids(screen), "the archived run to leave the list")
                assert stored("SELECT archived FROM runs WHERE run_id = ?", [SEED_RUN]) == [(True,)]

        asyncio.run(go())

    def test_hidden_marks_are_left_out_and_every_question_names_its_runs(self, make_app, tmp_path):
        """Two completed runs marked, the list filtered to /failed, delete on the failed run: the failed
        run goes (to the trash) and the marked runs, hidden, stay; the info line says marks are hidden.
        Delete, tag and archive each name the runs they act on before they act."""
        from workbench.tui.screens.confirm import ConfirmScreen
        from workbench.tui.screens.prompt import PromptScreen

        store = self.own_sample(tmp_path)
        failed = "encoder_multilabel-20260924-120000-dead"

        def stored(sql, params=()):
            with connect(store, read_only=True) as c:
                return c.execute(sql, list(params)).fetchall()

        def question() -> str:
            return str(pilot.app.screen.query_one("#question").render())

        async def go():
            nonlocal pilot
            async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
                screen = await runs_ready(pilot)
                for rid in (LORA, FULL):
                    await cursor_to(pilot, rid)
                    await pilot.press("space")
                assert screen.marks == {LORA, FULL}
                await pilot.press("slash", *"failed")
                await filtered(pilot, screen)
                await pilot.press("enter")
                assert table_ids(screen) == [failed]
                assert "2 marked (2 hidden by the filter: left out)" in str(screen.query_one("#info").render())

                await pilot.press("t")  # tag: the run under the cursor, named
                await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the tag question")
                assert failed in question() and LORA not in question() and FULL not in question()
                await pilot.press("escape")
                await until(pilot, lambda: pilot.app.screen is screen, "the question closed")

                await pilot.press("delete")
                await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the delete question")
                assert failed in question() and LORA not in question() and FULL not in question()
                await pilot.press(*"yes", "enter")
                await until(pilot, lambda: any("to the trash" in n.message for n in pilot.app.notes), "the delete")
                assert not stored("SELECT 1 FROM runs WHERE run_id = ?", [failed])
                assert (tmp_path / "runs" / ".trash" / failed / "run.json").is_file()
                for rid in (LORA, FULL):  # hidden, marked: untouched
                    assert (tmp_path / "runs" / rid).is_dir() and stored("SELECT 1 FROM runs WHERE run_id = ?", [rid])

                assert screen.marks == {LORA, FULL}  # the marks the delete did not act on stay
                await pilot.press("escape")  # the filter cleared: the marks are shown again
                await until(pilot, lambda: len(table_ids(screen)) == 6, "the whole list")
                await pilot.press("t")
                await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the tag question")
                assert "Tag 2 runs" in question() and LORA in question() and FULL in question()
                await pilot.press(*"baseline=yes", "enter")
                await until(pilot, lambda: stored("SELECT count(*) FROM tags")[0][0] == 2, "both tagged")
                await until(pilot, lambda: not screen.marks, "the marks acted on cleared")
                assert all(screen.query_one("#runs-table").get_cell(rid, "mark") == "" for rid in (LORA, FULL))
                assert "marked" not in str(screen.query_one("#info").render())

                for rid in (LORA, FULL):
                    await cursor_to(pilot, rid)
                    await pilot.press("space")
                await pilot.press("a")  # archive asks too, naming the runs
                await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the archive question")
                assert "Archive 2 runs" in question() and LORA in question() and FULL in question()
                await pilot.press("n")
                await until(pilot, lambda: pilot.app.screen is screen, "the question closed")
                assert stored("SELECT count(*) FROM runs WHERE archived")[0][0] == 0
                await pilot.press("a")
                await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the archive question")
                await pilot.press("y")
                await until(pilot, lambda: stored("SELECT count(*) FROM runs WHERE archived")[0][0] == 2, "archived")

        pilot = None
        asyncio.run(go())

    def test_a_question_names_ten_runs_then_how_many_more(self, make_app, tmp_path):
        from tools.sample_store import add_bulk_runs, build_sample_store
        from workbench.tui.screens.prompt import PromptScreen

        store = tmp_path / "runs.duckdb"
        build_sample_store(store)
        add_bulk_runs(store, 5)

        async def go():
            async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
                screen = await runs_ready(pilot)
                await pilot.press(*["space"] * 12)
                assert len(screen.marks) == 12
                await pilot.press("delete")
                await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the delete question")
                text = str(pilot.app.screen.query_one("#question").render())
                assert text.startswith("Delete 12 runs?") and "and 2 more" in text, text
                assert sum(rid in text for rid in table_ids(screen)) == 10
                await pilot.press("escape")

        asyncio.run(go())

    def test_gc_from_the_list_and_export_from_the_detail_run_the_actions_the_cli_runs(self, make_app, tmp_path):
        store = self.own_sample(tmp_path)
        ckpt = tmp_path / "runs" / LORA / "checkpoints" / "checkpoint-200"
        ckpt.mkdir(parents=True)
        (ckpt / "optimizer.pt").write_bytes(b"\0" * 4096)

        async def go():
            async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
                await runs_ready(pilot)
                await pilot.press("G")
                await until(pilot, lambda: any("freed" in n.message for n in pilot.app.notes), "gc's result",
                            timeout=120)
                assert "(4,096 bytes)" in next(n.message for n in pilot.app.notes if "freed" in n.message)
                assert not ckpt.parent.exists()
                await cursor_to(pilot, LORA)
                await pilot.press("enter")
                await until(pilot, lambda: isinstance(pilot.app.screen, DetailScreen) and pilot.app.screen.detail,
                            "the detail")
                await pilot.press("e")
                await until(pilot, lambda: pilot.app.screen.query("#answer"), "the export prompt")
                box = pilot.app.screen.query_one("#answer")
                box.value = str(tmp_path / "exported")
                await pilot.press("enter")
                await until(pilot, lambda: any(n.title in ("exported", "export failed") for n in pilot.app.notes),
                            "export's result", timeout=300)
                last = next(n for n in reversed(pilot.app.notes) if n.title in ("exported", "export failed"))
                # the sample run has no saved adapter: the CLI's own one-line refusal is what the app shows
                assert last.title == "export failed" and "has no saved adapter folder" in last.message, last
                assert not (tmp_path / "exported").exists()

        asyncio.run(go())
