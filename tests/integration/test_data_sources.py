"""Your own data, end to end through the real CLI: each source format trains a tiny encoder in one
of the label forms (every format and every form at least once; tests/unit/test_data_forms.py shows
every format x form reads to the same table, so the training path after reading is one), and the
tuned model beats the base model on held-out rows. Then `predict` on another format, the confusion
matrix of a single-label run in the store and in `show`, and SST-2 as distributed through the
sentiment recipe's own header command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.runs import q
from tests.tabular_data import FORMS, NAMES, multi_label, rows, toml_value, write, write_file

pytestmark = pytest.mark.slow
SST2 = ROOT.parent / "shared" / "datasets" / "sst2"

# (format, label form, more [data] / [train] keys): every format once, every form at least once
CASES = [
    ("csv", "columns", {}),
    ("tsv", "class_id", {}),
    ("jsonl", "delimited", {}),
    ("json", "class", {}),
    ("parquet", "list", {"train.class_weights": "balanced", "text_column": "text"}),
    ("dataset", "class", {"test": True}),
]


def recipe_text(data: dict, train: dict) -> str:
    lines = ['task = "classification"', "[model]", 'source = "tiny:distilbert"', "max_length = 32",
             "tiny_vocab_size = 300", "[data]", *(f"{k} = {toml_value(v)}" for k, v in data.items()),
             "[lora]", 'target_modules = ["q_lin", "k_lin", "v_lin"]', "[train]",
             *(f"{k} = {toml_value(v)}" for k, v in {"epochs": 6, "batch_size": 16, "learning_rate": 3e-3,
                                                      "logging_steps": 5, **train}.items())]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("fmt, form, more", CASES, ids=[f"{f}-{m}" for f, m, _ in CASES])
def test_a_format_and_form_trains_and_beats_the_base(tmp_path, cli, fmt, form, more):
    multi = multi_label(form)
    splits = {"train": rows(160, 11, multi=multi), "validation": rows(48, 12, multi=multi)}
    if more.get("test"):
        splits["test"] = rows(30, 13, multi=multi)
    keys = write(tmp_path / "data", fmt, splits)
    if more.get("test"):
        keys["test_split"] = "test"
    train = {k.removeprefix("train."): v for k, v in more.items() if k.startswith("train.")}
    path = tmp_path / "r.toml"
    # the text from a template, or (text_column) a source column as it is: for an Arrow source, the
    # tokens then come from its memory-mapped column (workbench/data/encoded.py)
    text = {"text_column": more["text_column"]} if "text_column" in more else {"text_template": "{title}. {body}"}
    path.write_text(recipe_text({**keys, **text, "id_column": "id", **FORMS[form]}, train), encoding="utf-8")
    proc = cli("run", path, "--quiet", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = tmp_path / "runs.duckdb"
    ((run_id, run_dir, status),) = q(store, "SELECT run_id, run_dir, status FROM runs")
    assert status == "completed"
    agg = {m: (b, t) for m, b, t in q(store, "SELECT metric, base, tuned FROM base_vs_tuned WHERE run_id = ? AND "
                                             "label = '(all)' AND split = 'validation'", [run_id])}
    # Margin: a random head is near chance (f1_macro 0.1-0.45 here); six epochs on cue words reach 0.8+.
    assert agg["f1_macro"][1] >= agg["f1_macro"][0] + 0.25, agg["f1_macro"]
    assert {label for (label,) in q(store, "SELECT DISTINCT label FROM label_metrics WHERE run_id = ?",
                                    [run_id])} == set(NAMES)
    labels = json.loads((Path(run_dir) / "labels.json").read_text())
    assert labels["labels"] == NAMES and labels["single_label"] is not multi
    confusion = q(store, "SELECT split, sum(n) FROM confusion WHERE run_id = ? AND phase = 'tuned' GROUP BY split "
                         "ORDER BY split", [run_id])
    if multi:
        assert confusion == []
    else:
        assert confusion == [(s, len(splits[s])) for s in sorted(splits) if s != "train"]
    if "class_weights" in train:
        logs = "\n".join(m for (m,) in q(store, "SELECT message FROM logs WHERE run_id = ?", [run_id]))
        assert "class weights: food" in logs

    # predict reads any format, whatever the run trained on; rows with labels are scored
    other = tmp_path / ("p.jsonl" if fmt != "jsonl" else "p.csv")
    sample = rows(20, 14, multi=multi)
    write_file(other, other.suffix[1:], sample)
    out = tmp_path / "pred.jsonl"
    proc = cli("predict", run_id, "--input", other, "--output", out, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in got] == [x["id"] for x in sample]
    if multi:
        assert all(isinstance(r["predicted"], list) for r in got)
    else:
        assert all(r["predicted"] in NAMES for r in got) and [r["label"] for r in got] == [x["topic"] for x in sample]
    assert "input has labels" in proc.stdout


def test_show_prints_the_confusion_matrix(tmp_path, cli):
    keys = write(tmp_path / "data", "csv", {"train": rows(120, 21, multi=False), "validation": rows(30, 22, multi=False)})
    path = tmp_path / "r.toml"
    path.write_text(recipe_text({**keys, "text_column": "body", "label_column": "topic"}, {"epochs": 1}),
                    encoding="utf-8")
    assert cli("run", path, "--quiet", timeout=600).returncode == 0
    store = tmp_path / "runs.duckdb"
    ((run_id,),) = q(store, "SELECT run_id FROM runs")
    cells = dict(((g, p), n) for g, p, n in q(store, "SELECT gold, predicted, n FROM confusion WHERE run_id = ? AND "
                                                      "phase = 'tuned' AND split = 'validation'", [run_id]))
    # the cells that are not zero (a missing cell is 0), every one of them a pair of classes
    assert set(cells) <= {(g, p) for g in NAMES for p in NAMES} and min(cells.values()) > 0 and sum(cells.values()) == 30
    out = cli("show", run_id).stdout
    assert "confusion matrix (validation)" in out
    logs = [m for (m,) in q(store, "SELECT message FROM logs WHERE run_id = ? AND message LIKE 'tokens of%'", [run_id])]
    assert logs == ["tokens of the 120 train rows cached", "tokens of the 30 validation rows cached"]
    section = out.split("confusion matrix (validation)", 1)[1].splitlines()
    line = next(ln for ln in section if ln.strip("│┃ ").startswith("food"))
    assert [int(x) for x in line.replace("│", " ").split()[1:]] == [cells.get(("food", p), 0) for p in NAMES]

    # the same rows, tokenizer and max_length again: the tokens come from the cache, not the tokenizer
    assert cli("run", path, "--quiet", timeout=600).returncode == 0
    (again,) = [r for (r,) in q(store, "SELECT run_id FROM runs WHERE run_id <> ?", [run_id])]
    logs = [m for (m,) in q(store, "SELECT message FROM logs WHERE run_id = ? AND message LIKE 'tokens of%'", [again])]
    assert logs == ["tokens of the 120 train rows read from the cache", "tokens of the 30 validation rows read from the cache"]
    assert q(store, "SELECT count(DISTINCT value) FROM evals WHERE metric = 'loss' AND phase = 'tuned'") == [(1,)]


@pytest.mark.skipif(not SST2.is_dir(), reason="../shared/datasets/sst2 is not here (a clone of the project alone)")
def test_the_sentiment_recipe_header_command_reads_sst2_as_distributed(tmp_path, cli):
    """The first line of recipes/sentiment_full_vs_lora.toml, run in a folder holding sst2/ as GLUE
    ships it (TSV, `sentence<TAB>label`), on a tiny DistilBERT (offline) for one short epoch."""
    header = (ROOT / "recipes" / "sentiment_full_vs_lora.toml").read_text().splitlines()[0]
    args = header.removeprefix("# workbench ").split()
    assert args[:2] == ["run", "recipes/sentiment_full_vs_lora.toml"] and "data.train_file=sst2/train.tsv" in args
    shutil.copytree(SST2, tmp_path / "sst2", ignore=shutil.ignore_patterns("train_full.tsv"))
    args[1] = str(ROOT / args[1])
    proc = cli(*args, "--quiet", "--set", "model.source=tiny:distilbert", "--set", "train.max_steps=4",
               "--set", "data.max_rows=64", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = tmp_path / "runs.duckdb"
    runs = q(store, "SELECT method, status FROM runs ORDER BY method")
    assert runs == [("full", "completed"), ("lora", "completed")]
    examples = q(store, "SELECT DISTINCT value FROM evals WHERE metric = 'examples' AND split = 'validation'")
    assert examples == [(64.0,)]  # dev.tsv's first 64 rows (data.max_rows), every one read
    assert {c for (c,) in q(store, "SELECT DISTINCT label FROM label_metrics")} == {"negative", "positive"}


def test_chat_classification_from_a_csv_of_class_ids(tmp_path, cli):
    """The hate-speech demo recipe on its data rewritten as a Davidson-style CSV (a text column, a
    class id, a target-group column) through data.prompt_template and data.label_column."""
    import csv

    demo = ROOT / "recipes" / "demo"
    classes = ["hate", "offensive", "neither"]
    files = {}
    for split in ("train", "validation"):
        records = [json.loads(line) for line in (demo / "data" / "hate" / f"{split}.jsonl").read_text().splitlines()]
        path = tmp_path / f"{split}.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["tweet", "class", "target"])
            for r in records:
                w.writerow([r["messages"][1]["content"], classes.index(r["messages"][2]["content"]), r["group"] or ""])
        files[split] = path
    system = tmp_path / "system.txt"
    system.write_text(json.loads((demo / "data" / "hate" / "train.jsonl").read_text().splitlines()[0])
                      ["messages"][0]["content"], encoding="utf-8")
    sets = {"data.train_file": files["train"], "data.validation_file": files["validation"], "data.test_file": "",
            "data.prompt_template": "Message: {tweet}", "data.label_column": "class", "data.group_field": "target",
            "data.system_prompt_file": system}
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    proc = cli("run", demo / "hate_speech.toml", "--quiet", *args, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = tmp_path / "runs.duckdb"
    ((run_id, run_dir),) = q(store, "SELECT run_id, run_dir FROM runs WHERE status = 'completed'")
    agg = {m: (b, t) for m, b, t in q(store, "SELECT metric, base, tuned FROM base_vs_tuned WHERE run_id = ? AND "
                                             "label = '(all)' AND split = 'validation'", [run_id])}
    # the demo's own margin (tests/integration/test_recipes_end_to_end.py): the same data, another form
    assert agg["f1_macro"][1] >= agg["f1_macro"][0] + 0.5, agg["f1_macro"]
    assert {g for (g,) in q(store, "SELECT DISTINCT grp FROM fairness WHERE run_id = ?", [run_id])} >= {"farmers", "gamers"}
    rows = [json.loads(line) for line in (Path(run_dir) / "predictions_tuned_validation.jsonl").read_text().splitlines()]
    assert rows[0]["input"].startswith("Message: ") and rows[0]["line"] == 2 and rows[0]["label"] in classes
    assert q(store, "SELECT sum(n) FROM confusion WHERE run_id = ? AND phase = 'tuned'", [run_id]) == [(len(rows),)]
