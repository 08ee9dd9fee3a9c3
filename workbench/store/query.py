"""A user's own SQL against the store: `workbench query` and the app's query screen.

Both run what the user typed on a connection that reaches no file but the store (db.SEALED: no COPY TO,
EXPORT, ATTACH, read_csv of another file, extension, nor SET undoing it); `workbench query` connects
read-only, and the app holds it to reading statements (`read_only_statements`, which also finds the
writes DuckDB runs inside a SELECT's CTE or an EXPLAIN ANALYZE) inside a transaction it rolls back.
Callers catch `StoreError` (workbench/store/db.py) and never import duckdb.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import duckdb

from workbench.errors import UserError

# Statement kinds a user's query may run in the app: reading only.
READ_ONLY_KINDS = ("SELECT", "EXPLAIN")


def query_error(error: BaseException) -> UserError:
    """The UserError a failed query reaches the user as: DuckDB's whole message, with its hints
    (`Did you mean "run_summary"?`, `Candidate bindings: "status"`) and the `LINE 1:` line with the
    caret under the fault, each on its own line."""
    return UserError(f"query failed: {str(error).strip() or type(error).__name__}", multiline=True)


def run_sql(con, sql: str):
    """The cursor of `sql` as typed (`workbench query` connects read-only), or a UserError with
    DuckDB's whole message (`query_error`)."""
    try:
        return con.execute(sql)
    except duckdb.Error as e:
        raise query_error(e) from None


@contextmanager
def reading(con, sql: str) -> Iterator[Any]:
    """The cursor of the last statement of `sql` (refused unless every statement only reads), inside a
    transaction rolled back afterwards: even a write the checks missed never reaches the file."""
    statements = read_only_statements(sql)
    con.execute("BEGIN TRANSACTION")
    try:
        cur = None
        for st in statements:
            try:
                cur = con.execute(st)
            except duckdb.Error as e:
                raise query_error(e) from None
        yield cur
    finally:
        con.execute("ROLLBACK")


def read_only_statements(sql: str) -> list[str]:
    """The statements of `sql`, refused (UserError) unless every one only reads."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise query_error(e) from None
    if not statements:
        raise UserError("the query is empty")
    for st in statements:
        kind = st.type.name
        if kind not in READ_ONLY_KINDS:
            raise UserError(f"only reading queries run here (SELECT, EXPLAIN); this one is {kind}")
    texts = [st.query for st in statements]
    why = hidden_writes(texts)
    if why:
        raise UserError(why)
    return texts


def _explained(sql: str) -> str | None:
    """The statement an EXPLAIN statement explains (its text), or None when `sql` is no EXPLAIN."""
    every = duckdb.tokenize(sql)
    ends = [every[i + 1][0] if i + 1 < len(every) else len(sql) for i in range(len(every))]
    kept = [(t, e) for t, e in zip(every, ends) if t[1] != duckdb.token_type.comment]
    tokens = [t for t, _ in kept]
    words = [sql[t[0]:e].strip().upper() for t, e in kept]
    if not words or words[0] != "EXPLAIN":
        return None
    i = 1
    if i < len(words) and words[i].startswith("("):  # EXPLAIN (ANALYZE, FORMAT json) ...
        depth = 0
        while i < len(words):
            depth += words[i].count("(") - words[i].count(")")
            i += 1
            if depth <= 0:
                break
    elif i < len(words) and words[i] in ("ANALYZE", "ANALYSE"):
        i += 1
    return sql[tokens[i][0]:] if i < len(tokens) else ""


def hidden_writes(statements: list[str]) -> str | None:
    """Why one of these SELECT / EXPLAIN statements would still write, or None. DuckDB runs a
    DELETE / INSERT / UPDATE inside a SELECT's CTE, and EXPLAIN ANALYZE runs what it explains.
    Anything it cannot parse as a plain SELECT is refused."""
    con = duckdb.connect()  # in memory: parsing only
    try:
        for text in statements:
            inner = _explained(text)
            if inner is not None:
                kinds = [s.type.name for s in duckdb.extract_statements(inner)] if inner.strip() else ["nothing"]
                if any(k != "SELECT" for k in kinds):
                    return f"only reading queries run here; EXPLAIN of {kinds[0]} is refused"
                text = inner
            (serialized,) = con.execute("SELECT json_serialize_sql(?)", [text]).fetchone() or ("{}",)
            tree = json.loads(serialized)
            if tree.get("error"):
                return f"only plain reading queries run here ({tree.get('error_message', 'not a SELECT')})"
            found = _write_nodes(tree)
            if found:
                return f"only reading queries run here; this one holds a {found.split('_')[0]}"
    finally:
        con.close()
    return None


def _write_nodes(node: Any) -> str | None:
    if isinstance(node, dict):
        kind = node.get("type")
        if isinstance(kind, str) and kind.endswith("_QUERY_NODE"):
            return kind
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            found = _write_nodes(child)
            if found:
                return found
    return None

