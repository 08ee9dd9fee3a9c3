"""`workbench data RECIPE`: the real CLI on the demo recipes and on small files with known duplicates,
leakage and an over-length text; lengths in the recipe's own tokens (tiny: as training builds it,
a local folder), in characters when no tokenizer can be had; bad input is one line, status 2."""

from __future__ import annotations

import csv
import json
from collections import Counter

from tests.conftest import DEMO_CSV, ROOT
from workbench.recipe import load_recipe

DEMO = ROOT / "recipes" / "demo"
LONG = "the rain in the north falls on the hills and the rain in the south falls on the sea all day long"  # 22 words


def profile(cli, *args) -> dict:
    proc = cli("data", *args, "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def by_split(p: dict) -> dict[str, dict]:
    return {s["split"]: s for s in p["splits"]}


def counts(split: dict) -> dict[str, int]:
    return {c["label"]: c["count"] for c in split["labels"]}


def test_demo_multilabel_profile_matches_the_csv(cli):
    p = profile(cli, DEMO / "encoder_multilabel.toml")
    assert p["task"] == "classification" and p["lengths_note"] == "lengths in tokens of tiny:distilbert's tokenizer"
    s = by_split(p)
    assert list(s) == ["train", "validation"]  # no test file; validation is the 20% holdout
    assert (s["train"]["rows"], s["validation"]["rows"]) == (960, 240)
    # Every row lands in one split: the label counts of both add up to the CSV's columns.
    with open(DEMO_CSV, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {"advertisement": "advertisement", "irrelevant_content": "relevance", "non_visitor_rant": "rant",
               "toxicity": "toxicity"}
    for label, column in columns.items():
        assert counts(s["train"])[label] + counts(s["validation"])[label] == sum(r[column] == "1" for r in rows)
    assert counts(s["train"]) == {"advertisement": 137, "irrelevant_content": 157, "non_visitor_rant": 141,
                                  "toxicity": 162}
    train = s["train"]
    assert train["labels"][0]["share"] == 137 / 960
    n = train["lengths"]
    assert (n["unit"], n["p50"], n["p90"], n["p95"], n["p99"], n["max"]) == ("tokens", 30, 52, 63, 81, 102)
    assert (n["max_length"], n["truncated"]) == (128, 0)
    assert sum(c for _, _, c in n["bins"]) == 960 and len(n["bins"]) == 10
    # Duplicates: the CSV's repeated texts, split between train, validation and both.
    texts = Counter(r["text"] for r in rows)
    assert sum(c - 1 for c in texts.values()) == 13 + 0 + 4  # within train, within validation, shared
    assert (train["duplicates"]["rows"], train["duplicates"]["texts"]) == (13, 12)
    assert (s["validation"]["duplicates"]["rows"], p["leakage"]["validation"]["rows"]) == (0, 4)
    assert all(ex in texts for ex in p["leakage"]["validation"]["examples"])

    # A shorter max_length truncates the rows over it: at the median (30), fewer than half of train.
    short = by_split(profile(cli, DEMO / "encoder_multilabel.toml", "--set", "model.max_length=30"))["train"]["lengths"]
    assert (short["max_length"], short["truncated"]) == (30, 460)
    assert short["truncated_share"] == 460 / 960


def write_small(tmp_path) -> None:
    rows = [("red apple pie", "food"), ("blue sky today", "weather"), ("red apple pie", "food"),
            ("sunny warm day", "weather"), (LONG, "weather")]
    for name, data in (("train", rows), ("validation", [("blue sky today", "weather"), ("apple sky pie", "food")]),
                       ("test", [("red apple pie", "food"), ("red apple pie", "food"), ("sunny day", "weather")])):
        with open(tmp_path / f"{name}.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows(data)
    (tmp_path / "small.toml").write_text(
        'task = "classification"\n[model]\nsource = "tiny:distilbert"\nmax_length = 16\n[data]\n'
        'train_file = "train.csv"\nvalidation_file = "validation.csv"\ntest_file = "test.csv"\nlabel_column = "label"\n',
        encoding="utf-8")


def test_small_file_exact_counts_in_tokens_of_tiny_then_of_a_local_folder(cli, tmp_path):
    write_small(tmp_path)
    p = profile(cli, tmp_path / "small.toml")
    s = by_split(p)
    assert p["label_word"] == "class" and list(s) == ["train", "validation", "test"]
    assert counts(s["train"]) == {"food": 2, "weather": 3}
    assert [c["share"] for c in s["train"]["labels"]] == [0.4, 0.6]
    # Every word is in the tiny tokenizer's vocabulary (trained on these texts): words + [CLS] + [SEP].
    n = s["train"]["lengths"]
    assert (n["p50"], n["p90"], n["max"], n["truncated"], n["truncated_share"]) == (5, 24, 24, 1, 0.2)
    assert s["validation"]["lengths"]["max"] == 5 and s["validation"]["lengths"]["truncated"] == 0
    assert s["train"]["duplicates"] == {"rows": 1, "texts": 1, "examples": ["red apple pie"]}
    assert s["test"]["duplicates"]["rows"] == 1
    assert p["leakage"]["validation"] == {"rows": 1, "texts": 1, "examples": ["blue sky today"]}
    assert p["leakage"]["test"] == {"rows": 2, "texts": 1, "examples": ["red apple pie"]}

    # The tiny model training built (cached): as a local folder, offline, the same tokens.
    from workbench.models.source import resolve_source

    folder = resolve_source(load_recipe(tmp_path / "small.toml").view, [t for t, _ in csv.reader(
        open(tmp_path / "train.csv", encoding="utf-8"))][1:])
    local = profile(cli, tmp_path / "small.toml", "--set", f'model.source="{folder}"')
    assert local["lengths_note"] == f"lengths in tokens of {folder}'s tokenizer"
    assert by_split(local)["train"]["lengths"] == n

    # The table: the facts in words.
    out = cli("data", tmp_path / "small.toml", timeout=300)
    assert out.returncode == 0, out.stderr
    assert "model.max_length 16 truncates 1 row (20.0%)" in out.stdout
    assert "leakage train → test: 2 rows (1 distinct text)" in out.stdout
    assert "“red apple pie”" in out.stdout and "█" in out.stdout


def test_without_a_tokenizer_lengths_are_characters_in_one_line(cli, tmp_path):
    write_small(tmp_path)
    proc = cli("data", tmp_path / "small.toml", "--set", 'model.source="nobody/no-such-model"', "--json", timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    p = json.loads(proc.stdout)
    assert p["lengths_note"].startswith("lengths in characters: no tokenizer for nobody/no-such-model (")
    n = by_split(p)["train"]["lengths"]
    assert (n["unit"], n["p50"], n["max"], n["truncated"]) == ("characters", 14, len(LONG), None)
    table = cli("data", tmp_path / "small.toml", "--set", 'model.source="nobody/no-such-model"', timeout=300)
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].startswith("small (classification): lengths in characters: no tokenizer for")
    assert "truncates" not in table.stdout


def test_bad_recipe_and_bad_data_are_one_error_line_and_status_2(cli, tmp_path):
    write_small(tmp_path)
    (tmp_path / "validation.csv").write_text("text,label\nfine,food\n,weather\n", encoding="utf-8")
    for args in ((tmp_path / "small.toml",), (tmp_path / "small.toml", "--set", "lora.r=abc"),
                 (tmp_path / "missing.toml",), ("demo/no_such_recipe",)):
        proc = cli("data", *args)
        assert proc.returncode == 2, proc.stdout
        assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "validation.csv:3" in cli("data", tmp_path / "small.toml").stderr  # file and line, as validate says


def test_chat_classification_demo(cli):
    p = profile(cli, "demo/hate_speech")  # a shipped recipe's name
    s = by_split(p)
    assert p["label_word"] == "class" and p["lengths_note"] == "lengths in tokens of tiny:gpt_oss's tokenizer"
    assert {k: v["rows"] for k, v in s.items()} == {"train": 600, "validation": 90, "test": 90}
    assert counts(s["train"]) == {"hate": 150, "offensive": 225, "neither": 225}
    assert counts(s["test"]) == {"hate": 26, "offensive": 31, "neither": 33}
    for split, records in s.items():  # the classes add up to the file's answers
        answers = Counter(json.loads(line)["messages"][-1]["content"]
                          for line in open(DEMO / "data" / "hate" / f"{split}.jsonl", encoding="utf-8"))
        assert counts(records) == {c: answers[c] for c in ("hate", "offensive", "neither")}
    n = s["train"]["lengths"]
    assert (n["p50"], n["max"], n["max_length"], n["truncated"]) == (47, 58, 96, 0)
    assert by_split(profile(cli, "demo/hate_speech", "--set", "model.max_length=48"))["train"]["lengths"][
        "truncated"] == 247


def test_ner_demo_counts_entity_mentions(cli):
    p = profile(cli, DEMO / "qlora_ner.toml")
    s = by_split(p)
    assert p["label_word"] == "entity type"
    assert {k: v["rows"] for k, v in s.items()} == {"train": 600, "validation": 80, "test": 80}
    for split, name in (("train", "train.txt"), ("validation", "valid.txt"), ("test", "test.txt")):
        begins = Counter(line.split()[-1][2:] for line in open(DEMO / "data" / "ner" / name, encoding="utf-8")
                         if line.split() and line.split()[-1].startswith("B-"))
        assert counts(s[split]) == dict(begins)
    assert counts(s["train"]) == {"LOC": 248, "MISC": 215, "ORG": 253, "PER": 268}
    assert s["train"]["labels"][0]["share"] == 248 / (248 + 215 + 253 + 268)  # of the mentions, not the rows
    assert s["train"]["duplicates"]["rows"] == 123
    assert (p["leakage"]["validation"]["rows"], p["leakage"]["validation"]["texts"]) == (13, 4)
    assert "### Instruction" not in "".join(p["leakage"]["validation"]["examples"])  # the sentence is shown
    n = s["train"]["lengths"]
    assert (n["p50"], n["max"], n["truncated"]) == (45, 75, 0)


def test_lengths_are_the_lengths_training_tokenizes():
    """In-process: the profile's token lengths equal the training datasets' unclipped lengths."""
    from workbench.actions.data import recipe_tokenizer, token_lengths
    from workbench.data.encoded import encode
    from workbench.tasks import get_task
    from workbench.tasks.generative import SftDataset

    for recipe in ("encoder_multilabel.toml", "hate_speech.toml", "qlora_ner.toml"):
        values = load_recipe(DEMO / recipe).values
        task = get_task(values)
        splits = task.load_splits()
        tok, note = recipe_tokenizer(task, splits.train)
        assert tok is not None, note
        rows = task.profile_rows(splits.validation, tok)
        if values["task"] == "classification":
            trained = encode(tok, splits.validation, 100_000, cached=False)[0]["length"]
        else:
            trained = [len(item["input_ids"]) for item in SftDataset(tok, task.pairs(splits.validation, tok), 100_000).items]
        assert token_lengths(tok, rows.texts) == trained, recipe
