"""A prediction row judged by its task (workbench/tasks/mistakes.py, `workbench errors`): what is a
mistake, its confidence by the rule `errors --help` states, the labels it involves."""

from __future__ import annotations

import pytest

from workbench.tasks import chat_classification, classification, ner
from workbench.tasks.mistakes import columns_in_use, judge_of


@pytest.mark.parametrize("kind, module", [("classification", classification), ("ner", ner),
                                          ("chat_classification", chat_classification)])
def test_each_task_kind_has_its_judge(kind, module):
    assert judge_of(kind) is module.judge_row


def test_single_label_confidence_is_the_wrong_class_score():
    judge = classification.judge_row
    right = judge({"line": 2, "text": "t", "scores": {"a": 0.7, "b": 0.3}, "predicted": "a", "label": "a"})
    assert right.mistake is None and right.labels == {"a", "b"}
    m = judge({"line": 3, "text": "t", "scores": {"a": 0.3, "b": 0.7}, "predicted": "b", "label": "a"}).mistake
    assert m is not None and (m.gold, m.predicted, m.confidence, m.cell, m.about) == ("a", "b", 0.7, ("a", "b"), ("a", "b"))
    assert columns_in_use([m]) == ["line", "text", "gold", "predicted", "confidence", "scores"]


def test_multi_label_confidence_is_the_surest_added_or_missed_label():
    judge = classification.judge_row
    m = judge({"line": 4, "text": "t", "scores": {"a": 0.6, "b": 0.1, "c": 0.9}, "predicted": ["a", "c"],
               "labels": ["b", "c"]}).mistake
    assert m is not None and (m.missed, m.added, m.about) == (("b",), ("a",), ("b", "a"))
    assert m.confidence == pytest.approx(0.9)  # 1 - b's 0.1 beats a's 0.6
    assert m.scores == {"b": 0.1, "a": 0.6}
    # a row of the top-k scores only: a label without its score counts for nothing
    m = judge({"line": 5, "text": "t", "scores": {"a": 0.6}, "scores_top_k": 1, "predicted": ["a"], "labels": ["z"]}).mistake
    assert m is not None and m.confidence == 0.6 and m.missed == ("z",)
    assert judge({"line": 6, "text": "t", "scores": {"a": 0.2}, "predicted": [], "labels": []}).mistake is None
