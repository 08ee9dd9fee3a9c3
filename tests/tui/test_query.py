"""Query mode: snapshots after an example ran; every saved example runs on the sample store; a
typed query's row count; writes refused with one line and the store unchanged; DuckDB's errors
whole (hints, caret); ctrl+a selecting all the SQL; the result exported as a CSV equal to the
query's rows; the row cap; session history."""

from __future__ import annotations

import asyncio
import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.tui.conftest import settled, until
from workbench.store.examples import EXAMPLES, example
from workbench.tui.screens import query as query_module
from workbench.tui.screens.prompt import PromptScreen
from workbench.tui.screens.query import MAX_ROWS, QueryScreen

TABLES = ("runs", "params", "steps", "evals", "telemetry", "artifacts", "logs", "meta", "event_files")


# Statements that wrote or read outside the store before its connections were sealed (workbench/store/db.py
# SEALED); {notes} a file of the user's, {other} another database, {link} a hard link to the store.
SEALED_STATEMENTS = [
    "COPY runs TO '{notes}' (FORMAT csv)",
    "EXPORT DATABASE '{exported}'",
    "ATTACH '{other}' AS o (READ_WRITE); DROP TABLE o.kept",
    "ATTACH '{link}' AS l (READ_WRITE); DELETE FROM l.steps",
    "SELECT * FROM read_csv('{notes}')",
    "INSTALL httpfs",
    "LOAD '{extension}'",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
]


def outside_files(tmp_path: Path, store: Path) -> dict[str, str]:
    import os

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE kept AS SELECT 42 AS x")
    link = tmp_path / "link.duckdb"
    os.link(store, link)
    extension = tmp_path / "evil.duckdb_extension"
    extension.write_bytes(b"not an extension")
    return {"notes": str(notes), "other": str(other), "link": str(link), "exported": str(tmp_path / "exported"),
            "extension": str(extension)}


def assert_outside_untouched(tmp_path: Path, other: dict[str, str]) -> None:
    assert Path(other["notes"]).read_text() == "my notes\n"
    assert not Path(other["exported"]).exists()
    with duckdb.connect(other["other"], read_only=True) as con:
        assert con.execute("SELECT x FROM kept").fetchall() == [(42,)]


@pytest.fixture(autouse=True)
def plain_sql_box(monkeypatch):
    """The same rendering with or without tree-sitter installed."""
    monkeypatch.setattr(query_module, "SQL_HIGHLIGHT", False)


@pytest.fixture
def store_copy(sample_store, tmp_path) -> Path:
    """A copy of the sample store (tests that try to write, or change data, use it)."""
    store = tmp_path / "runs.duckdb"
    shutil.copy(sample_store, store)
    return store


def direct(store: Path, sql: str) -> tuple[list[str], list[tuple]]:
    with duckdb.connect(str(store), read_only=True) as con:
        cur = con.execute(sql)
        return [d[0] for d in cur.description], cur.fetchall()


def counts(store: Path) -> dict[str, int]:
    with duckdb.connect(str(store), read_only=True) as con:
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


async def settle(pilot) -> None:
    """Until the query worker finished and its message was handled (the screen settled)."""
    await settled(pilot)


async def run_example(pilot, index: int) -> None:
    """Through the keys: F2 to the list, down to the example, enter loads and runs it."""
    await pilot.press("f2", "home", *["down"] * index, "enter")
    await settle(pilot)


async def run_typed(pilot, sql: str, keys: bool = True) -> QueryScreen:
    """Into the box with the keys (select all, type over; or set as text), F5 runs it."""
    screen = pilot.app.screen
    await pilot.press("f3")
    box = screen.query_one("#sql")
    if keys:
        box.select_all()
        await pilot.press(*("enter" if c == "\n" else c for c in sql))
    else:
        box.load_text(sql)
    await pilot.press("f5")
    await settle(pilot)
    return screen


def table_rows(screen: QueryScreen) -> list[list[str]]:
    table = screen.query_one("#results")
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


