"""Classification data in every source format and label form, read the way training reads it
(`load_splits` of a loaded recipe): the same rows give the same table whatever the file format,
and each bad input is one line naming the source, the line or row, and the column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tabular_data import FORMATS, FORMS, NAMES, multi_label, rows, toml_value, write, write_file
from workbench.errors import UserError
from workbench.recipe import load_recipe
from workbench.tasks import load_splits

TRAIN, VALID = rows(40, 1, multi=True), rows(12, 2, multi=True)


def recipe(tmp: Path, data: dict, extra: str = "") -> Path:
    lines = ["task = \"classification\"", "[model]", "source = \"tiny:distilbert\"", "[data]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in data.items()]
    path = tmp / "r.toml"
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def splits_of(tmp: Path, data: dict, extra: str = "", overrides=()):
    return load_splits(load_recipe(recipe(tmp, data, extra), list(overrides)).values)


def error_of(tmp: Path, data: dict, extra: str = "") -> str:
    with pytest.raises(UserError) as exc:
        splits_of(tmp, data, extra)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def expected(r: list[dict], form: str) -> tuple[list[str], list[list[int]]]:
    texts = [f"{x['title']}. {x['body']}" for x in r]
    if multi_label(form):
        return texts, [[int(n in x["topics"]) for n in NAMES] for x in r]
    return texts, [[int(n == x["topic"]) for n in NAMES] for x in r]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("form", list(FORMS))
def test_every_format_and_form_reads_to_the_same_table(tmp_path, fmt, form):
    if form == "list" and fmt in ("csv", "tsv"):
        pytest.skip("a CSV cell holds no list: the delimited form is the CSV way")
    keys = write(tmp_path / "d", fmt, {"train": TRAIN, "validation": VALID})
    s = splits_of(tmp_path, {**keys, "text_template": "{title}. {body}", "id_column": "id", **FORMS[form]})
    assert s.label_names == NAMES
    for table, r in ((s.train, TRAIN), (s.validation, VALID)):
        texts, labels = expected(r, form)
        assert table.texts == texts
        assert table.labels == labels
        assert table.ids == [x["id"] for x in r]
        assert table.single_label is not multi_label(form)
        # where each row came from: lines of text files (a header first in CSV / TSV), else rows
        first = {"csv": 2, "tsv": 2, "jsonl": 1}.get(fmt, 1)
        assert table.lines == list(range(first, first + len(r)))
        assert table.unit == ("line" if fmt in ("csv", "tsv", "jsonl") else "row")
    assert s.label_word == ("label" if multi_label(form) else "class")


def test_holdout_from_a_dataset_folder_and_a_test_split(tmp_path):
    keys = write(tmp_path / "d", "dataset", {"train": TRAIN, "test": VALID})
    s = splits_of(tmp_path, {"dataset": keys["dataset"], "test_split": "test", "text_column": "title",
                             "label_column": "topic"}, overrides=["data.validation_fraction=0.25"])
    assert (len(s.train), len(s.validation), len(s.test)) == (30, 10, 12)
    assert sorted(s.train.lines + s.validation.lines) == list(range(1, 41))


def test_a_dataset_saved_alone_is_the_training_split(tmp_path):
    """`Dataset.save_to_disk` (one split, no DatasetDict) is the training data, its validation held out
    of it; a split knob naming another split of it is refused (it served its rows as every split:
    validation and test the training rows themselves)."""
    import datasets

    folder = tmp_path / "one"
    datasets.Dataset.from_list(TRAIN).save_to_disk(str(folder))
    data = {"dataset": str(folder), "text_column": "title", "label_column": "topic"}
    s = splits_of(tmp_path, data)
    assert (len(s.train), len(s.validation), s.test) == (32, 8, None)
    assert sorted(s.train.lines + s.validation.lines) == list(range(1, 41))  # no row in both
    one = f"data.dataset '{folder}' holds one split, saved alone (Dataset.save_to_disk): the training data, split 'train'"
    for knob, split, hint in (
            ("validation_split", "validation", "leave data.validation_split empty to hold out data.validation_fraction of it"),
            ("test_split", "test", "a test split needs a DatasetDict (DatasetDict.save_to_disk)"),
            ("train_split", "all", 'set data.train_split = "train"')):
        assert error_of(tmp_path, {**data, knob: split}) == f"data.{knob} '{split}': {one}; {hint}"


def test_a_split_the_dataset_lacks_is_refused_naming_those_it_has(tmp_path):
    keys = write(tmp_path / "d", "dataset", {"train": TRAIN, "test": VALID})
    msg = error_of(tmp_path, {"dataset": keys["dataset"], "validation_split": "validation", "label_column": "topic"})
    assert msg == f"data.validation_split 'validation': data.dataset '{keys['dataset']}' has no such split (splits: train, test)"


def test_booleans_and_label_values(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"text": "a", "x": true, "y": "No", "z": 1}\n{"text": "b", "x": false, "y": "yes", "z": 0.0}\n'
                    '{"text": "c", "x": true, "y": "no", "z": 1}\n', encoding="utf-8")
    s = splits_of(tmp_path, {"train_file": str(path), "validation_file": str(path), "label_columns": ["x", "y", "z"],
                             "label_values": {"yes": 1, "no": 0}})
    assert s.train.labels == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
    path.write_text('{"text": "a", "x": true}\n{"text": "b", "x": 1}\n', encoding="utf-8")
    msg = error_of(tmp_path, {"train_file": str(path), "label_columns": ["x"]})
    assert msg.startswith(f"{path}:2: ") and "mixes true/false and numbers" in msg and "line 1" in msg


def test_integer_ids_without_classes_are_named_by_number_in_numeric_order(tmp_path):
    path = tmp_path / "i.csv"
    path.write_text("text,label\na,10\nb,2\nc,2\nd,10\n", encoding="utf-8")
    s = splits_of(tmp_path, {"train_file": str(path), "validation_file": str(path), "label_column": "label"})
    assert s.label_names == ["2", "10"] and s.train.labels == [[0, 1], [1, 0], [1, 0], [0, 1]]


def test_tsv_is_read_without_quoting_like_sst2(tmp_path):
    path = tmp_path / "s.tsv"
    path.write_text('sentence\tlabel\n" a quote opens , never closes\t1\nplain , text\t0\n', encoding="utf-8")
    s = splits_of(tmp_path, {"train_file": str(path), "validation_file": str(path), "text_column": "sentence",
                             "label_column": "label", "classes": ["negative", "positive"]})
    assert s.train.texts == ['" a quote opens , never closes', "plain , text"]
    assert s.train.labels == [[0, 1], [1, 0]]


def test_format_forced_for_an_unknown_extension(tmp_path):
    path = tmp_path / "data.txt"
    write_file(path, "jsonl", TRAIN[:5])
    base = {"train_file": str(path), "validation_file": str(path), "text_column": "body", "label_column": "topic"}
    assert "data.format" in error_of(tmp_path, base)
    assert len(splits_of(tmp_path, {**base, "format": "jsonl"}).train) == 5


# --- bad input: one line, the source, the line or row, the column ---------------------------------

def _csv(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_class_validation_has_that_training_lacks(tmp_path):
    train = _csv(tmp_path, "t.csv", "text,label\na,hate\nb,normal\n")
    valid = _csv(tmp_path, "v.csv", "text,label\nc,normal\nd,offensive\n")
    msg = error_of(tmp_path, {"train_file": train, "validation_file": valid, "label_column": "label"})
    assert msg.startswith(f"{valid}:3: ") and "'offensive'" in msg and "training split" in msg and "hate" in msg


def test_a_label_column_mixing_ids_and_names(tmp_path):
    path = _csv(tmp_path, "m.jsonl", '{"text": "a", "label": "hate"}\n\n{"text": "b", "label": 2}\n')
    msg = error_of(tmp_path, {"train_file": path, "label_column": "label"})
    assert msg.startswith(f"{path}:3: ") and "mixes text and numbers" in msg and "line 1" in msg


def test_a_template_naming_a_missing_column(tmp_path):
    path = _csv(tmp_path, "t.csv", "title,body,label\na,b,x\nc,d,y\n")
    msg = error_of(tmp_path, {"train_file": path, "label_column": "label", "text_template": "{title}: {summary}"})
    assert msg.startswith(f"{path}:1: ") and "'summary'" in msg and "data.text_template" in msg


@pytest.mark.parametrize("template, needle", [("{}", "positional"), ("{a.b}", "attribute"), ("no fields", "names no column"),
                                              ("{unclosed", "expected '}'")])
def test_a_bad_template_is_refused_with_the_recipe_line(tmp_path, template, needle):
    path = _csv(tmp_path, "t.csv", "text,label\na,x\n")
    from workbench.tasks import check_recipe

    with pytest.raises(UserError) as exc:
        check_recipe(load_recipe(recipe(tmp_path, {"train_file": path, "label_column": "label",
                                                   "text_template": template})))
    msg = str(exc.value)
    assert msg.startswith(f"{tmp_path / 'r.toml'}:") and "data.text_template" in msg and needle in msg.lower()


def test_empty_splits(tmp_path):
    path = _csv(tmp_path, "h.csv", "text,label\n")
    msg = error_of(tmp_path, {"train_file": path, "label_column": "label"})
    assert msg == f"{path}:2: no data rows after the header"
    import datasets

    pq = tmp_path / "e.parquet"
    datasets.Dataset.from_dict({"text": [], "label": []}).to_parquet(str(pq))
    assert error_of(tmp_path, {"train_file": str(pq), "label_column": "label"}) == f"{pq}: no rows"


def test_a_text_column_that_is_not_text(tmp_path):
    import datasets

    pq = tmp_path / "n.parquet"
    datasets.Dataset.from_dict({"text": [1, 2, 3], "label": ["a", "b", "a"]}).to_parquet(str(pq))
    msg = error_of(tmp_path, {"train_file": str(pq), "label_column": "label"})
    assert msg.startswith(f"{pq}: row 1: ") and "'text'" in msg and "int" in msg and "expected text" in msg


def test_a_list_label_in_a_csv_without_a_separator(tmp_path):
    path = _csv(tmp_path, "l.csv", 'text,labels\na,"[food, tech]"\n')
    msg = error_of(tmp_path, {"train_file": path, "label_column": "labels"})
    assert msg.startswith(f"{path}:2: ") and "data.label_separator" in msg


def test_an_empty_label_cell_is_a_missing_value(tmp_path):
    path = _csv(tmp_path, "e.csv", "text,a,b\nx,1,0\ny,,1\n")
    msg = error_of(tmp_path, {"train_file": path, "label_columns": ["a", "b"]})
    assert msg.startswith(f"{path}:3: ") and "no value" in msg and "''" not in msg
    path = _csv(tmp_path, "c.csv", "text,label\nx,hate\ny,\n")
    msg = error_of(tmp_path, {"train_file": path, "label_column": "label"})
    assert msg.startswith(f"{path}:3: ") and "no value" in msg


def test_a_word_that_is_not_in_label_values(tmp_path):
    path = _csv(tmp_path, "w.csv", "text,a\nx,yes\ny,maybe\n")
    msg = error_of(tmp_path, {"train_file": path, "label_columns": ["a"], "label_values": {"yes": 1, "no": 0}})
    assert msg.startswith(f"{path}:3: ") and "'maybe'" in msg and "'yes'" in msg
    msg = error_of(tmp_path, {"train_file": path, "label_columns": ["a"]})
    assert msg.startswith(f"{path}:2: ") and "data.label_values" in msg  # a hint where no words are mapped


def test_one_class_only_and_ids_beyond_classes(tmp_path):
    path = _csv(tmp_path, "o.csv", "text,label\nx,a\ny,a\n")
    assert "at least two" in error_of(tmp_path, {"train_file": path, "label_column": "label"})
    path = _csv(tmp_path, "i.csv", "text,label\nx,0\ny,3\n")
    msg = error_of(tmp_path, {"train_file": path, "label_column": "label", "classes": ["neg", "pos"]})
    assert msg.startswith(f"{path}:3: ") and "id 3" in msg and "ids 0 to 1" in msg


def test_knobs_that_do_not_fit_the_label_form(tmp_path):
    path = _csv(tmp_path, "k.csv", "text,label\nx,a\ny,b\n")
    data = {"train_file": path, "label_column": "label"}
    msg = error_of(tmp_path, data, "[eval]\ntune_thresholds = true\n")
    assert "eval.tune_thresholds" in msg and "one class per row" in msg
    msg = error_of(tmp_path, data, "[train]\nbest_metric = \"f1_samples\"\n")
    assert "f1_samples" in msg
    msg = error_of(tmp_path, data, "[train]\nclass_weights = { c = 2.0 }\n")
    assert "train.class_weights" in msg and "'c'" in msg and "a, b" in msg
    from workbench.tasks import check_recipe

    for bad, needle in (({"label_column": "label", "labels": {"a": "label"}}, "not both"),
                        ({"labels": {"a": "label"}, "label_separator": ","}, "set data.label_column"),
                        ({"label_column": "label", "label_values": {"yes": 1}}, "0/1 label columns")):
        with pytest.raises(UserError) as exc:
            check_recipe(load_recipe(recipe(tmp_path, {"train_file": path, **bad})))
        assert needle in str(exc.value)


def test_class_weights_balanced(tmp_path):
    from workbench.tasks.classification import class_weights

    path = _csv(tmp_path, "w.csv", "text,label,a\n" + "x,p,1\n" * 3 + "y,q,0\n")
    single = splits_of(tmp_path, {"train_file": path, "validation_file": path, "label_column": "label"}).train
    assert class_weights("balanced", single) == pytest.approx([4 / (2 * 3), 4 / (2 * 1)])
    multi = splits_of(tmp_path, {"train_file": path, "validation_file": path, "label_columns": ["a"]}).train
    assert class_weights("balanced", multi) == pytest.approx([1 / 3])  # negatives / positives
    assert class_weights({"q": 5.0}, single) == [1.0, 5.0]
    assert class_weights({}, single) is None


def test_predictions_name_the_class_for_single_label(tmp_path):
    import numpy as np

    from workbench.tasks.classification import prediction_rows

    path = _csv(tmp_path, "p.csv", "text,label\nx,b\ny,a\n")
    table = splits_of(tmp_path, {"train_file": path, "validation_file": path, "label_column": "label"}).train
    got = prediction_rows(table, np.array([[0.2, 0.8], [0.6, 0.4]]), 0.5)
    assert [(r["line"], r["predicted"], r["label"]) for r in got] == [(2, "b", "b"), (3, "a", "a")]
    assert json.loads(json.dumps(got[0]))["scores"] == {"a": 0.2, "b": 0.8}


# data.label_map renames label values before the class lookup: food -> meal, tech -> gadgets; sports,
# which the map lacks, keeps its name. The names sort to gadgets (tech), meal (food), sports.
RENAMED = ["gadgets", "meal", "sports"]
MAPS = {"class": {"label_column": "topic", "label_map": {"food": "meal", "tech": "gadgets"}},
        "class_id": {"label_column": "topic_id", "label_map": {"0": "meal", "1": "sports", "2": "gadgets"}},
        "list": {"label_column": "topics", "label_map": {"food": "meal", "tech": "gadgets"}},
        "delimited": {"label_column": "topics_str", "label_separator": "|",
                      "label_map": {"food": "meal", "tech": "gadgets"}}}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("form", list(MAPS))
def test_label_map_renames_the_label_column_values_in_every_format(tmp_path, fmt, form):
    if form == "list" and fmt in ("csv", "tsv"):
        pytest.skip("a CSV cell holds no list: the delimited form is the CSV way")
    keys = write(tmp_path / "d", fmt, {"train": TRAIN, "validation": VALID})
    s = splits_of(tmp_path, {**keys, **MAPS[form]})
    assert s.label_names == RENAMED
    order = ["tech", "food", "sports"]  # the topic each renamed class stands for
    for table, r in ((s.train, TRAIN), (s.validation, VALID)):
        want = [[int(t in (x["topics"] if multi_label(form) else [x["topic"]])) for t in order] for x in r]
        assert table.labels == want


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_label_map_makes_davidson_s_three_class_ids_two_classes(tmp_path, fmt):
    """Davidson's `class`: 0 hate, 1 offensive -> toxic, 2 neither -> not_toxic (ints in JSONL and
    parquet, digits in a CSV)."""
    r = [{"tweet": f"t{i}", "class": i % 3} for i in range(9)]
    path = tmp_path / f"d.{fmt}"
    write_file(path, fmt, r)
    s = splits_of(tmp_path, {"train_file": str(path), "validation_file": str(path), "text_column": "tweet",
                             "label_column": "class", "label_map": {"0": "toxic", "1": "toxic", "2": "not_toxic"}})
    assert s.label_names == ["not_toxic", "toxic"] and s.train.single_label
    assert s.train.labels == [[0, 1], [0, 1], [1, 0]] * 3


def test_label_map_needs_a_label_column(tmp_path):
    from workbench.tasks import check_recipe

    path = _csv(tmp_path, "k.csv", "text,a\nx,1\n")
    with pytest.raises(UserError) as exc:
        check_recipe(load_recipe(recipe(tmp_path, {"train_file": path, "label_columns": ["a"],
                                                   "label_map": {"1": "yes"}})))
    assert "data.label_map renames the values of data.label_column" in str(exc.value)
    assert str(exc.value).startswith(f"{tmp_path / 'r.toml'}:")


@pytest.mark.parametrize("fmt", FORMATS)
def test_group_columns_read_in_every_format_for_the_fairness_report(tmp_path, fmt):
    # two group columns: one group per cell, and a list per row (a "|"-delimited string in CSV / TSV)
    def grouped(r: list[dict]) -> list[dict]:
        return [{**row, "race": ["black", "white", "N/A", ""][i % 4],
                 "religion": [["muslim", "jewish"], [], ["muslim"]][i % 3],
                 "religion_str": ["muslim|jewish", "", " muslim "][i % 3]} for i, row in enumerate(r)]

    keys = write(tmp_path / fmt, fmt, {"train": grouped(TRAIN), "validation": grouped(VALID)})
    religion = "religion_str" if fmt in ("csv", "tsv") else "religion"
    more = {"group_separator": "|"} if religion == "religion_str" else {}
    splits = splits_of(tmp_path, {**keys, **FORMS["class"], "group_columns": ["race", religion], **more})
    got = splits.validation.groups
    assert list(got) == ["race", religion]
    assert got["race"] == [[("black",), ("white",), (), ()][i % 4] for i in range(len(VALID))]
    assert got[religion] == [[("muslim", "jewish"), (), ("muslim",)][i % 3] for i in range(len(VALID))]
    assert len(splits.train.groups["race"]) == len(TRAIN)


def test_a_group_column_the_file_lacks_names_the_knob(tmp_path):
    keys = write(tmp_path, "csv", {"train": TRAIN})
    msg = error_of(tmp_path, {**keys, **FORMS["class"], "group_columns": ["race"]})
    assert msg.startswith(f"{keys['train_file']}:1: no group column 'race' (columns: ") and msg.endswith(
        "fix data.group_columns")


def test_classification_refuses_group_field_and_group_columns_together(tmp_path):
    from workbench.tasks import check_recipe

    keys = write(tmp_path, "csv", {"train": TRAIN})
    check_recipe(load_recipe(recipe(tmp_path, {**keys, **FORMS["class"], "group_field": "topic"})))
    with pytest.raises(UserError) as exc:
        check_recipe(load_recipe(recipe(tmp_path, {**keys, **FORMS["class"], "group_field": "topic",
                                                   "group_columns": ["title"]})))
    assert str(exc.value).startswith(f"{tmp_path / 'r.toml'}:") and "data.group_field is the older name" in str(exc.value)


# --- the generative tasks from tables and templates -------------------------------------------------

def test_chat_records_from_a_table(tmp_path):
    import datasets

    from workbench.tasks.chat_classification import read_table_records

    pq = tmp_path / "t.parquet"
    datasets.Dataset.from_dict({"tweet": ["you lot are vile", "nice day", "shut up"], "class": [0, 2, 1],
                                "target": ["farmers", None, "gamers"]}).to_parquet(str(pq))
    values = _chat_recipe(tmp_path, pq).values
    records = read_table_records(str(pq), values)
    assert [r.messages for r in records][0] == [{"role": "user", "content": "Message: you lot are vile"},
                                                {"role": "assistant", "content": "hate"}]
    assert [(r.label, r.group, r.line) for r in records] == [("hate", "farmers", 1), ("neither", None, 2),
                                                             ("offensive", "gamers", 3)]
    unlabelled = read_table_records(str(pq), {**values, "data.label_column": "nope"}, unlabelled=True)
    assert [r.label for r in unlabelled] == [None] * 3 and unlabelled[0].prompt == [
        {"role": "user", "content": "Message: you lot are vile"}]
    bad = tmp_path / "b.csv"
    bad.write_text("tweet,class,target\nhi,hate,x\nyo,rude,y\n", encoding="utf-8")
    with pytest.raises(UserError) as exc:
        read_table_records(str(bad), values)
    assert str(exc.value).startswith(f"{bad}:3: ") and "'rude'" in str(exc.value) and "data.classes" in str(exc.value)


def test_chat_reads_its_answers_through_data_label_map(tmp_path):
    from workbench.tasks import check_recipe
    from workbench.tasks.chat_classification import read_table_records

    train = tmp_path / "t.csv"
    train.write_text("tweet,class,target\nhi,BAD,x\nyo,NOT_BAD,\nho,offensive,\n", encoding="utf-8")
    recipe = _chat_recipe(tmp_path, train, label_map={"BAD": "hate", "NOT_BAD": "neither"})
    check_recipe(recipe)
    assert [r.label for r in read_table_records(str(train), recipe.values)] == ["hate", "neither", "offensive"]


def _chat_recipe(tmp: Path, train: Path, **more):
    data = {"train_file": str(train), "classes": ["hate", "offensive", "neither"], "prompt_template": "Message: {tweet}",
            "label_column": "class", "group_field": "target", **more}
    lines = ['task = "chat_classification"', "[model]", 'source = "tiny:llama"', "[data]",
             *(f"{k} = {toml_value(v)}" for k, v in data.items())]
    path = tmp / "chat.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_recipe(path)


def test_chat_and_ner_refuse_the_keys_they_do_not_read(tmp_path):
    from workbench.tasks import check_recipe

    train = tmp_path / "t.csv"
    train.write_text("tweet,class,target\nhi,hate,x\n", encoding="utf-8")
    check_recipe(_chat_recipe(tmp_path, train))  # the table form passes
    for more, needle in (({"prompt_template": ""}, "data.label_column is not read by task chat_classification; "
                                                   "a table is read with data.prompt_template"),
                         ({"label_column": ""}, "data.label_column names the column holding the answer"),
                         ({"text_template": "{tweet}"}, "data.text_template is not read"),
                         ({"prompt_template": "{0}"}, "positional")):
        with pytest.raises(UserError) as exc:
            check_recipe(_chat_recipe(tmp_path, train, **more))
        assert needle in str(exc.value), str(exc.value)


def test_chat_reads_its_group_from_data_group_columns_or_its_older_name(tmp_path):
    from workbench.tasks import check_recipe
    from workbench.tasks.chat_classification import read_table_records

    train = tmp_path / "t.csv"
    train.write_text("tweet,class,target\nhi,hate,x\nyo,neither,\n", encoding="utf-8")
    for more in ({}, {"group_field": "", "group_columns": ["target"]}):
        recipe = _chat_recipe(tmp_path, train, **more)
        check_recipe(recipe)
        assert [r.group for r in read_table_records(str(train), recipe.values)] == ["x", None]
    with pytest.raises(UserError) as exc:
        check_recipe(_chat_recipe(tmp_path, train, group_columns=["target"]))
    assert "data.group_field is the older name of data.group_columns" in str(exc.value)
    assert "chat.toml" in str(exc.value), str(exc.value)
    # several group columns, as classification reads them: each row's groups per column
    recipe = _chat_recipe(tmp_path, train, group_field="", group_columns=["target", "tweet"])
    check_recipe(recipe)
    assert [r.groups for r in read_table_records(str(train), recipe.values)] == [
        {"target": ("x",), "tweet": ("hi",)}, {"target": (), "tweet": ("yo",)}]


def test_ner_instruction_template(tmp_path):
    from workbench.data.ner import NerSentence
    from workbench.tasks import check_recipe
    from workbench.tasks.ner import NerTask

    conll = tmp_path / "t.txt"
    conll.write_text("Paris NNP B-NP B-LOC\nis VBZ B-VP O\n\nJohn NNP B-NP B-PER\n", encoding="utf-8")

    def ner_recipe(template: str):
        path = tmp_path / "ner.toml"
        path.write_text(f'task = "ner"\n[model]\nsource = "tiny:llama"\n[data]\ntrain_file = "{conll}"\n'
                        f"instruction_template = {json.dumps(template)}\n", encoding="utf-8")
        return load_recipe(path)

    template = "Find the {entity_types} entities in: {sentence}\nAnswer: "
    task = NerTask(ner_recipe(template).values)
    task.label_names([NerSentence(["Paris"], ["B-LOC"], 1)], [NerSentence(["John"], ["B-PER"], 4)])
    ((prompt, answer),) = task.pairs([NerSentence(["Paris", "is"], ["B-LOC", "O"], 1)], None)
    assert prompt == "Find the LOC, PER entities in: Paris is\nAnswer: " and answer == "LOC: Paris"
    default = NerTask(ner_recipe("").values).pairs([NerSentence(["Paris", "is"], ["B-LOC", "O"], 1)], None)[0][0]
    assert "Extract named entities from the sentence: 'Paris is'" in default
    for bad, needle in (("no sentence {entity_types}", "needs {sentence}"), ("{sentence} {types}", "{types}")):
        with pytest.raises(UserError) as exc:
            check_recipe(ner_recipe(bad))
        assert "data.instruction_template" in str(exc.value) and needle in str(exc.value)


def test_a_local_hub_snapshot_folder_by_its_file_names(tmp_path):
    """A dataset repository as `huggingface-cli download` leaves it: data files named by split."""
    folder = tmp_path / "snapshot"
    (folder / "data").mkdir(parents=True)
    write_file(folder / "data" / "train.jsonl", "jsonl", TRAIN)
    write_file(folder / "data" / "validation.jsonl", "jsonl", VALID)
    s = splits_of(tmp_path, {"dataset": str(folder), "validation_split": "validation", "text_column": "body",
                             "label_column": "topics"})
    assert (len(s.train), len(s.validation)) == (len(TRAIN), len(VALID)) and s.label_names == NAMES
    assert s.train.unit == "row" and s.train.path == f"{folder}[train]"
    msg = error_of(tmp_path, {"dataset": str(folder), "validation_split": "dev", "text_column": "body",
                              "label_column": "topics"})
    assert msg.startswith(f"data.dataset '{folder}[dev]'") and "dev" in msg


def test_a_hub_dataset_not_in_the_cache_offline_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    msg = error_of(tmp_path, {"dataset": "nobody-here/no-such-dataset", "label_column": "label"})
    assert msg == ("data.dataset 'nobody-here/no-such-dataset' cannot be loaded: it is not in the local Hugging Face "
                   "cache and the hub is offline (HF_HUB_OFFLINE); download it once where there is network, or give "
                   "a local folder")


def test_prediction_input_without_labels_keeps_the_runs_classes(tmp_path):
    from workbench.data.labeled import LabeledTable, LabelSpec, read_labeled

    path = _csv(tmp_path, "new.csv", "text\nfresh pasta\n")
    known = LabeledTable.known(str(path), ["food", "sports", "tech"], True)  # what labels.json of the run says
    table = read_labeled(str(path), LabelSpec(label_column="topic"), train=known, require_labels=False)
    assert table.label_names == ["food", "sports", "tech"] and table.single_label and table.labels is None
    assert table.texts == ["fresh pasta"] and table.lines == [2]


def test_tokens_from_the_memory_mapped_source_equal_the_in_memory_ones(tmp_path):
    """A parquet text column used as it is is tokenized straight from the source dataset; the
    tokens and labels equal those of the same table tokenized from memory."""
    import dataclasses

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from workbench.data.encoded import encode

    keys = write(tmp_path / "d", "parquet", {"train": TRAIN, "validation": VALID})
    s = splits_of(tmp_path, {**keys, "text_column": "text", "label_column": "topics"}, overrides=[])
    assert s.train.source is not None and s.train.source[1] == "text"
    t = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    t.pre_tokenizer = pre_tokenizers.Whitespace()
    t.train_from_iterator(s.train.texts, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]"]))
    tok = PreTrainedTokenizerFast(tokenizer_object=t, pad_token="[PAD]", unk_token="[UNK]")
    mapped, hit = encode(tok, s.train, 16)
    in_memory, _ = encode(tok, dataclasses.replace(s.train, source=None), 16, cached=False)
    assert not hit and mapped.column_names == in_memory.column_names == ["input_ids", "attention_mask", "length",
                                                                         "labels"]
    assert mapped[:] == in_memory[:]
    assert mapped[0]["labels"] == [float(n in TRAIN[0]["topics"]) for n in NAMES]
    assert encode(tok, s.train, 16)[1]  # the same rows again: from the cache
