"""Every reader of a user's file refuses a path that is not a regular file in one line, at once:
a FIFO (opening it waits for a writer), a device (/dev/zero filled the memory, /dev/urandom never
ended), a folder. The readers share one check (workbench/textfile.py:regular_file)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from workbench.data.chat_jsonl import read_chat_jsonl
from workbench.data.ner import read_ner_file
from workbench.data.tabular import read_columns
from workbench.errors import UserError
from workbench.recipe import load_recipe

READERS: dict[str, Callable[[Path], object]] = {
    **{f"table.{ext}": (lambda p: read_columns(str(p), ["text"])) for ext in ("csv", "tsv", "jsonl", "json", "parquet")},
    "chat.jsonl": lambda p: read_chat_jsonl(p, ["a", "b"]),
    "ner.conll": lambda p: read_ner_file(p),
    "ner.json": lambda p: read_ner_file(p),
    "recipe.toml": lambda p: load_recipe(p),
}


def _fifo(p: Path) -> str:
    os.mkfifo(p)
    return "a FIFO (named pipe)"


def _device(p: Path) -> str:
    p.symlink_to(os.devnull)  # a link to a device is that device
    return "a character device"


@pytest.mark.timeout(60)  # a FIFO opened would hang here for ever
@pytest.mark.parametrize("make", [_fifo, _device], ids=["fifo", "device"])
@pytest.mark.parametrize("name", list(READERS))
def test_a_path_that_is_not_a_regular_file_is_one_line(tmp_path, name, make):
    path = tmp_path / name
    kind = make(path)
    with pytest.raises(UserError) as exc:
        READERS[name](path)
    what = "recipe file" if name == "recipe.toml" else "data file"
    assert str(exc.value) == f"{path}: {what} is {kind}, not a regular file"


@pytest.mark.parametrize("name", ["table.csv", "chat.jsonl", "ner.conll", "recipe.toml"])
def test_a_folder_where_a_file_is_expected(tmp_path, name):
    path = tmp_path / name
    path.mkdir()
    with pytest.raises(UserError) as exc:
        READERS[name](path)
    assert str(exc.value).startswith(f"{path}: ") and "is a directory" in str(exc.value)


@pytest.mark.timeout(60)
def test_the_recipe_list_shows_what_is_not_a_recipe_file_without_opening_it(tmp_path):
    """The app's recipe list reads every *.toml of the recipe folders: a FIFO there hung it, a
    folder named x.toml stopped it with a traceback."""
    from workbench.recipe.catalog import find_recipes

    (tmp_path / "good.toml").write_text('task = "classification"\n[model]\nsource = "tiny:bert"\n', encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.toml")
    (tmp_path / "folder.toml").mkdir()
    entries = {e.path.name: e for e in find_recipes([tmp_path])}
    assert entries["good.toml"].error is None and entries["good.toml"].model == "tiny:bert"
    assert entries["pipe.toml"].error == (f"not a regular file: {tmp_path / 'pipe.toml'}: recipe file is a FIFO (named "
                                          "pipe), not a regular file")
    assert entries["folder.toml"].error == (f"not a regular file: {tmp_path / 'folder.toml'}: recipe file is a "
                                            "directory, not a regular file")
