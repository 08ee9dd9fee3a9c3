"""`workbench query` with SQL DuckDB refuses: DuckDB's whole message reaches the user (its hints
and the caret line under the fault), as `error: ` lines on stderr, exit status 2, no traceback.
Other commands' errors stay one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import workbench
from workbench.store.db import connect


@pytest.fixture
def store(tmp_path) -> Path:
    """An empty store: its tables and views, no runs."""
    path = tmp_path / "runs.duckdb"
    with connect(path):
        pass
    return path


def error_lines(res) -> list[str]:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stdout + res.stderr, res.stderr
    assert res.stdout == ""
    lines = res.stderr.rstrip("\n").split("\n")
    assert all(line.startswith("error: ") for line in lines), res.stderr
    return [line[len("error: "):] for line in lines]


def caret_under(lines: list[str], word: str) -> None:
    """The `LINE 1:` line, and under it carets exactly below `word`."""
    at = next(i for i, line in enumerate(lines) if line.startswith("LINE 1: "))
    source, caret = lines[at], lines[at + 1]
    start = source.index(word)
    assert caret == " " * start + "^" * len(word), (source, caret)


@pytest.mark.parametrize("sql, first, hint, word", [
    ("SELECT * FROM run_summar", "query failed: Catalog Error: Table with name run_summar does not exist",
     'Did you mean "run_summary"?', "run_summar"),
    ("SELECT statuss FROM runs", 'query failed: Binder Error: Referenced column "statuss" not found',
     'Candidate bindings: "status"', "statuss"),
    ("SELEC run_id FROM runs", 'query failed: Parser Error: syntax error at or near "SELEC"', None, "SELEC"),
])
def test_a_failed_query_shows_duckdbs_whole_message(store, sql, first, hint, word):
    lines = error_lines(workbench("query", sql, store=store, timeout=120))
    assert lines[0].startswith(first), lines
    if hint is not None:
        assert any(line.startswith(hint) for line in lines[1:]), lines
    caret_under(lines, word)
    assert "" not in lines  # DuckDB's blank separator lines are left out


def test_a_query_on_more_lines_points_at_its_own_line(store):
    lines = error_lines(workbench("query", "SELECT run_id\nFROM runs\nWHERE statuss = 'completed'",
                                  store=store, timeout=120))
    assert any(line.startswith('Candidate bindings: "status"') for line in lines), lines
    assert any("statuss" in line and line.startswith("LINE ") for line in lines), lines
    at = next(i for i, line in enumerate(lines) if line.startswith("LINE "))
    assert lines[at + 1].strip() == "^" * len("statuss")
    assert lines[at + 1].index("^") == lines[at].index("statuss")


def test_a_good_query_still_prints_its_rows(store):
    res = workbench("query", "SELECT 41 + 1 AS answer", "--format", "csv", store=store, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["answer", "42"]
    assert res.stderr == ""


def test_other_commands_keep_one_line_errors(store):
    res = workbench("show", "nosuchrun", store=store, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'nosuchrun'" in lines[0], res.stderr
