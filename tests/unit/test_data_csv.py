"""CSV data: reading, validation errors with file and line, splits."""

from __future__ import annotations

import pytest

from workbench.data.labeled import LabelSpec, read_labeled
from workbench.data.splits import holdout_indices
from workbench.errors import UserError
from workbench.recipe import load_recipe
from workbench.tasks import load_splits


def read_labeled_csv(path, text_column, labels, *, id_column="", **kw):
    """A CSV of 0/1 label columns, as the classification task reads it."""
    return read_labeled(str(path), LabelSpec(text_column, columns=dict(labels), id_column=id_column), **kw)


LABELS = {"ad": "advertisement", "tox": "toxicity"}
HEADER = "text,advertisement,toxicity\n"


def csv_error(path, labels=LABELS, text_column="text", **kw) -> str:
    with pytest.raises(UserError) as exc:
        read_labeled_csv(path, text_column, labels, **kw)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


# --- the demo file ----------------------------------------------------------------------------

def test_demo_csv_reads_all_rows(demo_csv, demo_labels):
    t = read_labeled_csv(demo_csv, "text", demo_labels)
    assert len(t) == 1200
    assert len(t.texts) == len(t.labels) == len(t.lines) == 1200
    assert t.label_names == ["advertisement", "irrelevant_content", "non_visitor_rant", "toxicity"]
    assert all(len(row) == 4 and set(row) <= {0, 1} for row in t.labels)
    # Every label occurs in the demo, and not every row is positive.
    for j in range(4):
        assert 0 < sum(row[j] for row in t.labels) < 1200
    assert t.lines[0] == 2
    assert t.lines == sorted(t.lines) and len(set(t.lines)) == 1200
    assert t.path == str(demo_csv)


def test_demo_csv_bom_handled_and_spam_ignored(demo_csv, demo_labels):
    raw = demo_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbftext,")  # the fixture really has a BOM
    t = read_labeled_csv(demo_csv, "text", demo_labels)
    assert not t.texts[0].startswith("\ufeff")
    # The `spam` column is not a label: reading works without naming it, and it is not in the output.
    assert "spam" not in t.label_names
    # Asking for the text column by its plain name worked, so the BOM did not stick to the first header.
    with pytest.raises(UserError) as exc:
        read_labeled_csv(demo_csv, "\ufefftext", demo_labels)
    assert "(columns: text, advertisement, relevance, rant, toxicity, spam)" in str(exc.value)


def test_demo_label_order_follows_mapping(demo_csv, demo_labels):
    t = read_labeled_csv(demo_csv, "text", demo_labels)
    reversed_map = dict(reversed(list(demo_labels.items())))
    r = read_labeled_csv(demo_csv, "text", reversed_map)
    assert r.label_names == list(reversed_map)
    assert [row[::-1] for row in r.labels] == t.labels


# --- mapping, rows and lines ------------------------------------------------------------------

def test_label_mapping_reads_columns_by_name_not_position(write):
    path = write("m.csv", "toxicity,text,advertisement,extra\n1,first,0,x\n0,second,1,y\n")
    t = read_labeled_csv(path, "text", {"tox": "toxicity", "ad": "advertisement"})
    assert t.texts == ["first", "second"]
    assert t.label_names == ["tox", "ad"]
    assert t.labels == [[1, 0], [0, 1]]


def test_float_labels_and_padded_values_accepted(write):
    path = write("f.csv", HEADER + "a,1.0, 0\nb, 0.0,1 \n")
    assert read_labeled_csv(path, "text", LABELS).labels == [[1, 0], [0, 1]]


def test_quoted_newline_keeps_line_numbers(write):
    path = write("q.csv", HEADER + '"first line\nsecond line",1,0\nplain,0,1\n"a\n\nb",0,0\nlast,1,1\n')
    t = read_labeled_csv(path, "text", LABELS)
    assert t.texts == ["first line\nsecond line", "plain", "a\n\nb", "last"]
    assert t.lines == [2, 4, 5, 8]




def test_blank_lines_skipped(write):
    path = write("b.csv", HEADER + "a,1,0\n\nb,0,1\n")
    t = read_labeled_csv(path, "text", LABELS)
    assert t.texts == ["a", "b"]
    assert t.lines == [2, 4]


