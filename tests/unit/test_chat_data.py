"""Chat JSONL data (hate-speech recipe): reading, one-line errors, label parsing, class and group metrics."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tools.synthetic.hate import GROUPS, LABELS, SYSTEM_PROMPT, generate_records
from workbench.data.chat_jsonl import ChatRecord, GroupFields, parse_label, read_chat_jsonl
from workbench.errors import UserError
from workbench.metrics.classes import class_report

DEMO_DIR = ROOT / "recipes" / "demo" / "data" / "hate"
CLASSES = ["hate", "offensive", "neither"]


def rec(user="some text", answer="hate", system=None, **extra) -> str:
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return json.dumps({"messages": msgs, **extra})


def chat_error(path, labels=CLASSES, **kw) -> str:
    with pytest.raises(UserError) as exc:
        read_chat_jsonl(path, labels, **kw)
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


# --- the demo files ---------------------------------------------------------------------------

@pytest.mark.parametrize("split,n", [("train", 600), ("validation", 90), ("test", 90)])
def test_demo_files_read(split, n):
    recs = read_chat_jsonl(DEMO_DIR / f"{split}.jsonl", CLASSES, groups=GroupFields(("group",)))
    assert len(recs) == n
    assert [r.line for r in recs] == list(range(1, n + 1))
    assert {r.label for r in recs} == set(CLASSES)
    assert {r.group for r in recs} <= set(GROUPS)
    for r in recs:
        assert isinstance(r, ChatRecord)
        assert [m["role"] for m in r.messages] == ["system", "user", "assistant"]
        assert r.messages[0]["content"] == SYSTEM_PROMPT
        assert r.messages[-1]["content"] == r.label
        assert 6 <= len(r.messages[1]["content"].split()) <= 16


def test_demo_train_classes_groups_and_imbalance():
    recs = read_chat_jsonl(DEMO_DIR / "train.jsonl", CLASSES, groups=GroupFields(("group",)))
    by_class = Counter(r.label for r in recs)
    assert all(by_class[c] >= 100 for c in CLASSES)
    assert {r.group for r in recs} == set(GROUPS)
    # hate always has a target; cyclists are over-represented in hate (the fairness trap)
    assert not any(r.label == "hate" and r.group == "none" for r in recs)
    hate_share = {g: sum(r.label == "hate" for r in recs if r.group == g) / sum(r.group == g for r in recs)
                  for g in GROUPS if g != "none"}
    assert max(hate_share, key=hate_share.get) == "cyclists"
    # no text repeats across the splits
    texts = [r.messages[1]["content"] for s in ("train", "validation", "test")
             for r in read_chat_jsonl(DEMO_DIR / f"{s}.jsonl", CLASSES)]
    assert len(texts) == len(set(texts)) == 780


def test_demo_files_are_what_the_generator_writes(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tools.synthetic.hate", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    for split in ("train", "validation", "test"):
        assert (tmp_path / "out" / f"{split}.jsonl").read_bytes() == (DEMO_DIR / f"{split}.jsonl").read_bytes()


def test_generator_deterministic_and_sized():
    a, b = generate_records(50, seed=3), generate_records(50, seed=3)
    assert a == b and len(a) == 50
    assert a != generate_records(50, seed=4)
    assert LABELS == CLASSES
    assert all(r["messages"][-1]["content"] in LABELS and r["group"] in GROUPS for r in a)


def test_generator_cli_sizes(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tools.synthetic.hate", str(tmp_path),
                           "--train", "7", "--validation", "2", "--test", "3", "--seed", "5"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    sizes = {s: len(read_chat_jsonl(tmp_path / f"{s}.jsonl", CLASSES)) for s in ("train", "validation", "test")}
    assert sizes == {"train": 7, "validation": 2, "test": 3}


# --- reading: good input ----------------------------------------------------------------------

def test_read_skips_blank_lines_keeps_line_numbers_and_max_rows(write):
    p = write("d.jsonl", "\n" + rec(answer="Hate.", g="a") + "\n\n  \r\n" + rec(answer="neither", g="") + "\r\n"
              + rec(answer="offensive", g=None) + "\n")
    recs = read_chat_jsonl(p, CLASSES, groups=GroupFields(("g",)))
    assert [(r.line, r.label, r.group) for r in recs] == [(2, "hate", "a"), (5, "neither", None),
                                                         (6, "offensive", None)]
    assert recs[0].messages[-1] == {"role": "assistant", "content": "Hate."}
    assert [r.line for r in read_chat_jsonl(p, CLASSES, max_rows=2)] == [2, 5]
    # without group_field the group is never read
    assert all(r.group is None for r in read_chat_jsonl(p, CLASSES))


def test_records_read_several_group_fields_as_lists_split_and_without_no_group_values(write):
    """data.group_columns of chat JSONL: a name, a list of names, names split by data.group_separator;
    blanks and fairness.no_group_values (any case) are no group; each field's groups apart."""
    p = write("d.jsonl", "\n".join([rec(race="black", faith=["muslim", " christian "]),
                                     rec(race="N/A", faith="jewish|none"), rec(race="", faith=None)]) + "\n")
    fields = GroupFields(("race", "faith"), separator="|", no_group=("none", "n/a"))
    recs = read_chat_jsonl(p, CLASSES, groups=fields)
    assert [r.groups for r in recs] == [{"race": ("black",), "faith": ("muslim", "christian")},
                                        {"race": (), "faith": ("jewish",)}, {"race": (), "faith": ()}]
    assert [r.group for r in recs] == ["black", "N/A", None]  # the first field as written (prediction rows)


