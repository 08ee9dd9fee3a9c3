"""Each example's groups, from the recipe's group columns (`data.group_columns`), for fairness.

A cell names one group, a list of groups (JSON, parquet, a dataset's list column) or groups split by
`data.group_separator` (a CSV / TSV cell, or any text column); a row may so belong to several
groups of one column, and a recipe may name several columns (race, religion, gender...). Names are
trimmed; blanks, nulls and `fairness.no_group_values` (ignoring case) mean no group, so such a row
is in no group of that column (and in every group's background). A group repeated in one cell
counts once. As in workbench/data/labeled.py, the checks run as Arrow compute over the column and
only an error goes back to Python, naming the source, the line or row and the column.
"""

from __future__ import annotations

from collections.abc import Sequence

from workbench.data.labeled import _blank, _first, _is_text, _not_text, _shown
from workbench.data.tabular import Columns
from workbench.errors import UserError
from workbench.recipe.sections import Data

_EXPECTED = "a group name, a list of group names or names separated by data.group_separator"


def group_columns(data: Data) -> list[str]:
    """The recipe's group columns: data.group_columns, or data.group_field (its older name)."""
    if data.group_columns and data.group_field:
        raise UserError("data.group_field is the older name of data.group_columns; set one of them "
                        f"(group_columns = {list(data.group_columns)}, group_field = {data.group_field!r})")
    return list(data.group_columns) or ([data.group_field] if data.group_field else [])


def read_groups(cols: Columns, column: str, *, separator: str = "", no_group: Sequence[str] = ()):
    """The groups of each row of `column`, as an Arrow list<string> array (one list per row, empty
    for no group; names trimmed, no-group values and blanks left out, in the cell's order)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    col = cols.column(column).combine_chunks()
    n = len(col)
    if pa.types.is_list(col.type) or pa.types.is_large_list(col.type):
        items, parents = pc.list_flatten(col), pc.list_parent_indices(col)
    else:
        if pa.types.is_null(col.type) or pa.types.is_boolean(col.type) or pa.types.is_integer(col.type):
            col = pc.cast(col, pa.string())
        if not _is_text(col):
            raise _not_text(cols, column, col, _EXPECTED)
        if separator:
            split = pc.split_pattern(col, separator)
            items, parents = pc.list_flatten(split), pc.list_parent_indices(split)
        else:
            if cols.unit == "line":  # text read from a file: brackets are a list someone wrote into a cell
                s = pc.utf8_trim_whitespace(col)
                i = _first(pc.and_(pc.starts_with(s, "["), pc.ends_with(s, "]")))
                if i >= 0:
                    raise cols.error(i, f"column {column!r} holds a list {_shown(s[i].as_py())}; groups in a CSV or "
                                        "TSV need data.group_separator (e.g. \"|\") and items without brackets, "
                                        "or use JSONL / parquet")
            items, parents = col, pa.array(np.arange(n, dtype=np.int64))
    if pa.types.is_null(items.type) or pa.types.is_boolean(items.type) or pa.types.is_integer(items.type):
        items = pc.cast(items, pa.string())
    if not _is_text(items):
        i = _first(pc.is_valid(items))
        row = parents[i].as_py()
        raise cols.error(row, f"column {column!r} holds {items.type} {_shown(items[i].as_py())} in its list; "
                              "expected group names")
    items = pc.utf8_trim_whitespace(items)
    none = pc.is_in(pc.utf8_lower(items), value_set=pa.array([v.strip().lower() for v in no_group], pa.string()))
    keep = pc.invert(pc.or_(_blank(items), pc.fill_null(none, False)))
    items, parents = pc.filter(items, keep), pc.filter(parents, keep)
    offsets = np.searchsorted(parents.to_numpy(zero_copy_only=False), np.arange(n + 1)).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), items)


def group_lists(array) -> list[tuple[str, ...]]:
    """read_groups' array as one tuple per row, each group once (the shape workbench/metrics/bias.py
    takes). Builds Python objects: for evaluation splits, not a whole training set."""
    return [tuple(dict.fromkeys(gs)) for gs in array.to_pylist()]
