"""Each example's groups from the recipe's group columns (workbench/data/groups.py), in every form a
tabular source gives them: one name per cell, a JSON / parquet list, a delimited string in a CSV;
values meaning "no group" (fairness.no_group_values, blanks, nulls) leave a row out of that column's
groups. Read through the real tabular reader, so CSV, JSONL and parquet all take the same path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tabular_data import write_file
from workbench.data.groups import group_columns, group_lists, read_groups
from workbench.data.tabular import read_columns
from workbench.errors import UserError
from workbench.recipe.sections import Data, Fairness

ROWS = [
    {"text": "a", "race": "black", "religion": ["muslim", "christian"], "religion_str": "muslim | christian"},
    {"text": "b", "race": "None", "religion": [], "religion_str": ""},
    {"text": "c", "race": " white ", "religion": ["jewish", "n/a", "jewish"], "religion_str": "jewish|N/A|jewish"},
    {"text": "d", "race": "", "religion": ["", "muslim"], "religion_str": " |muslim"},
]
NO_GROUP = Fairness().no_group_values


def _cols(tmp: Path, fmt: str, rows=ROWS, wanted=("race", "religion", "religion_str")):
    path = tmp / f"d.{fmt}"
    write_file(path, fmt, [{k: v for k, v in r.items() if fmt != "csv" or not isinstance(v, list)} for r in rows])
    return read_columns(str(path), list(wanted))


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_one_group_per_cell_trimmed_with_no_group_values_left_out(tmp_path, fmt):
    got = group_lists(read_groups(_cols(tmp_path, fmt), "race", no_group=NO_GROUP))
    assert got == [("black",), (), ("white",), ()]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_list_per_row_from_json_and_parquet(tmp_path, fmt):
    got = group_lists(read_groups(_cols(tmp_path, fmt), "religion", no_group=NO_GROUP))
    assert got == [("muslim", "christian"), (), ("jewish",), ("muslim",)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_delimited_string_per_row_with_data_group_separator(tmp_path, fmt):
    got = group_lists(read_groups(_cols(tmp_path, fmt), "religion_str", separator="|", no_group=NO_GROUP))
    assert got == [("muslim", "christian"), (), ("jewish",), ("muslim",)]


def test_no_group_values_are_the_recipe_s_and_case_blind(tmp_path):
    cols = _cols(tmp_path, "jsonl")
    assert group_lists(read_groups(cols, "race", no_group=[" BLACK"])) == [(), ("None",), ("white",), ()]
    assert "none" in NO_GROUP and "n/a" in NO_GROUP


def test_integer_and_null_groups(tmp_path):
    rows = [{"text": "a", "g": 3}, {"text": "b", "g": None}, {"text": "c", "g": 3}]
    assert group_lists(read_groups(_cols(tmp_path, "jsonl", rows, ("g",)), "g", no_group=NO_GROUP)) == [
        ("3",), (), ("3",)]


def test_a_list_written_into_a_csv_cell_without_a_separator_is_refused(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,religion\na,"[muslim, christian]"\n', encoding="utf-8")
    with pytest.raises(UserError) as e:
        read_groups(read_columns(str(path), ["religion"]), "religion", no_group=NO_GROUP)
    assert str(e.value) == (f"{path}:2: column 'religion' holds a list '[muslim, christian]'; groups in a CSV or TSV "
                            "need data.group_separator (e.g. \"|\") and items without brackets, or use JSONL / parquet")


@pytest.mark.parametrize("value, message", [
    ({"k": 1}, "dict {'k': 1}, expected a group name, a list of group names or names separated by data.group_separator"),
    ([[1]], "list<item: int64> [1] in its list; expected group names")])
def test_a_group_that_is_an_object_is_refused_naming_the_line(tmp_path, value, message):
    rows = [{"text": "a", "g": None}, {"text": "b", "g": value}]
    with pytest.raises(UserError) as e:
        read_groups(_cols(tmp_path, "jsonl", rows, ("g",)), "g", no_group=NO_GROUP)
    assert str(e.value) == f"{tmp_path / 'd.jsonl'}:2: column 'g' holds {message}"


def test_group_field_is_the_older_name_of_group_columns():
    assert group_columns(Data(group_field="target")) == ["target"]
    assert group_columns(Data(group_columns=["race", "religion"])) == ["race", "religion"]
    assert group_columns(Data()) == []
    with pytest.raises(UserError, match="data.group_field is the older name of data.group_columns; set one"):
        group_columns(Data(group_field="target", group_columns=["race"]))