class TestQueryScreen:
    def test_snapshot_80x24(self, snap_compare, make_app):
        assert snap_compare(make_app("query"), terminal_size=(80, 24),
                            run_before=lambda pilot: run_example(pilot, 0))

    def test_snapshot_120x40(self, snap_compare, make_app):
        index = next(i for i, e in enumerate(EXAMPLES) if e.name == "GPU memory peak per run")
        assert snap_compare(make_app("query"), terminal_size=(120, 40),
                            run_before=lambda pilot: run_example(pilot, index))

    def test_every_example_runs_and_returns_its_rows(self, make_app, sample_store):
        expected = {e.name: direct(sample_store, e.sql)[1] for e in EXAMPLES}

        async def go():
            async with make_app("query").run_test(size=(80, 24)) as pilot:
                screen = pilot.app.screen
                assert isinstance(screen, QueryScreen)
                for i, e in enumerate(EXAMPLES):
                    await run_example(pilot, i)
                    rows = expected[e.name]
                    assert screen.last_error is None, f"{e.name}: {screen.last_error}"
                    assert screen.status_text.startswith(f"{len(rows)} row"), (e.name, screen.status_text)
                    assert screen.query_one("#results").row_count == len(rows), e.name
                    assert e.sql in screen.query_one("#sql").text
                    if e.name != "labels where tuning hurt":  # tuning helps every label of the sample
                        assert rows, f"{e.name} returns no row on the sample store"

        asyncio.run(go())

    def test_labels_where_tuning_hurt_lists_a_label_that_got_worse(self, make_app, store_copy):
        run = "seed_sweep-20260923-100000-0002"
        with duckdb.connect(str(store_copy)) as con:
            con.execute("UPDATE evals SET value = 0.01 WHERE run_id = ? AND phase = 'tuned' AND label = 'toxicity' "
                        "AND metric = 'f1'", [run])

        async def go():
            async with make_app("query", store=store_copy).run_test(size=(120, 40)) as pilot:
                await run_example(pilot, EXAMPLES.index(example("labels where tuning hurt")))
                screen = pilot.app.screen
                assert screen.status_text.startswith("1 row")
                assert table_rows(screen)[0][:4] == [run, "validation", "toxicity", "f1"]

        asyncio.run(go())

    def test_a_typed_query_shows_its_row_count(self, make_app, sample_store):
        sql = "SELECT run_id, step, loss FROM steps WHERE run_id LIKE 'seed%' AND step > 50"
        _, rows = direct(sample_store, sql)
        assert 10 < len(rows) < MAX_ROWS

        async def go():
            async with make_app("query").run_test(size=(80, 24)) as pilot:
                screen = await run_typed(pilot, sql)
                assert screen.query_one("#sql").text == sql
                assert screen.status_text.startswith(f"{len(rows)} rows")
                shown = table_rows(screen)
                assert len(shown) == len(rows)
                assert shown[0] == [rows[0][0], str(rows[0][1]), f"{rows[0][2]:.3f}"]
                # typing q and digits in the box types them: no quit, no mode switch
                await pilot.press("f3", "end", "q", "1")
                await pilot.pause()
                assert pilot.app.screen is screen and screen.query_one("#sql").text.endswith("q1")

        asyncio.run(go())

    @pytest.mark.parametrize("sql, word", [
        ("DELETE FROM runs", "DELETE"),
        ("DROP TABLE runs", "DROP"),
        ("COPY runs TO 'copied.csv'", "COPY"),
        ("SELECT 1; DELETE FROM logs", "DELETE"),
        ("WITH gone AS (DELETE FROM runs RETURNING *) SELECT count(*) FROM gone", "DELETE"),
        ("EXPLAIN ANALYZE DELETE FROM steps", "DELETE"),
        ("EXPLAIN (ANALYZE) UPDATE runs SET status = 'x'", "UPDATE"),
    ])
    def test_writes_are_refused_with_one_line_and_the_store_is_unchanged(self, make_app, store_copy, tmp_path,
                                                                         monkeypatch, sql, word):
        monkeypatch.chdir(tmp_path)
        before = counts(store_copy)
        assert before["runs"] == 7 and before["steps"] > 0

        async def go():
            async with make_app("query", store=store_copy).run_test(size=(80, 24)) as pilot:
                screen = await run_typed(pilot, sql, keys=False)
                assert screen.last_error is not None
                assert screen.status_text == screen.last_error
                assert "only reading queries run here" in screen.last_error and word in screen.last_error
                assert "\n" not in screen.status_text
                assert screen.query_one("#results").row_count == 0
                assert screen.result_sql is None

        asyncio.run(go())
        assert counts(store_copy) == before
        assert not (tmp_path / "copied.csv").exists()

    @pytest.mark.parametrize("reader", ["read_csv('{p}')", "read_text('{p}')", "glob('{p}')"])
    def test_no_file_outside_the_store_is_read(self, make_app, store_copy, tmp_path, reader):
        secret = tmp_path / "shadow.csv"
        secret.write_text("user,hash\nroot,s3cret\n")

        async def go():
            async with make_app("query", store=store_copy).run_test(size=(120, 40)) as pilot:
                screen = await run_typed(pilot, f"SELECT * FROM {reader.format(p=secret)}", keys=False)
                assert screen.last_error is not None and "disabled by configuration" in screen.last_error
                assert screen.query_one("#results").row_count == 0
                assert "s3cret" not in screen.status_text

        asyncio.run(go())

    @pytest.mark.parametrize("sql", SEALED_STATEMENTS)
    def test_statements_outside_the_store_are_refused(self, make_app, store_copy, tmp_path, monkeypatch, sql):
        monkeypatch.chdir(tmp_path)
        other = outside_files(tmp_path, store_copy)
        before = counts(store_copy)

        async def go():
            async with make_app("query", store=store_copy).run_test(size=(120, 40)) as pilot:
                screen = await run_typed(pilot, sql.format(**other), keys=False)
                assert screen.last_error is not None
                assert screen.query_one("#results").row_count == 0

        asyncio.run(go())
        assert counts(store_copy) == before
        assert_outside_untouched(tmp_path, other)

    @pytest.mark.parametrize("sql, start, hint, word", [
        ("SELEC run_id FROM runs", 'query failed: Parser Error: syntax error at or near "SELEC"', None, "SELEC"),
        ("SELECT nope FROM runs\nWHERE 1 = 1", "query failed: Binder Error: Referenced column \"nope\" not found",
         "Candidate bindings: ", "nope"),
        ("SELECT * FROM no_such_table", "query failed: Catalog Error: Table with name no_such_table does not exist",
         None, "no_such_table"),
        ("SELECT statuss FROM runs", "query failed: Binder Error: Referenced column \"statuss\" not found",
         'Candidate bindings: "status"', "statuss"),
        ("SELECT * FROM run_summar", "query failed: Catalog Error: Table with name run_summar does not exist",
         'Did you mean "run_summary"?', "run_summar"),
    ])
    def test_an_error_shows_duckdbs_whole_message(self, make_app, sql, start, hint, word):
        """DuckDB's hints and its caret line show, every line of them on screen (the status area
        grows to hold them), the caret exactly under the fault."""
        async def go():
            async with make_app("query").run_test(size=(80, 24)) as pilot:
                screen = await run_typed(pilot, sql)
                lines = screen.status_text.split("\n")
                assert screen.status_text == screen.last_error
                assert lines[0].startswith(start), screen.status_text
                assert "Traceback" not in screen.status_text and "" not in lines
                if hint is not None:
                    assert any(line.startswith(hint) for line in lines[1:]), lines
                at = next(i for i, line in enumerate(lines) if line.startswith("LINE "))
                assert lines[at + 1] == " " * lines[at].index(word) + "^" * len(word), lines
                status = screen.query_one("#query-status")
                assert status.has_class("error-text")
                # what the screen shows: every line (the status area grows to hold them; a long one
                # wraps), the LINE row unwrapped and the caret row under it, the caret under the word
                assert status.region.height >= len(lines)
                shown = [status.render_line(y).text.rstrip() for y in range(status.region.height)]
                assert " ".join(" ".join(shown).split()) == " ".join(" ".join(lines).split())
                row = shown.index(lines[at].strip())
                assert shown[row + 1] == " " * shown[row].index(word) + "^" * len(word), shown
                # a good query again: the status area is one line again
                await run_typed(pilot, "SELECT 1 AS one")
                assert screen.last_error is None and screen.status_text.startswith("1 row")
                await until(pilot, lambda: status.region.height == 1, "the status area back to one line")

        asyncio.run(go())

    def test_ctrl_a_selects_all_the_sql(self, make_app):
        """ctrl+a in the SQL box selects all (as in every editor; F7 too), the footer says so, and
        what is typed next replaces the whole query."""
        async def go():
            async with make_app("query").run_test(size=(100, 24)) as pilot:
                screen = pilot.app.screen
                box = screen.query_one("#sql")
                await pilot.press("f3")
                box.load_text("SELECT 1\nFROM runs")
                box.move_cursor((1, 4))
                await pilot.press("ctrl+a")
                assert box.selected_text == "SELECT 1\nFROM runs"
                await pilot.press("2")
                assert box.text == "2"
                box.load_text("SELECT 3")
                box.move_cursor((0, 3))
                await pilot.press("f7")
                assert box.selected_text == "SELECT 3"
                # the footer shows it while the box has the focus
                assert screen.active_bindings["ctrl+a"].binding.description == "Select all"
                await until(pilot, lambda: any(k.description == "Select all" for k in screen.query("FooterKey")),
                            "the footer to show ctrl+a Select all")
                key = next(k for k in screen.query("FooterKey") if k.description == "Select all")
                assert key.key == "ctrl+a"
                # elsewhere ctrl+a is not the box's
                await pilot.press("f2")
                await until(pilot, lambda: not any(k.description == "Select all" for k in screen.query("FooterKey")),
                            "the footer to drop Select all")

        asyncio.run(go())

    def test_export_writes_a_csv_equal_to_the_rows(self, make_app, sample_store, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        e = example("runs, newest first")
        columns, rows = direct(sample_store, e.sql)

        async def go():
            async with make_app("query").run_test(size=(80, 24)) as pilot:
                app = pilot.app
                await run_example(pilot, EXAMPLES.index(e))
                await pilot.press("ctrl+e")
                await pilot.pause()
                assert isinstance(app.screen, PromptScreen)
                assert app.screen.query_one("#answer").value == str(tmp_path / "query-results.csv")
                await pilot.press("enter")  # the default path
                await settle(pilot)
                assert isinstance(app.screen, QueryScreen)
                notes = [n.message for n in app.notes]
                assert f"{len(rows)} rows written to {tmp_path / 'query-results.csv'}" in notes
                # a second export offers a fresh name, and refuses to overwrite the first file
                await pilot.press("ctrl+e")
                await pilot.pause()
                answer = app.screen.query_one("#answer")
                assert answer.value == str(tmp_path / "query-results-2.csv")
                answer.value = "query-results.csv"
                await pilot.press("enter")
                await pilot.pause()
                assert isinstance(app.screen, PromptScreen)
                assert "exists" in str(app.screen.query_one("#problem").render())
                await pilot.press("escape")

        asyncio.run(go())
        with open(tmp_path / "query-results.csv", newline="", encoding="utf-8") as f:
            got = list(csv.reader(f))
        assert got[0] == columns
        assert got[1:] == [["" if v is None else str(v) for v in r] for r in rows]
        assert not (tmp_path / "query-results-2.csv").exists()

    def test_a_large_result_shows_the_first_rows_and_exports_all(self, make_app, tmp_path):
        n = MAX_ROWS + 2_345

        async def go():
            async with make_app("query").run_test(size=(80, 24)) as pilot:
                screen = await run_typed(pilot, f"SELECT range AS i, range * 2 AS j FROM range({n})", keys=False)
                assert screen.status_text.startswith(f"{n:,} rows  (first {MAX_ROWS:,} shown")
                assert screen.query_one("#results").row_count == MAX_ROWS
                await pilot.press("ctrl+e")
                await pilot.pause()
                pilot.app.screen.query_one("#answer").value = str(tmp_path / "all.csv")
                await pilot.press("enter")
                await settle(pilot)

        asyncio.run(go())
        with open(tmp_path / "all.csv", newline="") as f:
            got = list(csv.reader(f))
        assert len(got) == n + 1 and got[-1] == [str(n - 1), str(2 * (n - 1))]

    def test_history_brings_back_earlier_queries(self, make_app):
        async def go():
            async with make_app("query").run_test(size=(80, 24)) as pilot:
                screen = await run_typed(pilot, "SELECT 1 AS a")
                await run_typed(pilot, "SELECT 2 AS b")
                box = screen.query_one("#sql")
                await pilot.press("ctrl+up")
                assert box.text == "SELECT 2 AS b"
                await pilot.press("ctrl+up")
                assert box.text == "SELECT 1 AS a"
                await pilot.press("ctrl+down")
                assert box.text == "SELECT 2 AS b"
                await pilot.press("f5")
                await settle(pilot)
                assert table_rows(screen) == [["2"]]

        asyncio.run(go())

    def test_every_action_has_a_described_binding_for_the_palette(self):
        actions = {name[len("action_"):] for name in vars(QueryScreen) if name.startswith("action_")}
        bound = {b.action.split("(")[0]: b for b in QueryScreen.BINDINGS}
        assert actions <= set(bound)
        assert all(b.description and b.tooltip for b in QueryScreen.BINDINGS)


def test_every_example_query_orders_its_rows_completely():
    """Saved examples end in a tie-breaker: equal values (six runs of 52 s) in hash order would
    reorder the results from one run to the next (and flip snapshots)."""
    from workbench.store.examples import EXAMPLES

    for e in EXAMPLES:
        order = e.sql.upper().rsplit("ORDER BY", 1)[-1]
        assert "," in order, f"{e.name}: ORDER BY without a tie-breaker"


@pytest.mark.parametrize("sql", SEALED_STATEMENTS)
def test_the_apps_connection_itself_refuses_what_reaches_outside_the_store(store_copy, tmp_path, monkeypatch, sql):
    """The second line of defence: a statement past the app's reading-only check (which refuses these by
    kind already) still cannot reach a file through the app's connection (its StoreGate)."""
    from workbench.tui.store_gate import StoreGate

    monkeypatch.chdir(tmp_path)
    other = outside_files(tmp_path, store_copy)
    before = counts(store_copy)
    with StoreGate(store_copy).connect() as con:
        with pytest.raises(duckdb.Error, match="disabled|locked"):
            for statement in duckdb.extract_statements(sql.format(**other)):
                con.execute(statement.query)
    assert counts(store_copy) == before
    assert_outside_untouched(tmp_path, other)
