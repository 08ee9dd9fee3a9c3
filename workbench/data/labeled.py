"""Labelled texts for `task = "classification"`, from any tabular source, in three label forms.

- 0/1 columns (`data.labels` / `data.label_columns`): multi-label, one column per label;
  `1`/`0`, `true`/`false` (and booleans) are read as they are, other words through
  `data.label_values` (`{ yes = 1, no = 0 }`).
- One column of class names or integer ids (`data.label_column`): single-label multi-class.
- One column holding a list of labels (JSON / parquet), or a delimited string
  (`data.label_column` + `data.label_separator`): multi-label.

The form is inferred from the knobs given and, for `data.label_column`, from the training
split's values (lists are multi-label). Every form ends as one Arrow table per split: `text`,
`labels` (the class index, or a 0/1 vector in label order), `where` (line or row) and `id`, so
splits, thresholds, predictions and metrics have one code path. Class names and their order come
from `data.classes`, else from the training split (sorted); a validation or test split holding a
class the training split lacks is refused.

Checks run as Arrow compute over whole columns (a 1M-row parquet file builds no Python list of
its rows); only an error goes back to Python, to name the source, the line (or row) and the
column of the first bad value. This runs in the CLI before any model loads.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from workbench.data.tabular import Columns, Source, read_columns
from workbench.errors import UserError
from workbench.recipe.sections import Data

_TRUE = ("1", "1.0", "true")
_FALSE = ("0", "0.0", "false")
_INT = r"^-?[0-9]+$"


@dataclass(frozen=True)
class LabelSpec:
    """Where a source's text and labels are, from a recipe's data.* knobs (`from_data`)."""
    text_column: str = "text"
    text_template: str = ""                                   # "{title}. {body}": text from several columns
    columns: dict[str, str] = field(default_factory=dict)     # form (a): label name -> 0/1 column
    label_column: str = ""                                    # forms (b) and (c)
    separator: str = ""                                       # form (c) as a delimited string
    label_map: dict[str, str] = field(default_factory=dict)   # forms (b) and (c): raw value -> class name
    classes: tuple[str, ...] = ()                             # the class names, in order (else from train)
    label_values: dict[str, int] = field(default_factory=dict)  # form (a): more words for 1 and 0
    id_column: str = ""
    fmt: str = ""                                             # data.format: forces the file format
    keep: tuple[str, ...] = ()                                # more columns carried as text (e.g. a group column)
    groups: tuple[str, ...] = ()                              # group columns, for fairness (workbench/data/groups.py)
    group_separator: str = ""
    no_group: tuple[str, ...] = ()                            # group values meaning "no group"

    @staticmethod
    def from_data(data: Data, no_group: Sequence[str] = ()) -> LabelSpec:
        """The spec a recipe's [data] section gives (`no_group`: its fairness.no_group_values)."""
        from workbench.data.groups import group_columns

        columns = dict(data.labels) or {c: c for c in data.label_columns}
        return LabelSpec(data.text_column, data.text_template, columns, data.label_column, data.label_separator,
                         dict(data.label_map), tuple(data.classes), {k: int(v) for k, v in data.label_values.items()},
                         data.id_column, data.format, groups=tuple(group_columns(data)), group_separator=data.group_separator,
                         no_group=tuple(no_group))

    def template_fields(self) -> list[str]:
        return template_fields(self.text_template) if self.text_template else [self.text_column]


def template_fields(template: str) -> list[str]:
    """The column names a text template uses, in order of first use. Raises ValueError on bad syntax,
    on positional fields (`{}`, `{0}`) and on attribute / index access (`{a.b}`, `{a[0]}`)."""
    out: list[str] = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"field {{{name}}}: no conversions or format specs (!r, :>10); write {{{name}}}")
        if not name or name.isdigit():
            raise ValueError("positional fields ({} or {0}) name no column; write {column_name}")
        if any(c in name for c in ".["):
            raise ValueError(f"field {{{name}}}: only plain column names, no attribute or index access")
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError("names no column; write e.g. \"{title}. {description}\"")
    return out


