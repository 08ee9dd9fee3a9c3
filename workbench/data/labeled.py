"""Labelled texts for `task = "classification"`, from any tabular source, in three label forms.

- 0/1 columns (`data.labels` / `data.label_columns`): multi-label, one column per label;
  `1`/`0`, `true`/`false` (and booleans) are read as they are, other words through
  `data.label_values` (`{ yes = 1, no = 0 }`).
- One column of class names or integer ids (`data.label_column`): single-label multi-class.
- One column holding a list of labels (JSON / parquet), or a delimited string
  (`data.label_column` + `data.label_separator`): multi-label.

The form is inferred from the knobs given and, for `data.label_column`, from the training
split's values (lists are multi-label). Every form ends as the same table: texts and a 0/1 matrix
in label order (one-hot for single-label), so splits, thresholds, predictions and metrics have one
code path. Class names and their order come from `data.classes`, else from the training split
(sorted); a validation or test split holding a class the training split lacks is refused.

This runs in the CLI before any model loads: every bad row is one line naming the source, the
line (or row) and the column.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

from workbench.data.tabular import Columns, Source, read_columns
from workbench.errors import UserError

_TRUE = {"1", "1.0", "true"}
_FALSE = {"0", "0.0", "false"}


@dataclass(frozen=True)
class LabelSpec:
    """Where a source's text and labels are, from a recipe's data.* knobs (`from_values`)."""
    text_column: str = "text"
    text_template: str = ""                                   # "{title}. {body}": text from several columns
    columns: dict[str, str] = field(default_factory=dict)     # form (a): label name -> 0/1 column
    label_column: str = ""                                    # forms (b) and (c)
    separator: str = ""                                       # form (c) as a delimited string
    classes: tuple[str, ...] = ()                             # the class names, in order (else from train)
    label_values: dict[str, int] = field(default_factory=dict)  # form (a): more words for 1 and 0
    id_column: str = ""
    fmt: str = ""                                             # data.format: forces the file format

    @staticmethod
    def from_values(values: dict[str, Any]) -> LabelSpec:
        columns = dict(values["data.labels"]) or {c: c for c in values["data.label_columns"]}
        return LabelSpec(values["data.text_column"], values["data.text_template"], columns,
                         values["data.label_column"], values["data.label_separator"], tuple(values["data.classes"]),
                         {k: int(v) for k, v in values["data.label_values"].items()}, values["data.id_column"],
                         values["data.format"])

    def template_fields(self) -> list[str]:
        return template_fields(self.text_template) if self.text_template else [self.text_column]


def template_fields(template: str) -> list[str]:
    """The column names a text template uses, in order of first use. Raises ValueError on bad syntax,
    on positional fields (`{}`, `{0}`) and on attribute / index access (`{a.b}`, `{a[0]}`)."""
    out: list[str] = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name is None:
            continue
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
    path: str
    texts: list[str]
    label_names: list[str]
    # rows x labels, 0/1, in label_names order (one-hot when single_label); None for prediction input
    # without labels
    labels: list[list[int]] | None
    # where each row starts: its 1-based line (CSV, TSV, JSONL; a CSV row may span lines) or row
    lines: list[int]
    ids: list[str] | None = None  # data.id_column's values, when the recipe names one
    single_label: bool = False    # one class per row (softmax) rather than any number of labels (sigmoid)
    unit: str = "line"            # what `lines` counts: "line" or "row"

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: list[int]) -> LabeledTable:
        return LabeledTable(
            self.path,
            [self.texts[i] for i in idx],
            self.label_names,
            None if self.labels is None else [self.labels[i] for i in idx],
            [self.lines[i] for i in idx],
            None if self.ids is None else [self.ids[i] for i in idx],
            self.single_label,
            self.unit,
        )


def read_labeled(source: Source, spec: LabelSpec, *, train: LabeledTable | None = None, require_labels: bool = True,
                 max_rows: int = 0) -> LabeledTable:
    """Read and validate one source. `train`: the training split already read (its classes and form
    bind validation and test; None when this is the training split). With require_labels=False
    (prediction input), labels are read only when the source has the label column(s)."""
    text_fields = spec.template_fields()
    label_cols = list(spec.columns.values()) if spec.columns else [spec.label_column]
    wanted = [*text_fields, *label_cols, *([spec.id_column] if spec.id_column else [])]
    cols = read_columns(source, list(dict.fromkeys(wanted)), fmt=spec.fmt, max_rows=max_rows)
    names = ", ".join(cols.names)
    for c in text_fields:
        if c not in cols.data:
            fix = "fix data.text_template" if spec.text_template else "set data.text_column"
            raise cols.header_error(f"no text column {c!r} (columns: {names}); {fix}")
    missing = [c for c in label_cols if c not in cols.data]
    if missing and (require_labels or len(missing) < len(label_cols)):
        if spec.columns:
            label = next(n for n, c in spec.columns.items() if c == missing[0])
            raise cols.header_error(f"no label column {missing[0]!r} (for label {label!r}; columns: {names}); "
                                    "fix data.labels or the file")
        raise cols.header_error(f"no label column {missing[0]!r} (columns: {names}); fix data.label_column")
    if spec.id_column and spec.id_column not in cols.data:
        raise cols.header_error(f"no id column {spec.id_column!r} (columns: {names}); fix data.id_column")
    if not len(cols):
        raise _no_rows(cols)
    texts = _texts(cols, spec, text_fields)
    ids = [str(v) for v in cols.data[spec.id_column]] if spec.id_column else None
    if missing:
        names_known = train.label_names if train is not None else (list(spec.columns) or list(spec.classes))
        single = train.single_label if train is not None else False
        return LabeledTable(str(cols.source), texts, names_known, None, cols.where, ids, single, cols.unit)
    if spec.columns:
        label_names, labels, single = list(spec.columns), _binary_columns(cols, spec), False
    else:
        label_names, labels, single = _label_column(cols, spec, train)
    return LabeledTable(str(cols.source), texts, label_names, labels, cols.where, ids, single, cols.unit)


def _no_rows(cols: Columns) -> UserError:
    if cols.unit == "row":
        return UserError("no rows", path=cols.source)
    if cols.source.lower().endswith((".jsonl", ".ndjson")) or not cols.names:
        return UserError("file is empty; expected one JSON object per line", path=cols.source, line=1)
    return UserError("no data rows after the header", path=cols.source, line=2)


# --- texts ------------------------------------------------------------------------------------------

def _texts(cols: Columns, spec: LabelSpec, fields: list[str]) -> list[str]:
    columns = [cols.data[f] for f in fields]
    for f, values in zip(fields, columns):
        for i, v in enumerate(values):
            if v is not None and not isinstance(v, str):
                shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
                raise cols.error(i, f"column {f!r} holds {type(v).__name__} {shown}, expected text")
    if not spec.text_template:
        texts = columns[0]
        for i, t in enumerate(texts):
            if t is None or not t.strip():
                raise cols.error(i, f"empty text in column {fields[0]!r}")
        return texts
    out = []
    template = spec.text_template
    for i, row in enumerate(zip(*columns)):
        text = template.format_map({f: "" if v is None else v for f, v in zip(fields, row)})
        if not text.strip() or all(v is None or not v.strip() for v in row):
            raise cols.error(i, f"empty text: every column of data.text_template ({', '.join(fields)}) is empty")
        out.append(text)
    return out


# --- form (a): 0/1 columns ----------------------------------------------------------------------------

def _binary_columns(cols: Columns, spec: LabelSpec) -> list[list[int]]:
    words = {k.strip().lower(): v for k, v in spec.label_values.items()}
    accepted = "0 or 1" + (f" (or {', '.join(repr(k) for k in spec.label_values)})" if words else "")
    per_label = []
    for name, column in spec.columns.items():
        out = []
        for i, v in enumerate(cols.data[column]):
            bit = _bit(v, words)
            if bit is None:
                if v is None or (isinstance(v, str) and not v.strip()):
                    raise cols.error(i, f"column {column!r} (label {name!r}) has no value; expected {accepted}")
                hint = "" if words else "; other words for 1 and 0 go in data.label_values, e.g. { yes = 1, no = 0 }"
                raise cols.error(i, f"column {column!r} (label {name!r}) must be {accepted}, got {v!r}{hint}")
            out.append(bit)
        per_label.append(out)
    return [list(row) for row in zip(*per_label)]


def _bit(v: Any, words: dict[str, int]) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return int(v) if v in (0, 1) else None
    if not isinstance(v, str):
        return None
    s = v.strip().lower()
    if s in words:
        return words[s]
    if s in _TRUE:
        return 1
    if s in _FALSE:
        return 0
    return None


# --- forms (b) and (c): one label column ------------------------------------------------------------

def _label_column(cols: Columns, spec: LabelSpec, train: LabeledTable | None
                  ) -> tuple[list[str], list[list[int]], bool]:
    column = spec.label_column
    values = cols.data[column]
    if spec.separator:
        lists = [_split(cols, i, v, spec) for i, v in enumerate(values)]
        single = False
    elif (train is not None and not train.single_label) or (train is None and any(isinstance(v, list) for v in values)):
        lists = [_as_list(cols, i, v, column) for i, v in enumerate(values)]
        single = False
    else:
        lists = [[_one(cols, i, v, column, cols.unit == "line")] for i, v in enumerate(values)]
        single = True
    _check_kinds(cols, lists, column)
    names = _class_names(cols, lists, spec, train, single)
    index = {n: j for j, n in enumerate(names)}
    matrix = []
    for i, items in enumerate(lists):
        row = [0] * len(names)
        for item in items:
            name = _name(cols, i, item, spec, column)
            if name not in index:
                raise cols.error(i, _unknown(name, column, names, spec, train))
            row[index[name]] = 1
        matrix.append(row)
    if train is None and single and len(names) < 2:
        raise cols.error(0, f"column {column!r} holds one class only ({names[0]!r}) in the training split; "
                            "a classifier needs at least two")
    return names, matrix, single


def _one(cols: Columns, i: int, v: Any, column: str, from_text: bool) -> str | int:
    if v is None or (isinstance(v, str) and not v.strip()):
        raise cols.error(i, f"column {column!r} has no value; expected a class name or id")
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, str):
        s = v.strip()
        if from_text and s.startswith("[") and s.endswith("]"):
            raise cols.error(i, f"column {column!r} holds a list {s[:40]!r}; a list of labels in a CSV or TSV needs "
                                "data.label_separator (e.g. \",\") and items without brackets, or use JSONL / parquet")
        if from_text and (s.isdigit() or (s[:1] == "-" and s[1:].isdigit())):
            return int(s)
        return s
    raise cols.error(i, f"column {column!r} holds {type(v).__name__} {v!r}; expected a class name or integer id")


def _as_list(cols: Columns, i: int, v: Any, column: str) -> list[str | int]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise cols.error(i, f"column {column!r} holds {v!r}; the training split holds lists of labels, "
                            "so every row needs a list (empty for none)")
    return [_one(cols, i, x, column, False) for x in v]


def _split(cols: Columns, i: int, v: Any, spec: LabelSpec) -> list[str | int]:
    if v is None:
        return []
    if isinstance(v, list):
        return [_one(cols, i, x, spec.label_column, False) for x in v]
    if not isinstance(v, str):
        raise cols.error(i, f"column {spec.label_column!r} holds {type(v).__name__} {v!r}; expected labels "
                            f"separated by {spec.separator!r}")
    return [_one(cols, i, x, spec.label_column, True) for x in v.split(spec.separator) if x.strip()]


def _check_kinds(cols: Columns, lists: list[list[str | int]], column: str) -> None:
    """Integer ids and class names do not mix in one column."""
    first: tuple[int, str | int] | None = None
    for i, items in enumerate(lists):
        for item in items:
            if first is None:
                first = (i, item)
            elif isinstance(item, int) != isinstance(first[1], int):
                line = f"{cols.unit} {cols.where[first[0]]}"
                raise cols.error(i, f"column {column!r} mixes integer ids and class names: {item!r} here, "
                                    f"{first[1]!r} at {line}; use one or the other")


def _class_names(cols: Columns, lists: list[list[str | int]], spec: LabelSpec, train: LabeledTable | None,
                 single: bool) -> list[str]:
    if train is not None:
        if train.single_label != single:
            what = "one class per row" if train.single_label else "lists of labels"
            raise cols.header_error(f"column {spec.label_column!r}: the training split holds {what}, this one does not")
        return train.label_names
    if spec.classes:
        return list(spec.classes)
    seen = {item for items in lists for item in items}
    if all(isinstance(x, int) for x in seen):
        return [str(x) for x in sorted(seen)]
    return sorted(str(x) for x in seen)


def _name(cols: Columns, i: int, item: str | int, spec: LabelSpec, column: str) -> str:
    if isinstance(item, int) and spec.classes:
        if not 0 <= item < len(spec.classes):
            raise cols.error(i, f"column {column!r} holds id {item}; data.classes has {len(spec.classes)} names "
                                f"(ids 0 to {len(spec.classes) - 1})")
        return spec.classes[item]
    return str(item)


def _unknown(name: str, column: str, names: list[str], spec: LabelSpec, train: LabeledTable | None) -> str:
    shown = ", ".join(names) if len(names) <= 12 else ", ".join(names[:12]) + ", ..."
    if train is not None and not spec.classes:
        return f"column {column!r}: {name!r} does not occur in the training split (classes: {shown})"
    return f"column {column!r}: {name!r} is not one of data.classes ({shown})"