def test_max_rows(write):
    path = write("m.csv", HEADER + "".join(f"t{i},0,1\n" for i in range(10)))
    t = read_labeled_csv(path, "text", LABELS, max_rows=3)
    assert t.texts == ["t0", "t1", "t2"]


def test_subset_keeps_rows_aligned(write):
    path = write("s.csv", HEADER + "a,1,0\nb,0,1\nc,1,1\n")
    t = read_labeled_csv(path, "text", LABELS).subset([2, 0])
    assert t.texts == ["c", "a"] and t.labels == [[1, 1], [1, 0]] and t.lines == [4, 2]


def test_require_labels_false_without_label_columns(write):
    path = write("p.csv", "id,text\n1,hello\n2,world\n")
    t = read_labeled_csv(path, "text", LABELS, require_labels=False)
    assert t.labels is None
    assert t.texts == ["hello", "world"]
    assert t.label_names == ["ad", "tox"]


def test_require_labels_false_with_label_columns_reads_them(write):
    path = write("p.csv", HEADER + "a,1,0\n")
    assert read_labeled_csv(path, "text", LABELS, require_labels=False).labels == [[1, 0]]


def test_require_labels_false_with_some_label_columns_errors(write):
    path = write("p.csv", "text,advertisement\na,1\n")
    msg = csv_error(path, require_labels=False)
    assert msg.startswith(f"{path}:1: ") and "'toxicity'" in msg


# --- errors -----------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    msg = csv_error(path)
    assert msg == f"{path}: data file not found"


def test_directory_instead_of_file(tmp_path):
    msg = csv_error(tmp_path)
    assert msg.startswith(f"{tmp_path}: ") and "directory" in msg


def test_not_utf8_reports_line(write):
    data = HEADER.encode() + b"fine,0,1\ncaf\xe9 latin-1,1,0\nok,0,0\n"
    path = write("latin.csv", data)
    msg = csv_error(path)
    assert msg.startswith(f"{path}:3: ")
    assert "UTF-8" in msg and "0xe9" in msg


def test_missing_text_column(write):
    path = write("t.csv", "body,advertisement,toxicity\nhello,1,0\n")
    msg = csv_error(path)
    assert msg.startswith(f"{path}:1: ")
    assert "'text'" in msg
    assert "body" in msg  # lists the columns the file has
    assert "data.text_column" in msg


def test_missing_label_column_names_column_and_label(write):
    path = write("l.csv", "text,advertisement,spam\nhello,1,0\n")
    msg = csv_error(path)
    assert msg.startswith(f"{path}:1: ")
    assert "'toxicity'" in msg  # the column
    assert "'tox'" in msg  # the label it is for


def test_label_value_two_names_line_and_column(write):
    path = write("v.csv", HEADER + "a,1,0\nb,0,1\nc,0,2\nd,1,1\n")
    msg = csv_error(path)
    assert msg.startswith(f"{path}:4: ")
    assert "'toxicity'" in msg and "'tox'" in msg and "'2'" in msg
    assert "0 or 1" in msg


@pytest.mark.parametrize("bad", ["yes", "", "-1", "2", "0.5"])
def test_other_label_values_rejected(write, bad):
    path = write("v.csv", HEADER + f"a,{bad},0\n")
    msg = csv_error(path)
    assert msg.startswith(f"{path}:2: ") and "'advertisement'" in msg


@pytest.mark.parametrize("content, line, needles", [
    # a quoted text over three lines, then a bad label: the line of the bad row, not the row count
    (HEADER + '"multi\nline\ntext",1,0\nok,0,1\nbad,0,2\n', 6, ["'toxicity'", "'2'"]),
    (HEADER.replace("\n", "\r\n") + "a,1,0\r\nb,0,1\r\nc,1,5\r\n", 4, []),  # CRLF line ends
    (HEADER + "a,1,0\n   ,0,1\n", 3, ["empty text", "'text'"]),
    (HEADER + "a,1,0\nb,1\n", 3, ["2 fields", "3"]),  # wrong field count
], ids=["quoted-newline-then-bad-label", "crlf", "empty-text", "wrong-field-count"])
def test_bad_row_is_reported_at_its_line(write, content, line, needles):
    path = write("bad.csv", content)
    msg = csv_error(path)
    assert msg.startswith(f"{path}:{line}: ")
    for needle in needles:
        assert needle in msg