def test_read_bom_and_multi_turn(write):
    msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"},
            {"role": "assistant", "content": "a1"}, {"role": "user", "content": "u2"},
            {"role": "assistant", "content": "offensive"}]
    p = write("d.jsonl", b"\xef\xbb\xbf" + json.dumps({"messages": msgs}).encode())
    (r,) = read_chat_jsonl(p, CLASSES)
    assert r.label == "offensive" and len(r.messages) == 5 and r.line == 1


# --- reading: bad input, one line naming file and line ------------------------------------------

GOOD = rec()


@pytest.mark.parametrize("bad,expect", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('"text"', "expected a JSON object"),
    ('{"text": "x"}', "no 'messages' list"),
    ('{"messages": "hi"}', "no 'messages' list"),
    ('{"messages": []}', "'messages' is empty"),
    ('{"messages": ["hi"]}', "message 1 is not an object"),
    ('{"messages": [{"content": "x"}]}', "message 1 has no string 'role'"),
    ('{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": 3}]}',
     "message 2 (role 'assistant') has no string 'content'"),
    ('{"messages": [{"role": "tool", "content": "x"}]}', "unknown role 'tool' (expected one of system, user, assistant)"),
    ('{"messages": [{"role": "system", "content": "x"}, {"role": "assistant", "content": "hate"}]}',
     "no user message"),
    ('{"messages": [{"role": "assistant", "content": "hate"}, {"role": "user", "content": "x"}]}',
     "the last message is from 'user'"),
    (rec(answer="no idea"), "names none of the labels (expected one of: hate, offensive, neither)"),
    (rec(answer="hateful"), "'hateful' names none of the labels"),
])
def test_bad_record_names_file_and_line(write, bad, expect):
    p = write("bad.jsonl", GOOD + "\n\n" + GOOD + "\n" + bad + "\n" + GOOD + "\n")
    msg = chat_error(p)
    assert msg.startswith(f"{p}:4: "), msg
    assert expect in msg, msg


@pytest.mark.parametrize("bad,expect", [
    (rec(), "no group field 'group' in the record; add it or change data.group_columns"),
    (rec(group=3), "group field 'group' must be a string or a list of strings, got 3"),
    (rec(group=["a", 4]), "must be a string or a list of strings"),
])
def test_bad_group_names_file_and_line(write, bad, expect):
    p = write("bad.jsonl", rec(group="a") + "\n" + bad + "\n")
    msg = chat_error(p, groups=GroupFields(("group",)))
    assert msg.startswith(f"{p}:2: ") and expect in msg, msg