@dataclass
class LabeledTable:
    """One split: an Arrow table with columns `text`, `where` (the line or row each example came
    from), `labels` (absent for prediction input without labels) and `id` (data.id_column).
    `labels` holds the class index (single-label) or a 0/1 vector in label order (multi-label).
    The list properties build Python lists: for evaluation splits and predictions, not for
    training (workbench/tasks/classification.py tokenizes the table itself)."""
    path: str
    table: Any                    # pyarrow.Table
    label_names: list[str]        # labels or classes, in order
    single_label: bool = False    # one class per row (softmax) rather than any number of labels (sigmoid)
    unit: str = "line"            # what `where` counts: "line" or "row"
    # (memory-mapped datasets.Dataset, its text column) when `text` is that column unchanged, row for row
    source: tuple[Any, str] | None = None

    @staticmethod
    def known(path: str, label_names: list[str], single_label: bool) -> LabeledTable:
        """An empty table standing for a finished run's training split (its labels.json), which
        binds the classes and form of prediction input."""
        import pyarrow as pa

        return LabeledTable(path, pa.table({"text": pa.array([], pa.string())}), label_names, single_label)

    def __len__(self) -> int:
        return self.table.num_rows

    def subset(self, idx) -> LabeledTable:
        import pyarrow as pa

        return LabeledTable(self.path, self.table.take(pa.array(idx, type=pa.int64())), self.label_names,
                            self.single_label, self.unit)  # its own rows: no longer the source's, row for row

    @property
    def has_labels(self) -> bool:
        return "labels" in self.table.column_names

    @cached_property
    def texts(self) -> list[str]:
        return self.table.column("text").to_pylist()

    @cached_property
    def lines(self) -> list[int]:
        return self.table.column("where").to_pylist()

    @cached_property
    def ids(self) -> list[str] | None:
        return self.table.column("id").to_pylist() if "id" in self.table.column_names else None

    @cached_property
    def groups(self) -> dict[str, list[tuple[str, ...]]]:
        """Each group column's groups per row (LabelSpec.groups), in the recipe's order; columns the
        source lacks (prediction input) are left out."""
        from workbench.data.groups import group_lists

        return {c.removeprefix("group:"): group_lists(self.table.column(c).combine_chunks())
                for c in self.table.column_names if c.startswith("group:")}

    def column(self, name: str) -> list[str | None]:
        """A column kept as text (LabelSpec.keep), as a list (all None where the source lacks it)."""
        if f"column:{name}" not in self.table.column_names:
            return [None] * len(self)
        return self.table.column(f"column:{name}").to_pylist()

    @cached_property
    def labels(self) -> list[list[int]] | None:
        """rows x labels, 0/1 in label order (one-hot for single-label); None without labels."""
        if not self.has_labels:
            return None
        return self.label_matrix().tolist()

    def label_matrix(self):
        """The labels as a numpy rows x labels 0/1 matrix (int8)."""
        import numpy as np

        column = self.table.column("labels")
        if self.single_label:
            out = np.zeros((len(self), len(self.label_names)), dtype=np.int8)
            out[np.arange(len(self)), column.to_numpy()] = 1
            return out
        flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(len(self), len(self.label_names)).astype(np.int8)


