"""Opening `runs.duckdb`: where it is, and short connections that retry while another
process holds the file (DuckDB allows one writer process at a time)."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import UserError, environment_cause, environment_fault
from workbench.rundir import left_behind
from workbench.store.schema import SCHEMA_VERSION, TABLES, VIEWS

if TYPE_CHECKING:
    import duckdb

DEFAULT_STORE = "runs.duckdb"

# Every connection to a store, in every process: DuckDB touches no file but the store's own (and its
# WAL and spill folder): no COPY TO / EXPORT DATABASE, no ATTACH, no read_csv / read_json / glob of
# other files, no extension installed or loaded; and the configuration is locked, so a user's SQL
# (`workbench query`, the app's query screen) cannot SET it back. One configuration for all: DuckDB
# refuses a second connection to a file in one process with a different one.
SEALED: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False, "lock_configuration": True,
    "autoinstall_known_extensions": False, "autoload_known_extensions": False}


def __getattr__(name: str):
    # `StoreError` is DuckDB's error class, what any failed store operation raises; modules outside
    # workbench/store catch it under this name and never import duckdb. Resolved on first use, so
    # importing this module does not load DuckDB.
    if name == "StoreError":
        import duckdb

        return duckdb.Error
    raise AttributeError(name)


def store_path(arg: str | None = None) -> Path:
    """--store PATH, else $WORKBENCH_STORE, else ./runs.duckdb."""
    return Path(arg or os.environ.get("WORKBENCH_STORE") or DEFAULT_STORE).expanduser().absolute()


def runs_root(store: Path) -> Path:
    """Run folders live beside the store: <store's folder>/runs/."""
    return store.parent / "runs"


def _is_lock_error(e: Exception) -> bool:
    text = str(e).lower()
    return "lock" in text or "conflicting" in text or "being used" in text


def _create(path: Path) -> None:
    """Create the store with its schema under a private name, then publish it with one atomic
    link: a process opening `path` never meets a half-made file (an empty or schema-less store
    another process is still creating), and a failed creation (a full disk) leaves nothing."""
    import duckdb

    tmp = path.with_name(f".{path.name}.{os.getpid()}.{random.randrange(1 << 30)}.new")
    try:
        con = duckdb.connect(str(tmp), config=SEALED)
        try:
            ensure_schema(con)
        finally:
            con.close()  # checkpoints: the file holds everything, no WAL
        _publish(tmp, path)
    except duckdb.Error as e:
        raise UserError(f"cannot create the store: {str(e).splitlines()[0]}", path=path) from None
    except OSError as e:
        raise UserError(f"cannot create the store: {e.strerror or e}", path=path) from None
    finally:
        for p in (tmp, tmp.with_name(tmp.name + ".wal")):
            p.unlink(missing_ok=True)


def _publish(tmp: Path, path: Path) -> None:
    """Give the finished store its name, unless another process published one first (use that)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError:
        if not path.exists():  # a filesystem without hard links
            os.replace(tmp, path)


@contextmanager
def connect(path: Path, *, read_only: bool = False, timeout: float = 60.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection. Waits (with jittered back-off) while another process holds
    the file, so followers, the TUI and `workbench query` can share one store."""
    import duckdb

    path = Path(path)
    _remove_leftovers(path)
    if not path.exists():
        _create(path)
    elif read_only and _older_schema(path, timeout):
        # a store an older workbench wrote: upgraded once (new tables, columns, views), then read;
        # where it cannot be written (another user's), it is read as it is
        try:
            with connect(path, timeout=timeout):
                pass
        except UserError:
            pass
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=SEALED)
            break
        except duckdb.IOException as e:
            if not _is_lock_error(e):
                raise UserError(f"cannot open the store: {str(e).splitlines()[0]}", path=path) from None
            if time.monotonic() > deadline:
                raise UserError(f"the store is busy (locked by another process for over {timeout:.0f} s)",
                                path=path) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)
    try:
        if not read_only:
            try:
                ensure_schema(con)
            except duckdb.Error as e:
                raise UserError(f"cannot write the store: {str(e).splitlines()[0]}", path=path) from None
        yield con
    except duckdb.Error as e:
        con.close()
        raise _environment(e, path, read_only) from None
    except BaseException:
        con.close()
        raise
    try:
        con.close()  # checkpoints what was committed into the file: it writes too
    except duckdb.Error as e:
        raise _environment(e, path, read_only) from None


def _environment(e: Exception, path: Path, read_only: bool) -> Exception:
    """A full disk, a read-only folder, a quota: the machine's, not a bug (errors.py), in one line
    naming the store. Any other error of DuckDB's goes on as it is (a query's own error, or a bug)."""
    cause = environment_cause(str(e))
    if cause is None:
        return e
    return UserError(f"cannot {'read' if read_only else 'write'} the store: {cause}", path=path)


_SWEPT: set[Path] = set()  # stores whose folder this process has swept for leftovers


def _remove_leftovers(path: Path) -> None:
    """Remove what a store creation killed halfway left (`.runs.duckdb.<pid>.<n>.new` and its
    .wal; rundir.left_behind says when), once per process and store."""
    if path in _SWEPT:
        return
    _SWEPT.add(path)
    prefix = f".{path.name}."
    try:
        names = [e.name for e in os.scandir(path.parent) if e.name.startswith(prefix)]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return  # no folder yet (reported when the store is created), or one this user cannot list
    for name in names:
        pid = name[len(prefix):].split(".", 1)[0]
        if not (name.endswith((".new", ".new.wal")) and pid.isdigit()):
            continue
        if left_behind(path.parent / name, int(pid)):
            try:
                (path.parent / name).unlink(missing_ok=True)
            except OSError as e:
                if environment_fault(e) is None:
                    raise
                return  # a read-only folder: an open where it can be written removes them


def _older_schema(path: Path, timeout: float) -> bool:
    """True when the store's schema_version is below this workbench's (checked read-only)."""
    import duckdb

    deadline = time.monotonic() + timeout
    while True:
        try:
            con = duckdb.connect(str(path), read_only=True, config=SEALED)
            break
        except duckdb.IOException as e:
            if not _is_lock_error(e) or time.monotonic() > deadline:
                return False  # the connect below reports it
            time.sleep(0.05 * (0.5 + random.random()))
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return row is None or int(row[0]) < SCHEMA_VERSION
    except duckdb.Error:
        return False
    finally:
        con.close()


def ensure_schema(con) -> None:
    import duckdb

    row = None
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except duckdb.CatalogException:
        pass  # a new, empty store: created below
    if row and int(row[0]) == SCHEMA_VERSION:
        return
    con.execute("BEGIN")
    con.execute(TABLES)
    con.execute(VIEWS)
    con.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
    con.execute("COMMIT")
