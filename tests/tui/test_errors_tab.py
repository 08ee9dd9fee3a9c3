"""The run detail's Errors tab (issue 29 item 1): the rows `workbench errors` lists, read by a worker from
the run folder's prediction files, most confident first; a confusion cell chosen shows its examples; a
run without prediction files says so in one line."""

from __future__ import annotations

import asyncio
import json

from tests.tui.conftest import until
from tests.tui.test_detail import open_detail
from tools.sample_store import T0, write_run
from workbench.store.db import connect, runs_root
from workbench.store.ingest import ingest_run
from workbench.tui.widgets.errors_pane import ErrorsPane

RUN = "three-20260921-141320-e001"
BARE = "three-20260921-141320-e002"
# (line, text, gold, predicted, scores of a, b, c): four mistakes, two in cell a → b
ROWS = [(2, "first", "a", "b", (0.3, 0.6, 0.1)),
        (3, "second", "a", "a", (0.8, 0.1, 0.1)),
        (4, "third", "a", "b", (0.05, 0.9, 0.05)),
        (5, "fourth", "c", "a", (0.5, 0.2, 0.3)),
        (6, "fifth", "b", "c", (0.2, 0.1, 0.7))]


def store_with_predictions(tmp_path):
    store = tmp_path / "runs.duckdb"
    root = runs_root(store)
    folder = write_run(root, RUN, start=T0)
    write_run(root, BARE, start=T0 + 60)
    with open(folder / "predictions_tuned_validation.jsonl", "w", encoding="utf-8") as f:
        for line, text, gold, pred, scores in ROWS:
            f.write(json.dumps({"line": line, "text": text, "scores": dict(zip("abc", scores)), "predicted": pred,
                                "label": gold}) + "\n")
    for run_dir in (folder, root / BARE):
        with connect(store) as con:
            ingest_run(con, run_dir)
    return store


def table_lines(pane: ErrorsPane) -> list[int]:
    table = pane.query_one("#errors-table")
    return [int(table.get_row_at(i)[0]) for i in range(table.row_count)]


def test_errors_tab_lists_the_mistakes_most_confident_first_and_a_cell_its_examples(make_app, tmp_path):
    store = store_with_predictions(tmp_path)

    async def go():
        async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
            screen = await open_detail(pilot, RUN, "tab-errors")
            pane = screen.query_one(ErrorsPane)
            await until(pilot, lambda: pane.query_one("#errors-table").row_count == 4, "the mistakes")
            # confidence: the wrong class's score, highest first: third .9, fifth .7, first .6, fourth .5
            assert table_lines(pane) == [4, 6, 2, 5]
            table = pane.query_one("#errors-table")
            assert [str(c.label) for c in table.columns.values()][:5] == ["line", "text", "gold", "predicted",
                                                                         "confidence"]
            assert "4 mistakes of the tuned model of 5 examples" in str(pane.query_one("#errors-summary").render())
            pane.choose_cell("a", "b")
            await until(pilot, lambda: table_lines(pane) == [4, 2], "cell a → b's examples")
            assert "in cell a → b" in str(pane.query_one("#errors-summary").render())
            pane.query_one("#errors-cell").clear()
            await until(pilot, lambda: table_lines(pane) == [4, 6, 2, 5], "every mistake again")
            pane.query_one("#errors-which").value = "fixed"  # what tuning fixed needs the base model's predictions
            summary = pane.query_one("#errors-summary")
            await until(pilot, lambda: f"run {RUN} has no base prediction files" in str(summary.render()),
                        "the refusal for want of base predictions")
            assert pane.query_one("#errors-table").row_count == 0

    asyncio.run(go())


def test_errors_tab_of_a_run_without_predictions_says_so(make_app, tmp_path):
    store = store_with_predictions(tmp_path)

    async def go():
        async with make_app("runs", store=store).run_test(size=(120, 40)) as pilot:
            screen = await open_detail(pilot, BARE, "tab-errors")
            pane = screen.query_one(ErrorsPane)
            summary = pane.query_one("#errors-summary")
            await until(pilot, lambda: "prediction files" in str(summary.render()), "the refusal")
            assert f"run {BARE} has no tuned prediction files" in str(summary.render())
            assert pane.query_one("#errors-table").row_count == 0

    asyncio.run(go())
