"""The app's one way into `runs.duckdb`.

DuckDB refuses, inside one process, a second connection to a file in a different mode (read-only
next to read-write), and the app touches the store from several worker threads at once (run list,
detail, followers ingesting). So every connection here is read-write and short: in one process
they share one database instance; other processes (`workbench run` followers, `workbench query`)
get the file between them. SQL typed by the user is held to read-only statements
(`read_only_statements`), not to a read-only connection.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from workbench.errors import UserError
from workbench.store.db import connect

# Statement kinds a user's query may run: reading only.
READ_ONLY_KINDS = ("SELECT", "EXPLAIN")


class StoreGate:
    def __init__(self, path: Path):
        self.path = Path(path)

    @contextmanager
    def connect(self) -> Iterator["duckdb.DuckDBPyConnection"]:  # noqa: F821
        with connect(self.path) as con:
            yield con


def read_only_statements(sql: str) -> list[str]:
    """The statements of `sql`, refused (UserError) unless every one only reads."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise UserError(f"query failed: {str(e).splitlines()[0]}") from None
    if not statements:
        raise UserError("the query is empty")
    for st in statements:
        kind = st.type.name
        if kind not in READ_ONLY_KINDS:
            raise UserError(f"only reading queries run here (SELECT, EXPLAIN); this one is {kind}")
    return [st.query for st in statements]