def test_empty_and_missing_files(write, tmp_path):
    for content in ("", "\n\n  \n"):
        p = write("empty.jsonl", content)
        msg = chat_error(p)
        assert msg.startswith(f"{p}:1: ") and "file is empty" in msg
    assert "not found" in chat_error(tmp_path / "nope.jsonl")
    bad_utf8 = write("b.jsonl", GOOD.encode() + b"\n\xff\n")
    assert chat_error(bad_utf8).startswith(f"{bad_utf8}:2: not UTF-8")


def test_max_rows_stops_before_a_later_bad_line(write):
    p = write("d.jsonl", GOOD + "\n" + GOOD + "\n{oops\n")
    assert len(read_chat_jsonl(p, CLASSES, max_rows=2)) == 2
    assert chat_error(p).startswith(f"{p}:3: not valid JSON")


# --- parse_label ------------------------------------------------------------------------------

@pytest.mark.parametrize("answer,want", [
    ("hate", "hate"),
    ("Hate.", "hate"),
    ("  HATE!!", "hate"),
    ('"neither"', "neither"),
    (" offensive language", "offensive"),
    ("I think neither", "neither"),
    ("Answer: offensive, not hate", "offensive"),
    ("neither hate nor offensive", "neither"),
    ("hateful", None),
    ("non-hate", None),
    ("offensively", None),
    ("", None),
    ("   ", None),
    ("...", None),
])
def test_parse_label_messy(answer, want):
    assert parse_label(answer, CLASSES) == want


def test_parse_label_prefix_labels_and_multiword():
    labels = ["hate", "hateful", "hate speech", "not_hate"]
    assert parse_label("Hateful!", labels) == "hateful"
    assert parse_label("hate speech, clearly", labels) == "hate speech"
    assert parse_label("hate", labels) == "hate"
    assert parse_label("NOT HATE", labels) == "not_hate"
    assert parse_label("it is not_hate", labels) == "not_hate"
    assert parse_label("this is hateful, hate", labels) == "hateful"  # earliest match wins
    assert parse_label("whatever", labels) is None
    assert parse_label("a+b?", ["a+b", "b"]) == "a+b"  # regex characters in labels are literal
    assert parse_label("x", []) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.lists(st.text(max_size=12), max_size=6))
def test_parse_label_never_raises(answer, labels):
    got = parse_label(answer, labels)
    assert got is None or got in labels


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(CLASSES), st.text(alphabet=" .,!?\"'\t\n", max_size=5),
       st.text(alphabet=" .,!?\"'\t\n", max_size=5))
def test_parse_label_survives_padding_and_case(label, pre, post):
    assert parse_label(pre + label.upper() + post, CLASSES) == label


# --- class_report -----------------------------------------------------------------------------