def read_labeled(source: Source, spec: LabelSpec, *, train: LabeledTable | None = None, require_labels: bool = True,
                 max_rows: int = 0) -> LabeledTable:
    """Read and validate one source. `train`: the training split already read (its classes and form
    bind validation and test; None when this is the training split). With require_labels=False
    (prediction input), labels are read only when the source has the label column(s)."""
    import pyarrow as pa

    text_fields = spec.template_fields()
    label_cols = list(spec.columns.values()) if spec.columns else [spec.label_column]
    wanted = [*text_fields, *label_cols, *([spec.id_column] if spec.id_column else []), *spec.keep, *spec.groups]
    cols = read_columns(source, list(dict.fromkeys(wanted)), fmt=spec.fmt, max_rows=max_rows)
    names = ", ".join(cols.names)
    for c in text_fields:
        if c not in cols:
            fix = "fix data.text_template" if spec.text_template else "set data.text_column"
            raise cols.header_error(f"no text column {c!r} (columns: {names}); {fix}")
    missing = [c for c in label_cols if c not in cols]
    if missing and (require_labels or len(missing) < len(label_cols)):
        if spec.columns:
            label = next(n for n, c in spec.columns.items() if c == missing[0])
            raise cols.header_error(f"no label column {missing[0]!r} (for label {label!r}; columns: {names}); "
                                    "fix data.labels or the file")
        raise cols.header_error(f"no label column {missing[0]!r} (columns: {names}); fix data.label_column")
    if spec.id_column and spec.id_column not in cols:
        raise cols.header_error(f"no id column {spec.id_column!r} (columns: {names}); fix data.id_column")
    for c in spec.keep:
        if c not in cols and require_labels:  # prediction input may come without them (no groups to score)
            raise cols.header_error(f"no column {c!r} (columns: {names})")
    for c in spec.groups:
        if c not in cols and require_labels:  # prediction input may come without them (no groups to score)
            raise cols.header_error(f"no group column {c!r} (columns: {names}); fix data.group_columns")
    if not len(cols):
        raise _no_rows(cols)
    out: dict[str, Any] = {"text": _texts(cols, spec, text_fields), "where": cols.where}
    if spec.id_column:
        out["id"] = _as_text(cols.column(spec.id_column))
    for c in spec.keep:
        if c in cols:
            out[f"column:{c}"] = _as_text(cols.column(c))
    if spec.groups:
        from workbench.data.groups import read_groups

        for c in spec.groups:
            if c in cols:
                out[f"group:{c}"] = read_groups(cols, c, separator=spec.group_separator, no_group=spec.no_group)
    if missing:
        known = train if train is not None else LabeledTable.known(cols.source, list(spec.columns) or list(spec.classes),
                                                                   False)
        return LabeledTable(cols.source, pa.table(out), known.label_names, known.single_label, cols.unit)
    if spec.columns:
        label_names, single = list(spec.columns), False
        out["labels"] = _binary_columns(cols, spec)
    else:
        label_names, out["labels"], single = _label_column(cols, spec, train)
    mapped = (cols.dataset, text_fields[0]) if cols.dataset is not None and not spec.text_template else None
    return LabeledTable(cols.source, pa.table(out), label_names, single, cols.unit, mapped)


def _no_rows(cols: Columns) -> UserError:
    if cols.unit == "row":
        return UserError("no rows", path=cols.source)
    if not cols.names:
        return UserError("file is empty; expected one JSON object per line", path=cols.source, line=1)
    return UserError("no data rows after the header", path=cols.source, line=2)


# --- Arrow helpers ------------------------------------------------------------------------------------

def _first(mask) -> int:
    """Index of the first true value of a boolean Arrow array (nulls count as false); -1 if none."""
    import pyarrow.compute as pc

    mask = pc.fill_null(mask, False)
    return pc.index(mask, True).as_py() if pc.any(mask).as_py() else -1


def _blank(col):
    """True where a string column is null or only whitespace (one pass, no copy of the texts)."""
    import pyarrow.compute as pc

    return pc.fill_null(pc.match_substring_regex(col, r"^\s*$"), True)


def _is_text(col) -> bool:
    import pyarrow as pa

    return pa.types.is_string(col.type) or pa.types.is_large_string(col.type)


def _as_text(col):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(col, pa.string())


