"""The app's one way into `runs.duckdb`.

DuckDB refuses, inside one process, a second connection to a file in a different mode (read-only
next to read-write), and the app touches the store from several worker threads at once (run list,
detail, followers ingesting). So every connection here is read-write and short: in one process
they share one database instance; other processes (`workbench run` followers, `workbench query`)
get the file between them. SQL typed by the user is held to read-only statements
(workbench/store/query.py), not to a read-only connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workbench.store.db import connect


class StoreGate:
    def __init__(self, path: Path):
        self.path = Path(path)

    @contextmanager
    def connect(self) -> Iterator[Any]:
        with connect(self.path) as con:
            yield con