def test_class_report_hand_computed():
    labels = ["hate", "offensive", "neither"]
    gold = ["hate", "hate", "offensive", "offensive", "offensive", "neither"]
    pred = ["hate", None, "offensive", "hate", "offensive", "neither"]
    per, agg = class_report(gold, pred, labels)
    assert list(per) == labels
    # hate: tp=1, fp=1 (offensive->hate), fn=1 (unparseable): p=1/2 r=1/2 f=1/2
    assert per["hate"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2.0})
    # offensive: tp=2, fp=0, fn=1: p=1 r=2/3 f=0.8
    assert per["offensive"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3.0})
    assert per["neither"] == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1.0})
    assert agg["accuracy"] == pytest.approx(4 / 6)
    assert agg["f1_macro"] == pytest.approx((0.5 + 0.8 + 1.0) / 3)
    assert agg["f1_weighted"] == pytest.approx((2 * 0.5 + 3 * 0.8 + 1 * 1.0) / 6)
    assert agg["precision_macro"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert agg["recall_macro"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    # micro over the classes: tp=4, fp=1, fn=2 -> p=4/5, r=4/6: the unparseable answer costs recall only
    assert agg["f1_micro"] == pytest.approx(2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6))
    assert agg["unparseable"] == 1.0 and agg["unparseable_rate"] == pytest.approx(1 / 6)
    assert agg["examples"] == 6.0
    assert all(isinstance(v, float) for v in agg.values())


def test_class_report_all_parsed_micro_is_accuracy_and_zero_division():
    gold = ["a", "a", "b"]
    pred = ["a", "b", "b"]
    per, agg = class_report(gold, pred, ["a", "b", "c"])
    assert agg["f1_micro"] == pytest.approx(agg["accuracy"]) == pytest.approx(2 / 3)
    assert per["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0.0}
    assert agg["unparseable"] == 0.0
    per, agg = class_report(["a", "b"], [None, None], ["a", "b"])
    assert agg["accuracy"] == 0.0 and agg["f1_macro"] == 0.0 and agg["unparseable_rate"] == 1.0
    with pytest.raises(ValueError):
        class_report(["a"], [], ["a"])
    with pytest.raises(ValueError):
        class_report(["z"], ["a"], ["a"])


# --- per-group false-positive rates of parsed answers (metrics/bias.py, as chat classification calls it) ---

def _answer_bias(gold, pred, groups, positive, **limits):
    """The fairness rows of parsed answers: one-hot gold and predictions (an unparseable answer, None,
    predicts no class), "(any)" the union when several classes are positive."""
    import numpy as np

    from workbench.metrics.bias import UNION, bias_by_class

    names = ["hate", "offensive", "neither"]
    gold_m = np.array([[int(g == n) for n in names] for g in gold])
    pred_m = np.array([[int(p == n) for n in names] for p in pred])
    report = bias_by_class(np.full(gold_m.shape, 1 / 3).tolist(), gold_m.tolist(), pred_m.tolist(), names, positive,
                           {"target": [(g,) if g else () for g in groups]}, union=True, **limits)
    return {r["group"]: r for r in report[UNION if len(positive) > 1 else positive[0]]["groups"]}


def test_group_fpr_hand_computed_with_limit_override():
    gold = ["neither", "offensive", "neither", "hate", "neither", "neither", "neither", "hate", "neither"]
    pred = ["hate", "offensive", None, "hate", "neither", "hate", "neither", "neither", "offensive"]
    groups = ["cyclists", "cyclists", "cyclists", "cyclists", "farmers", "farmers", None, "gamers", "teachers"]
    out = _answer_bias(gold, pred, groups, ["hate"], max_fpr=0.4, fpr_limits={"cyclists": 0.5, "nobody": 0.1})
    assert list(out) == ["cyclists", "farmers", "gamers", "teachers"]  # sorted; None skipped; unknown limit ignored
    # cyclists: negatives = neither, offensive, neither (3); FP = the first only (None is not positive) -> 1/3 <= 0.5
    cyclists = out["cyclists"]
    assert (cyclists["examples"], cyclists["negatives"], cyclists["false_positives"], cyclists["max_fpr"],
            cyclists["flagged"]) == (4, 3, 1, 0.5, 0.0) and cyclists["fpr"] == pytest.approx(1 / 3)
    # farmers: 2 negatives, 1 FP -> 0.5 > default 0.4 -> flagged
    assert (out["farmers"]["fpr"], out["farmers"]["max_fpr"], out["farmers"]["flagged"]) == (0.5, 0.4, 1.0)
    # gamers: only a hate record -> no negatives: no fpr, not flagged, and nothing NaN
    assert "fpr" not in out["gamers"] and out["gamers"]["flagged"] == 0.0 and out["gamers"]["negatives"] == 0
    # teachers: neither predicted offensive is not a positive prediction with positives = [hate]
    assert out["teachers"]["fpr"] == 0.0 and out["teachers"]["flagged"] == 0.0
    json.dumps(out, allow_nan=False)

    both = _answer_bias(gold, pred, groups, ["hate", "offensive"], max_fpr=None, fpr_limits={"teachers": 0.5})
    teachers = both["teachers"]
    assert (teachers["examples"], teachers["negatives"], teachers["false_positives"], teachers["fpr"],
            teachers["max_fpr"], teachers["flagged"]) == (1, 1, 1, 1.0, 0.5, 1.0)
    # no default limit: groups without their own limit get no max_fpr and no flag
    assert "max_fpr" not in both["farmers"] and both["farmers"]["flagged"] == 0.0
    assert both["cyclists"]["negatives"] == 2 and both["cyclists"]["fpr"] == pytest.approx(0.5)
    assert not any(isinstance(v, float) and math.isnan(v) for row in both.values() for v in row.values())



def test_predict_input_may_end_with_the_user_turn_all_or_none(tmp_path):
    from workbench.data.chat_jsonl import GroupFields, read_chat_jsonl

    user = {"role": "user", "content": "you people are great"}
    answer = {"role": "assistant", "content": "neither"}
    f = tmp_path / "new.jsonl"
    f.write_text(json.dumps({"messages": [user]}) + "\n" + json.dumps({"messages": [user, answer, user]}) + "\n")
    recs = read_chat_jsonl(f, ["hate", "neither"], groups=GroupFields(("group",)), answers_optional=True)
    assert [r.label for r in recs] == [None, None] and recs[1].prompt == [user, answer, user]
    with pytest.raises(UserError, match="expected the assistant's answer"):
        read_chat_jsonl(f, ["hate", "neither"])  # training data must have answers
    f.write_text(json.dumps({"messages": [user]}) + "\n" + json.dumps({"messages": [user, answer]}) + "\n")
    with pytest.raises(UserError) as e:
        read_chat_jsonl(f, ["hate", "neither"], answers_optional=True)
    assert str(e.value).startswith(f"{f}:2:") and "give every record its answer" in str(e.value)
    f.write_text(json.dumps({"messages": [user, answer]}) + "\n")
    (rec,) = read_chat_jsonl(f, ["hate", "neither"], answers_optional=True)
    assert rec.label == "neither" and rec.prompt == [user]


def test_unlabelled_chat_records_are_classified_not_scored():
    from workbench.recipe import load_recipe
    from workbench.tasks import get_task

    values = dict(load_recipe(ROOT / "recipes" / "demo" / "hate_speech.toml").values)
    user = {"role": "user", "content": "you people are great"}
    recs = [ChatRecord([user], None, None, 1), ChatRecord([user], None, None, 2)]
    scored = get_task(values).score(recs, ["Neither.", "no idea"], list(values["data.classes"]))
    assert scored.labels == {} and scored.extra == {"scored": False}
    assert scored.aggregates == {"examples": 2.0, "unparseable": 1.0}
    assert [r["predicted"] for r in scored.rows] == ["neither", None] and "label" not in scored.rows[0]


def test_the_base_model_answers_with_its_own_system_prompt(tmp_path):
    """eval.base_system_prompt_file: the base evaluation sees that prompt, the tuned one the trained prompt."""
    from workbench.errors import UserError
    from workbench.recipe import recipe_from_dict
    from workbench.tasks import get_task

    (tmp_path / "simple.txt").write_text("Answer hate or not.")
    (tmp_path / "elaborate.txt").write_text("You are a careful moderator. Read the post. Answer hate or not.")
    raw = {"task": "chat_classification", "model": {"source": "tiny:llama"},
           "data": {"train_file": str(tmp_path / "t.jsonl"), "classes": ["hate", "not"],
                    "system_prompt_file": str(tmp_path / "simple.txt")},
           "eval": {"base_system_prompt_file": str(tmp_path / "elaborate.txt")}}
    task = get_task(recipe_from_dict(raw).values)
    seen = []
    task._answers = lambda model, tok, records: seen.append(task.system) or []
    task.score = lambda records, answers, names, probs=None: None
    for phase in ("base", "tuned", "base"):
        task.evaluate(None, None, [], ["hate", "not"], phase=phase, split="validation")
    assert seen == ["You are a careful moderator. Read the post. Answer hate or not.", "Answer hate or not.",
                    "You are a careful moderator. Read the post. Answer hate or not."]
    # the other tasks refuse it in their checks (workbench validate, every launch, the trainer)
    from workbench.tasks import check_recipe

    for other in ({"task": "classification", "data": {"train_file": "x.csv", "labels": {"a": "a"}}},
                  {"task": "ner", "data": {"train_file": "x.txt"}}):
        with pytest.raises(UserError) as e:
            check_recipe(recipe_from_dict({**raw, **other}))
        assert "eval.base_system_prompt_file gives chat_classification's base model" in str(e.value)
        assert f"task {other['task']} has none" in str(e.value)