def _shown(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _not_text(cols: Columns, column: str, col, what: str) -> UserError:
    import pyarrow.compute as pc

    i = _first(pc.is_valid(col))
    v = col[i].as_py()
    return cols.error(i, f"column {column!r} holds {type(v).__name__} {_shown(v)}, expected {what}")


# --- texts ------------------------------------------------------------------------------------------

def _texts(cols: Columns, spec: LabelSpec, fields: list[str]):
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for f in fields:
        col = cols.column(f)
        if pa.types.is_null(col.type):
            col = pc.cast(col, pa.string())
        elif not _is_text(col):
            raise _not_text(cols, f, col, "text")
        columns.append(col)
    if not spec.text_template:
        i = _first(_blank(columns[0]))
        if i >= 0:
            raise cols.error(i, f"empty text in column {fields[0]!r}")
        return columns[0]
    every_blank = _blank(columns[0])
    for col in columns[1:]:
        every_blank = pc.and_(every_blank, _blank(col))
    i = _first(every_blank)
    if i >= 0:
        raise cols.error(i, f"empty text: every column of data.text_template ({', '.join(fields)}) is empty")
    by_name = {f: pc.fill_null(c, "") for f, c in zip(fields, columns)}
    parts: list[Any] = []
    for literal, name, _, _ in string.Formatter().parse(spec.text_template):
        if literal:
            parts.append(pa.scalar(literal))
        if name is not None:
            parts.append(by_name[name])
    return pc.binary_join_element_wise(*parts, "")


# --- form (a): 0/1 columns ----------------------------------------------------------------------------

def _binary_columns(cols: Columns, spec: LabelSpec):
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    words = {k.strip().lower(): v for k, v in spec.label_values.items()}
    ones = pa.array(sorted({*(w for w in _TRUE if w not in words), *(w for w, v in words.items() if v == 1)}))
    zeros = pa.array(sorted({*(w for w in _FALSE if w not in words), *(w for w, v in words.items() if v == 0)}))
    accepted = "0 or 1" + (f" (or {', '.join(repr(k) for k in spec.label_values)})" if words else "")
    bits = []
    for name, column in spec.columns.items():
        col = cols.column(column)
        if pa.types.is_boolean(col.type):
            bit, bad = pc.cast(col, pa.int8()), pc.is_null(col)
        elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            bit = pc.cast(pc.equal(col, 1), pa.int8())
            bad = pc.invert(pc.fill_null(pc.or_(pc.equal(col, 0), pc.equal(col, 1)), False))
        elif _is_text(col) or pa.types.is_null(col.type):
            s = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(col, pa.string())))
            is_one, is_zero = pc.is_in(s, value_set=ones), pc.is_in(s, value_set=zeros)
            bit, bad = pc.cast(is_one, pa.int8()), pc.invert(pc.fill_null(pc.or_(is_one, is_zero), False))
        else:
            i = _first(pc.is_valid(col))
            raise cols.error(max(i, 0), f"column {column!r} (label {name!r}) holds {col.type}; expected {accepted}")
        i = _first(bad)
        if i >= 0:
            v = col[i].as_py()
            if v is None or (isinstance(v, str) and not v.strip()):
                raise cols.error(i, f"column {column!r} (label {name!r}) has no value; expected {accepted}")
            hint = "" if words else "; other words for 1 and 0 go in data.label_values, e.g. { yes = 1, no = 0 }"
            raise cols.error(i, f"column {column!r} (label {name!r}) must be {accepted}, got {v!r}{hint}")
        bits.append(pc.fill_null(bit, 0).to_numpy(zero_copy_only=False))
    matrix = np.stack(bits, axis=1).astype(np.int8)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), len(bits))


# --- forms (b) and (c): one label column ------------------------------------------------------------

def _label_column(cols: Columns, spec: LabelSpec, train: LabeledTable | None) -> tuple[list[str], Any, bool]:
    import pyarrow as pa

    column = spec.label_column
    col = cols.column(column).combine_chunks()
    is_list = pa.types.is_list(col.type) or pa.types.is_large_list(col.type)
    if spec.separator or is_list or (train is not None and not train.single_label):
        if train is not None and train.single_label:
            raise cols.header_error(f"column {column!r}: the training split holds one class per row, this one lists")
        return _list_form(cols, spec, col, is_list, train)
    if train is None and pa.types.is_null(col.type):
        raise cols.error(0, f"column {column!r} has no value; expected a class name or id")
    kind, values = _scalar_values(cols, column, col, spec.label_map)
    names = _class_names(spec, train, kind, values)
    index = _class_index(cols, spec, column, kind, values, names, train, rows=None)
    if train is None and len(names) < 2:
        raise cols.error(0, f"column {column!r} holds one class only ({names[0]!r}) in the training split; "
                            "a classifier needs at least two")
    return names, index, True