def test_empty_file(write):
    path = write("empty.csv", "")
    msg = csv_error(path)
    assert msg.startswith(f"{path}:1: ") and "empty" in msg


def test_bom_only_file_is_empty(write):
    path = write("bom.csv", b"\xef\xbb\xbf")
    assert "empty" in csv_error(path)


def test_header_only(write):
    path = write("h.csv", HEADER)
    msg = csv_error(path)
    assert msg.startswith(f"{path}:2: ") and "no data rows" in msg


# --- splits -----------------------------------------------------------------------------------

def test_holdout_indices_deterministic_disjoint_covering():
    tr, va = holdout_indices(101, 0.2, 7)
    assert (tr, va) == holdout_indices(101, 0.2, 7)
    assert not set(tr) & set(va)
    assert sorted(tr + va) == list(range(101))
    assert len(va) == round(101 * 0.2)
    assert tr == sorted(tr) and va == sorted(va)
    assert holdout_indices(101, 0.2, 8)[1] != va  # the seed matters


def test_holdout_indices_at_least_one_validation_row():
    tr, va = holdout_indices(3, 0.01, 0)
    assert len(va) == 1 and len(tr) == 2


def test_load_splits_with_validation_fraction(demo_recipe, demo_csv, demo_labels):
    r = load_recipe(demo_recipe, ["data.validation_fraction=0.25"])
    s = load_splits(r.values)
    assert len(s.validation) == 300 and len(s.train) == 900
    assert s.test is None
    full = read_labeled_csv(demo_csv, "text", demo_labels)
    # Together the two splits are the whole file, each row once, labels aligned with texts.
    pairs = sorted(zip(s.train.lines + s.validation.lines, s.train.texts + s.validation.texts))
    assert pairs == sorted(zip(full.lines, full.texts))
    assert not set(s.train.lines) & set(s.validation.lines)
    by_line = dict(zip(full.lines, full.labels))
    assert all(by_line[ln] == lab for ln, lab in zip(s.validation.lines, s.validation.labels))
    # Same seed, same split; another seed, another split.
    assert load_splits(r.values).validation.lines == s.validation.lines
    other = load_splits(load_recipe(demo_recipe, ["data.validation_fraction=0.25", "data.split_seed=1"]).values)
    assert other.validation.lines != s.validation.lines


def _values(train, **extra):
    from workbench.recipe.schema import defaults

    base = {**defaults(), "data.labels": dict(LABELS), "data.text_column": "text", "data.max_rows": 0,
            "data.train_file": str(train), "data.validation_file": "", "data.test_file": "",
            "data.validation_fraction": 0.5, "data.split_seed": 42}
    base.update(extra)
    return base


def test_load_splits_with_validation_and_test_files(write):
    train = write("train.csv", HEADER + "a,1,0\nb,0,1\nc,1,1\n")
    val = write("val.csv", HEADER + "v,1,0\n")
    test = write("test.csv", HEADER + "x,0,0\ny,1,0\n")
    s = load_splits(_values(train, **{"data.validation_file": str(val), "data.test_file": str(test)}))
    assert s.train.texts == ["a", "b", "c"]
    assert s.validation.texts == ["v"]
    assert s.test.texts == ["x", "y"]


def test_load_splits_errors_name_the_bad_file(write):
    train = write("train.csv", HEADER + "a,1,0\nb,0,1\n")
    test = write("test.csv", HEADER + "x,0,3\n")
    with pytest.raises(UserError) as exc:
        load_splits(_values(train, **{"data.test_file": str(test)}))
    assert str(exc.value).startswith(f"{test}:2: ")


def test_load_splits_one_row_cannot_hold_out(write):
    train = write("train.csv", HEADER + "a,1,0\n")
    with pytest.raises(UserError, match="at least 2 rows"):
        load_splits(_values(train))


def test_load_splits_fraction_leaving_no_training_rows(write):
    train = write("train.csv", HEADER + "a,1,0\nb,0,1\n")
    with pytest.raises(UserError, match="no training rows"):
        load_splits(_values(train, **{"data.validation_fraction": 0.9}))
