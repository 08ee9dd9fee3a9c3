"""CSV files of texts with 0/1 label columns (multi-label classification).

Pure standard library: this runs in the CLI before any model loads, so every bad row is
reported as one line naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import UserError
from workbench.textfile import read_text_file

_TRUE = {"1", "1.0"}
_FALSE = {"0", "0.0"}


@dataclass
class LabeledTable:
    path: str
    texts: list[str]
    label_names: list[str]
    # rows x labels, 0/1, in label_names order; None when the file has no label columns (prediction input)
    labels: list[list[int]] | None
    # 1-based line where each row starts (rows may span lines when a text holds a newline)
    lines: list[int]
    ids: list[str] | None = None  # data.id_column's values, when the recipe names one


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
        )


def read_labeled_csv(
    path: str | Path,
    text_column: str,
    label_map: dict[str, str],
    *,
    require_labels: bool = True,
    max_rows: int = 0,
    id_column: str = "",
) -> LabeledTable:
    """Read and validate a CSV. `label_map` maps label name -> column name.

    With require_labels=False (prediction input), label columns are read only if all are present.
    """
    text = read_text_file(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise UserError("file is empty, expected a header row with a text column", path=path, line=1) from None
    except csv.Error as e:
        raise UserError(f"malformed CSV header: {e}", path=path, line=1) from None
    header = [h.strip() for h in header]
    col = {name: i for i, name in enumerate(header)}
    if text_column not in col:
        raise UserError(f"no text column {text_column!r} (columns: {', '.join(header)}); set data.text_column",
                        path=path, line=1)
    missing = [c for c in label_map.values() if c not in col]
    if missing and (require_labels or len(missing) < len(label_map)):
        names = [n for n, c in label_map.items() if c in missing]
        raise UserError(
            f"no label column {missing[0]!r} (for label {names[0]!r}; columns: {', '.join(header)}); "
            "fix data.labels or the file", path=path, line=1)
    with_labels = not missing
    for used in [text_column, *label_map.values()] if with_labels else [text_column]:
        if header.count(used) > 1:
            raise UserError(f"column {used!r} appears {header.count(used)} times in the header", path=path, line=1)
    if id_column and id_column not in col:
        raise UserError(f"no id column {id_column!r} (columns: {', '.join(header)}); fix data.id_column",
                        path=path, line=1)
    label_cols = [(name, col[c], c) for name, c in label_map.items()] if with_labels else []
    ti = col[text_column]
    ii = col[id_column] if id_column else None
    ids: list[str] = []

    texts: list[str] = []
    labels: list[list[int]] = []
    lines: list[int] = []
    prev_end = reader.line_num  # lines the header took
    try:
        for row in reader:
            start = prev_end + 1
            prev_end = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != len(header):
                raise UserError(f"row has {len(row)} fields, the header has {len(header)}", path=path, line=start)
            t = row[ti]
            if not t.strip():
                raise UserError(f"empty text in column {text_column!r}", path=path, line=start)
            if with_labels:
                values = []
                for name, i, cname in label_cols:
                    v = row[i].strip()
                    if v in _TRUE:
                        values.append(1)
                    elif v in _FALSE:
                        values.append(0)
                    else:
                        raise UserError(f"column {cname!r} (label {name!r}) must be 0 or 1, got {row[i]!r}",
                                        path=path, line=start)
                labels.append(values)
            texts.append(t)
            lines.append(start)
            if ii is not None:
                ids.append(row[ii])
            if max_rows and len(texts) >= max_rows:
                break
    except csv.Error as e:
        raise UserError(f"malformed CSV: {e}", path=path, line=reader.line_num) from None
    if not texts:
        raise UserError("no data rows after the header", path=path, line=2)
    return LabeledTable(str(path), texts, list(label_map), labels if with_labels else None, lines,
                        ids if ii is not None else None)
