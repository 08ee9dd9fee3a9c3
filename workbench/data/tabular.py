"""Tabular sources read as columns: the one door for every file format and dataset a recipe names.

CSV, TSV and JSONL are read here line by line, so an error names the line (a CSV row may span
lines when a quoted text holds a newline). JSON, parquet, a Hugging Face hub dataset or a local
dataset folder (`save_to_disk`, or a hub snapshot) go through Hugging Face `datasets` (Arrow,
memory-mapped, cached); an error there names the row (1-based, in file order).

The format comes from the file's extension; `data.format` forces one. TSV is read as the IANA
format (and SST-2, GoEmotions) writes it: fields separated by tabs, no quoting, so a text may
begin with `"`.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.textfile import read_text_file, regular_file

FORMATS = ("csv", "tsv", "jsonl", "json", "parquet")
EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
              ".json": "json", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class DatasetSplit:
    """One split of a hub dataset or a local dataset folder (data.dataset)."""
    dataset: str
    config: str
    split: str
    knob: str = "data.train_split"  # the recipe knob that names the split, for messages

    def __str__(self) -> str:
        config = f"/{self.config}" if self.config else ""
        return f"{self.dataset}{config}[{self.split}]"


Source = str | DatasetSplit


@dataclass
class Columns:
    """The columns of one source that a task asked for, as an Arrow table (memory-mapped for parquet,
    JSON and datasets; built from the parsed lines for CSV, TSV and JSONL), with where each row came
    from. No Python list of all rows is built for an Arrow source."""
    source: str                        # the file, or dataset[split], for messages
    names: list[str]                   # every column the source has, in order
    table: Any                         # pyarrow.Table of the columns asked for (and present)
    where: Any                         # pyarrow int64 array: each row's line (unit "line") or 1-based row ("row")
    unit: str = "line"
    # The memory-mapped datasets.Dataset these rows are (Arrow sources only): tokenizing its own text
    # column keeps the texts out of the process's memory (workbench/data/encoded.py).
    dataset: Any = None

    def __len__(self) -> int:
        return len(self.where)

    def __contains__(self, column: str) -> bool:
        return column in self.table.column_names

    def column(self, name: str):
        return self.table.column(name)

    def error(self, i: int, message: str) -> UserError:
        """A UserError located at row i."""
        at = self.where[i].as_py()
        if self.unit == "line":
            return UserError(message, path=self.source, line=at)
        return UserError(f"row {at}: {message}", path=self.source)

    def header_error(self, message: str) -> UserError:
        return UserError(message, path=self.source, line=1 if self.unit == "line" else None)


def format_of(path: str | Path, forced: str = "") -> str:
    if forced:
        return forced
    suffix = Path(path).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    raise UserError(f"cannot tell the format from the extension {suffix or '(none)'!r}; expected one of "
                    f"{', '.join(sorted(EXTENSIONS))}, or set data.format", path=path)


def read_columns(source: Source, wanted: list[str], *, fmt: str = "", max_rows: int = 0) -> Columns:
    """The `wanted` columns of a source (those it lacks are left out: the caller says what is
    missing, knowing why it wanted them). `max_rows` > 0 stops after that many rows."""
    if isinstance(source, DatasetSplit):
        return _from_dataset(source, wanted, max_rows)
    kind = format_of(source, fmt)
    if kind in ("csv", "tsv"):
        return _read_delimited(source, wanted, tab=kind == "tsv", max_rows=max_rows)
    if kind == "jsonl":
        return _read_jsonl(source, wanted, max_rows)
    return _from_file_dataset(source, kind, wanted, max_rows)


# --- CSV / TSV / JSONL, line by line ---------------------------------------------------------------

def _read_delimited(path: str, wanted: list[str], *, tab: bool, max_rows: int) -> Columns:
    text = read_text_file(path)
    if tab:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
    what = "TSV" if tab else "CSV"
    try:
        header = next(reader)
    except StopIteration:
        raise UserError("file is empty, expected a header row naming the columns", path=path, line=1) from None
    except csv.Error as e:
        raise UserError(f"malformed {what} header: {e}", path=path, line=1) from None
    header = [h.strip() for h in header]
    col = {name: i for i, name in enumerate(header)}
    for used in wanted:
        if header.count(used) > 1:
            raise UserError(f"column {used!r} appears {header.count(used)} times in the header", path=path, line=1)
    picked = [(c, col[c]) for c in wanted if c in col]
    data: dict[str, list[Any]] = {c: [] for c, _ in picked}
    where: list[int] = []
    prev_end = reader.line_num  # lines the header took
    try:
        for row in reader:
            start = prev_end + 1
            prev_end = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) != len(header):
                raise UserError(f"row has {len(row)} fields, the header has {len(header)}"
                                + ("" if tab else "; a text holding commas must be quoted"), path=path, line=start)
            for c, i in picked:
                data[c].append(row[i])
            where.append(start)
            if max_rows and len(where) >= max_rows:
                break
    except csv.Error as e:
        raise UserError(f"malformed {what}: {e}", path=path, line=reader.line_num) from None
    return _from_lists(path, header, data, where)


def _read_jsonl(path: str, wanted: list[str], max_rows: int) -> Columns:
    text = read_text_file(path)
    names: dict[str, None] = {}
    data: dict[str, list[Any]] = {c: [] for c in wanted}
    where: list[int] = []
    # split on "\n" only: JSON strings may hold a raw U+2028, which str.splitlines would break on
    for n, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise UserError(f"not valid JSON ({e.msg} at column {e.colno}); expected one JSON object per line",
                            path=path, line=n) from None
        except (RecursionError, ValueError) as e:
            raise UserError(f"not valid JSON ({str(e).splitlines()[0]})", path=path, line=n) from None
        if not isinstance(obj, dict):
            raise UserError(f"expected a JSON object per line, got {type(obj).__name__}", path=path, line=n)
        for k in obj:
            names.setdefault(k, None)
        for c in wanted:
            data[c].append(obj.get(c))
        where.append(n)
        if max_rows and len(where) >= max_rows:
            break
    # a column no record has is absent (the caller names it); one some records lack holds None there
    return _from_lists(path, list(names), {c: v for c, v in data.items() if c in names}, where)


def _from_lists(path: str, names: list[str], data: dict[str, list[Any]], where: list[int]) -> Columns:
    """Parsed lines as Arrow columns. A column whose values Arrow cannot hold as one type (numbers
    and text, text and lists) is reported at the first row that differs from the first value."""
    import pyarrow as pa

    arrays = {}
    for c, values in data.items():
        try:
            arrays[c] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            raise _mixed(path, c, values, where) from None
    table = pa.table(arrays) if arrays else pa.table({"__rows__": pa.nulls(len(where))}).drop(["__rows__"])
    return Columns(path, names, table, pa.array(where, type=pa.int64()), "line")


def _mixed(path: str, column: str, values: list[Any], where: list[int]) -> UserError:
    def kind(v: Any) -> str:
        if isinstance(v, bool):
            return "true/false"
        if isinstance(v, (int, float)):
            return "numbers"
        if isinstance(v, str):
            return "text"
        return "lists" if isinstance(v, list) else "objects" if isinstance(v, dict) else type(v).__name__

    first = next((i for i, v in enumerate(values) if v is not None), 0)
    for i, v in enumerate(values):
        if v is not None and kind(v) != kind(values[first]):
            return UserError(f"column {column!r} mixes {kind(values[first])} and {kind(v)}: {_short(v)} here, "
                             f"{_short(values[first])} at line {where[first]}; use one or the other", path=path,
                             line=where[i])
    return UserError(f"column {column!r}: values of one kind expected (e.g. an integer too large)", path=path,
                     line=where[first])


def _short(v: Any) -> str:
    text = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


# --- JSON, parquet, datasets: through Hugging Face datasets ----------------------------------------

def _from_file_dataset(path: str, kind: str, wanted: list[str], max_rows: int) -> Columns:
    if Path(path).is_dir():
        raise UserError("data file is a directory (a dataset folder goes in data.dataset)", path=path)
    regular_file(path)
    import datasets

    try:
        ds = datasets.load_dataset(kind, data_files=str(path), split="train")
    except (datasets.exceptions.DatasetGenerationError, ValueError, OSError) as e:
        if "corresponds to no data" in str(e):  # datasets' words for a file without a single row
            raise UserError("no rows", path=path) from None
        raise UserError(f"cannot read as {kind}: {_first_line(e)}", path=path) from None
    return _columns_of(ds, str(path), wanted, max_rows)


def _from_dataset(src: DatasetSplit, wanted: list[str], max_rows: int) -> Columns:
    ds = load_dataset_split(src)
    return _columns_of(ds, str(src), wanted, max_rows)


def load_dataset_split(src: DatasetSplit):
    """A split of data.dataset: a save_to_disk folder, a local hub snapshot, or a hub id (offline:
    the local cache only)."""
    import datasets

    folder = Path(src.dataset)
    try:
        if folder.is_dir() and ((folder / "dataset_dict.json").exists() or (folder / "state.json").exists()):
            loaded = datasets.load_from_disk(str(folder))
            if isinstance(loaded, datasets.DatasetDict):
                if src.split not in loaded:
                    raise UserError(f"{src.knob} {src.split!r}: data.dataset {src.dataset!r} has no such split "
                                    f"(splits: {', '.join(loaded)})")
                return loaded[src.split]
            return _the_one_split(loaded, src)
        return datasets.load_dataset(src.dataset, src.config or None, split=src.split)
    except UserError:
        raise
    except (datasets.exceptions.DatasetNotFoundError, datasets.exceptions.DataFilesNotFoundError,
            ConnectionError, FileNotFoundError) as e:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes") or \
            os.environ.get("HF_DATASETS_OFFLINE", "").lower() in ("1", "true", "yes")
        hint = ("it is not in the local Hugging Face cache and the hub is offline (HF_HUB_OFFLINE); download it once "
                "where there is network, or give a local folder" if offline else _first_line(e))
        raise UserError(f"data.dataset {src.dataset!r} cannot be loaded: {hint}") from None
    except ValueError as e:  # an unknown split or config
        raise UserError(f"data.dataset {str(src)!r}: {_first_line(e)}") from None


ONE_SPLIT = "train"  # what a dataset saved alone (Dataset.save_to_disk) is: the training data
_ONE_SPLIT_HINT = {"data.validation_split": "leave data.validation_split empty to hold out data.validation_fraction of it",
                   "data.test_split": "a test split needs a DatasetDict (DatasetDict.save_to_disk)",
                   "data.train_split": f'set data.train_split = "{ONE_SPLIT}"'}


def _the_one_split(ds, src: DatasetSplit):
    """A dataset folder of one split: the training split, and no other (served as validation or
    test, its rows would be scored as if unseen)."""
    if src.knob == "data.train_split" and src.split == ONE_SPLIT:
        return ds
    raise UserError(f"{src.knob} {src.split!r}: data.dataset {src.dataset!r} holds one split, saved alone "
                    f"(Dataset.save_to_disk): the training data, split '{ONE_SPLIT}'; {_ONE_SPLIT_HINT[src.knob]}")


def _columns_of(ds, source: str, wanted: list[str], max_rows: int) -> Columns:
    import numpy as np
    import pyarrow as pa

    if getattr(ds, "_indices", None) is not None:  # a saved selection of rows: write them out in order
        ds = ds.flatten_indices()
    table = ds.data.table  # memory-mapped: nothing is read until a column is computed on
    if max_rows and max_rows < len(table):
        table = table.slice(0, max_rows)
        ds = ds.take(max_rows)
    present = [c for c in wanted if c in table.column_names]
    return Columns(source, list(ds.column_names), table.select(present),
                   pa.array(np.arange(1, len(table) + 1, dtype=np.int64)), "row", ds)


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]