def _scalar_values(cols: Columns, column: str, col, label_map: dict[str, str]) -> tuple[str, Any]:
    """("ids", int64 array) or ("names", trimmed string array) of a column of one class per row,
    renamed by `label_map` (data.label_map); a missing value, a list written into a CSV cell, or ids
    mixed with names (without a map) are errors."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_boolean(col.type):
        col = pc.utf8_lower(pc.cast(col, pa.string()))
    if pa.types.is_floating(col.type):
        i = _first(pc.not_equal(col, pc.floor(col)))
        if i >= 0:
            raise cols.error(i, f"column {column!r} holds {col[i].as_py()!r}; expected a class name or integer id")
        col = pc.cast(col, pa.int64())
    if pa.types.is_integer(col.type):
        i = _first(pc.is_null(col))
        if i >= 0:
            raise cols.error(i, f"column {column!r} has no value; expected a class name or id")
        return _renamed(label_map, pc.cast(col, pa.string())) if label_map else ("ids", pc.cast(col, pa.int64()))
    if pa.types.is_null(col.type):
        col = pc.cast(col, pa.string())
    if not _is_text(col):
        raise _not_text(cols, column, col, "a class name or integer id")
    s = pc.utf8_trim_whitespace(col)
    i = _first(_blank(s))
    if i >= 0:
        raise cols.error(i, f"column {column!r} has no value; expected a class name or id")
    if cols.unit == "line":  # text read from a file: digits are ids, brackets a list someone wrote
        i = _first(pc.and_(pc.starts_with(s, "["), pc.ends_with(s, "]")))
        if i >= 0:
            raise cols.error(i, f"column {column!r} holds a list {_shown(s[i].as_py())}; a list of labels in a CSV "
                                "or TSV needs data.label_separator (e.g. \",\") and items without brackets, or use "
                                "JSONL / parquet")
        return _renamed(label_map, s) if label_map else _ids_or_names(cols, column, s)
    return ("names", _renamed(label_map, s)[1]) if label_map else ("names", s)


def _renamed(label_map: dict[str, str], s) -> tuple[str, Any]:
    """data.label_map applied to a string array of label values (a value it lacks keeps its name):
    ("ids", int64) when every value then reads as an integer (an id into data.classes), else
    ("names", strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    at = pc.index_in(s, value_set=pa.array(list(label_map), pa.string()))
    out = pc.coalesce(pc.take(pa.array(list(label_map.values()), pa.string()), at), s)
    if len(out) and pc.all(pc.match_substring_regex(out, _INT)).as_py():
        return "ids", pc.cast(out, pa.int64())
    return "names", out


def _ids_or_names(cols: Columns, column: str, s, parents=None) -> tuple[str, Any]:
    """Strings read from text: all integers are ids, none are names; a mix is an error at the first
    value whose kind differs from the first value's."""
    import pyarrow as pa
    import pyarrow.compute as pc

    is_int = pc.match_substring_regex(s, _INT)
    if pc.all(is_int).as_py():
        return "ids", pc.cast(s, pa.int64())
    if not pc.any(is_int).as_py():
        return "names", s
    first = bool(is_int[0].as_py())
    i = _first(pc.not_equal(is_int, first))
    row = i if parents is None else parents[i].as_py()
    row0 = 0 if parents is None else parents[0].as_py()
    kinds = ("numbers", "text") if first else ("text", "numbers")
    raise cols.error(row, f"column {column!r} mixes {kinds[0]} and {kinds[1]}: {_shown(s[i].as_py())} here, "
                          f"{_shown(s[0].as_py())} at {cols.unit} {cols.where[row0].as_py()}; use one or the other")


def _class_names(spec: LabelSpec, train: LabeledTable | None, kind: str, values) -> list[str]:
    import pyarrow.compute as pc

    if train is not None:
        return train.label_names
    if spec.classes:
        return list(spec.classes)
    seen = pc.unique(values).to_pylist()
    return [str(x) for x in sorted(seen)] if kind == "ids" else sorted(seen)


def _class_index(cols: Columns, spec: LabelSpec, column: str, kind: str, values, names: list[str],
                 train: LabeledTable | None, rows):
    """Each value's position in `names`; an id beyond data.classes or a name not among them is
    an error at its row (`rows`: the row of each value, for list items; None: value i is row i)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if kind == "ids" and spec.classes:
        i = _first(pc.or_(pc.less(values, 0), pc.greater_equal(values, len(spec.classes))))
        if i >= 0:
            raise cols.error(i if rows is None else rows[i].as_py(),
                             f"column {column!r} holds id {values[i].as_py()}; data.classes has "
                             f"{len(spec.classes)} names (ids 0 to {len(spec.classes) - 1})")
        return values
    text = pc.cast(values, pa.string()) if kind == "ids" else values
    index = pc.index_in(text, value_set=pa.array(names, pa.string()))
    i = _first(pc.is_null(index))
    if i >= 0:
        raise cols.error(i if rows is None else rows[i].as_py(), _unknown(text[i].as_py(), column, names, spec, train))
    return pc.cast(index, pa.int64())


def _list_form(cols: Columns, spec: LabelSpec, col, is_list: bool, train: LabeledTable | None):
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    column = spec.label_column
    if not is_list:
        if pa.types.is_null(col.type):
            col = pc.cast(col, pa.string())
        if not _is_text(col):
            raise _not_text(cols, column, col, f"a list of labels or labels separated by {spec.separator!r}"
                            if spec.separator else "a list of labels (the training split holds lists)")
        if not spec.separator:
            i = _first(pc.is_valid(col))
            raise cols.error(i, f"column {column!r} holds {_shown(col[i].as_py())}; the training split holds lists "
                                "of labels, so every row needs a list (empty for none)")
        col = pc.split_pattern(col, spec.separator)
    items, parents = pc.list_flatten(col), pc.list_parent_indices(col)
    if pa.types.is_floating(items.type) or pa.types.is_boolean(items.type):
        items = pc.cast(items, pa.string())
    if pa.types.is_integer(items.type):
        i = _first(pc.is_null(items))
        kind, values = _renamed(spec.label_map, pc.cast(items, pa.string())) if spec.label_map else ("ids", items)
    else:
        if not _is_text(items) and not pa.types.is_null(items.type):
            raise cols.error(0, f"column {column!r} holds lists of {items.type}; expected class names or integer ids")
        items = pc.utf8_trim_whitespace(pc.cast(items, pa.string()))
        keep = pc.invert(_blank(items))
        items, parents = pc.filter(items, keep), pc.filter(parents, keep)
        i = -1
        if spec.label_map:
            kind, values = _renamed(spec.label_map, items)
            if cols.unit != "line":  # text from parquet / JSON: digits are names, as without a map
                kind, values = "names", pc.cast(values, pa.string())
        else:
            kind, values = (_ids_or_names(cols, column, items, parents=parents) if len(items) and cols.unit == "line"
                            else ("names", items))
    if i >= 0:
        raise cols.error(parents[i].as_py(), f"column {column!r} holds an empty label in its list")
    names = _class_names(spec, train, kind, values)
    index = _class_index(cols, spec, column, kind, values, names, train, rows=parents)
    matrix = np.zeros((len(cols), len(names)), dtype=np.int8)
    matrix[parents.to_numpy(zero_copy_only=False), index.to_numpy(zero_copy_only=False)] = 1
    return names, pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), len(names)), False


def _unknown(name: str, column: str, names: list[str], spec: LabelSpec, train: LabeledTable | None) -> str:
    shown = ", ".join(names) if len(names) <= 12 else ", ".join(names[:12]) + ", ..."
    if train is not None and not spec.classes:
        return f"column {column!r}: {name!r} does not occur in the training split (classes: {shown})"
    return f"column {column!r}: {name!r} is not one of data.classes ({shown})"
