"""workbench/data/profile.py: label counts, length percentiles and histogram, truncation, duplicates
and leakage, from known inputs; and the tasks' `profile_rows` on small real files."""

from __future__ import annotations

from workbench.data.profile import (
    ProfileRows,
    bar,
    duplicates,
    example,
    histogram_lines,
    label_counts,
    leakage,
    length_stats,
    profile_split,
)
from workbench.recipe import load_recipe
from workbench.tasks import get_task


def test_percentiles_are_real_lengths_and_truncation_counts_rows_over_max_length():
    n = length_stats(list(range(100, 0, -1)), "tokens", max_length=95)
    assert (n.p50, n.p90, n.p95, n.p99, n.max) == (50, 90, 95, 99, 100)
    assert (n.truncated, n.truncated_share) == (5, 0.05)  # 96..100; 95 itself fits
    assert n.bins == [(1 + 10 * i, 10 + 10 * i, 10) for i in range(10)]
    # A few distinct lengths: no more bins than values, every row in one bin.
    m = length_stats([7, 7, 7, 9], "tokens", max_length=8)
    assert m.bins == [(7, 7, 3), (8, 8, 0), (9, 9, 1)]
    assert (m.p50, m.p99, m.max, m.truncated) == (7, 9, 9, 1)
    # Characters: nothing is truncated (max_length counts tokens).
    c = profile_split("train", ProfileRows(["ab", "abcd"], [[], []]), [2, 4], label_names=[], unit="characters",
                      max_length=3)
    assert c.lengths.unit == "characters" and c.lengths.truncated is None and c.lengths.max == 4


def test_histogram_lines_scale_bars_to_the_largest_bin():
    lines = histogram_lines(length_stats([1, 1, 1, 1, 1, 1, 2, 2, 2, 2], "tokens"), width=8)
    assert lines == ["1   ████████ 6", "2   █████▍   4"]  # 4/6 of 8 cells: 5 and 3/8
    assert bar(0.5, 4) == "██  " and bar(0.5, 1) == "▌" and bar(1 / 8, 1) == "▏" and bar(0, 3) == "   "


def test_label_counts_rows_having_a_label_or_mentions_of_an_entity_type():
    rows = [["a", "b"], ["a"], [], ["b", "b"]]
    counts = label_counts(rows, ["a", "b", "c"], "rows")
    assert [(c.label, c.count, c.share) for c in counts] == [("a", 2, 0.5), ("b", 2, 0.5), ("c", 0, 0.0)]
    mentions = label_counts([["PER", "PER", "LOC"], [], ["LOC"], ["ORG"]], ["LOC", "PER"], "mentions")
    assert [(c.label, c.count, c.share) for c in mentions] == [("LOC", 2, 0.4), ("PER", 2, 0.4), ("ORG", 1, 0.2)]


def test_duplicates_within_a_split_and_leakage_into_another():
    long = "x" * 100
    d = duplicates(["a", "b", "a", "c", "a", long, long, "b"])
    assert (d.rows, d.texts) == (4, 3)  # "a" twice more, long once, "b" once
    assert d.examples == ["a", "b", "x" * 59 + "…"]  # in order of first appearance, cut to 60 characters
    assert duplicates(["a", "b"]).rows == 0
    leak = leakage(["a", "b", "c"], ["b", "z", "b", "a"], shown=["B!", "Z!", "B!", "A!"])
    assert (leak.rows, leak.texts, leak.examples) == (3, 2, ["B!", "A!"])
    assert example("two\nlines  here") == "two lines here"


def _recipe(tmp_path, body: str):
    path = tmp_path / "r.toml"
    path.write_text(body, encoding="utf-8")
    return load_recipe(path)


def test_classification_rows_give_the_texts_and_each_rows_labels_or_class(tmp_path):
    (tmp_path / "t.csv").write_text("text,a,b\none,1,0\ntwo,1,1\nthree,0,0\n", encoding="utf-8")
    recipe = _recipe(tmp_path, 'task = "classification"\n[model]\nsource = "tiny:bert"\n[data]\ntrain_file = "t.csv"\n'
                     'validation_file = "t.csv"\nlabel_columns = ["a", "b"]\n')
    rows = get_task(recipe.values).profile_rows(get_task(recipe.values).load_splits().train)
    assert rows.texts == ["one", "two", "three"] and rows.labels == [["a"], ["a", "b"], []]
    (tmp_path / "c.csv").write_text("text,label\none,pos\ntwo,neg\n", encoding="utf-8")
    recipe = _recipe(tmp_path, 'task = "classification"\n[model]\nsource = "tiny:bert"\n[data]\ntrain_file = "c.csv"\n'
                     'validation_file = "c.csv"\nlabel_column = "label"\n')
    task = get_task(recipe.values)
    assert task.profile_rows(task.load_splits().validation).labels == [["pos"], ["neg"]]


def test_ner_rows_count_entity_mentions_and_show_the_sentence(tmp_path):
    (tmp_path / "t.txt").write_text("John B-PER\nSmith I-PER\nmet O\nAnn B-PER\nin O\nRome B-LOC\n\n"
                                    "Paris B-LOC\n\n", encoding="utf-8")
    recipe = _recipe(tmp_path, 'task = "ner"\n[model]\nsource = "tiny:llama"\n[data]\ntrain_file = "t.txt"\n'
                     'validation_file = "t.txt"\n')
    task = get_task(recipe.values)
    rows = task.profile_rows(task.load_splits().train)
    assert rows.labels == [["PER", "PER", "LOC"], ["LOC"]] and rows.label_unit == "mentions"
    assert rows.shown == ["John Smith met Ann in Rome", "Paris"]
    assert rows.texts[1].endswith("LOC: Paris") and "'Paris'" in rows.texts[1]  # the prompt and its answer
