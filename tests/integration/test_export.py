"""`workbench export`: a finished run as a folder used without workbench. The real check loads the
export exactly as its model card's snippet says (plain transformers + peft; with --merged plain
transformers alone, in a process that never imports peft) and gets the run's own predictions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE, workbench
from tests.integration.runs import q

pytestmark = pytest.mark.slow

LABELS = ["advertisement", "irrelevant_content", "non_visitor_rant", "toxicity"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(store, run id, run folder) of a finished encoder demo run (20 steps)."""
    store = tmp_path_factory.mktemp("export") / "runs.duckdb"
    proc = workbench("run", str(DEMO_RECIPE), "--quiet", "--set", "train.max_steps=20", store=store, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_id, run_dir, status), = q(store, "SELECT run_id, run_dir, status FROM runs")
    assert status == "completed"
    return store, run_id, Path(run_dir)


def logged_predictions(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "predictions_tuned_validation.jsonl").read_text().splitlines()]
    assert len(rows) == 240  # the demo's validation split
    return rows


def snippet(export: Path) -> str:
    """The Python block of the export's model card."""
    blocks = re.findall(r"```python\n(.*?)```", (export / "README.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, blocks
    return blocks[0]


def store_metrics(store: Path, run_id: str) -> dict:
    """The store's evaluations of the base and tuned models and the label prior, shaped as metrics.json holds them."""
    splits: dict = {}
    for phase, split, label, metric, value in q(
            store, "SELECT phase, split, label, metric, value FROM evals WHERE run_id = ? "
                   "AND phase IN ('base', 'tuned', 'prior') ORDER BY seq", [run_id]):
        entry = splits.setdefault(split, {}).setdefault(phase, {"labels": {}, "aggregates": {}})
        if label == "(all)":
            entry["aggregates"][metric] = value
        else:
            entry["labels"].setdefault(label, {})[metric] = value
    return splits


def assert_same_predictions(results: list, logged: list[dict]) -> None:
    assert len(results) == len(logged)
    for (scores, predicted), row in zip(results, logged):
        assert scores == pytest.approx(row["scores"], abs=1e-5), row["text"]
        assert predicted == row["predicted"], row["text"]


def test_export_of_an_adapter_loads_with_transformers_and_peft_as_the_card_says(demo, tmp_path):
    store, run_id, run_dir = demo
    out = tmp_path / "export"
    proc = workbench("export", run_id, "--output", str(out), store=store)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"exported {run_id}" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no temporary folder left beside it

    names = {p.name for p in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "labels.json", "metrics.json", "recipe.toml", "README.md", "base_model"} <= names
    assert "config.json" not in names  # an adapter, not a model
    # tiny:distilbert has no hub id: its base folder comes along
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in (out / "base_model").iterdir()}
    assert (out / "recipe.toml").read_bytes() == (run_dir / "recipe.toml").read_bytes()

    labels = json.loads((out / "labels.json").read_text())
    run_labels = json.loads((run_dir / "labels.json").read_text())
    assert labels["labels"] == run_labels["labels"] == LABELS
    assert labels["single_label"] is False
    th = run_labels["threshold"]
    assert labels["thresholds"] == dict(zip(LABELS, th if isinstance(th, list) else [th] * len(LABELS)))

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["run_id"] == run_id and metrics["task"] == "classification"
    assert metrics["splits"] == store_metrics(store, run_id)
    assert set(metrics["splits"]["validation"]) == {"base", "tuned", "prior"}
    assert set(metrics["splits"]["validation"]["tuned"]["labels"]) == set(LABELS)
    assert "f1_micro" in metrics["splits"]["validation"]["tuned"]["aggregates"]
    (warnings,), = q(store, "SELECT warnings FROM runs WHERE run_id = ?", [run_id])
    assert metrics["warnings"] == list(warnings or [])

    card = (out / "README.md").read_text()
    for needle in (run_id, "classification", "tiny:distilbert", "base_model/", "r 16", "alpha 32", "`q_lin`",
                   "reviews.csv", "`train.learning_rate` | 0.003", "`train.batch_size` | 16",
                   "`model.max_length` | 128", "`train.seed` | 42", "### validation", "| advertisement |",
                   "f1_micro", "## Thresholds", "PeftModel.from_pretrained", "AutoModelForSequenceClassification",
                   "- rows the run read: 960 train, 240 validation"):  # from the run's log
        assert needle in card, needle

    # The real check: the card's code, run as written, on the validation texts.
    ns: dict = {}
    exec(compile(snippet(out), str(out / "README.md"), "exec"), ns)
    assert type(ns["model"]).__name__ == "PeftModelForSequenceClassification"
    logged = logged_predictions(run_dir)
    assert_same_predictions(ns["predict"](ns["model"], ns["tokenizer"], [r["text"] for r in logged]), logged)


MERGED_CHECK = """
import json, re, sys
code = re.findall(r"```python\\n(.*?)```", open(sys.argv[1], encoding="utf-8").read(), re.S)[0]
ns = {}
exec(compile(code, "README.md", "exec"), ns)
results = ns["predict"](ns["model"], ns["tokenizer"], json.loads(sys.stdin.read()))
assert "peft" not in sys.modules, "the merged model needed peft"
print(json.dumps(results))
"""


def test_merged_export_loads_with_from_pretrained_alone(demo, tmp_path):
    store, run_id, run_dir = demo
    out = tmp_path / "merged"
    out.mkdir()  # an empty folder may be given
    proc = workbench("export", run_id, "--output", str(out), "--merged", store=store)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "labels.json", "metrics.json", "recipe.toml",
            "README.md"} <= names
    assert not names & {"adapter_config.json", "adapter_model.safetensors", "base_model"}
    assert json.loads((out / "metrics.json").read_text())["splits"] == store_metrics(store, run_id)
    code = snippet(out)
    assert "peft" not in code and "AutoModelForSequenceClassification.from_pretrained(EXPORT)" in code

    logged = logged_predictions(run_dir)
    check = subprocess.run([sys.executable, "-c", MERGED_CHECK, str(out / "README.md")],
                           input=json.dumps([r["text"] for r in logged]), capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr
    assert_same_predictions(json.loads(check.stdout.strip().splitlines()[-1]), logged)


def assert_refused(proc, needle: str, parent: Path, before: list[str]) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], proc.stderr
    assert sorted(p.name for p in parent.iterdir()) == before  # nothing written, no temporary folder


def test_bad_input_is_refused_in_one_line_and_writes_nothing(demo, tmp_path):
    store, run_id, _ = demo
    out = tmp_path / "out"

    assert_refused(workbench("export", "no-such-run", "--output", str(out), store=store),
                   "no run 'no-such-run'", tmp_path, [])

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    assert_refused(workbench("export", run_id, "--output", str(taken), store=store),
                   "not an empty folder", tmp_path, ["taken"])
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]

    assert_refused(workbench("export", run_id, "--output", str(out), "--dtype", "bf16", store=store),
                   "--merged", tmp_path, ["taken"])

    # A run that did not complete: its trainer killed as it loads the model.
    failed = workbench("run", str(DEMO_RECIPE), "--quiet", "--set", "train.max_steps=20", store=store,
                       env={"WORKBENCH_KILL_AT": "load"}, timeout=300)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    (failed_id,), = q(store, "SELECT run_id FROM runs WHERE status = 'failed'")
    assert_refused(workbench("export", failed_id, "--output", str(out), store=store),
                   f"run {failed_id} is failed; export needs a completed run", tmp_path, ["taken"])

    # An eval run trained nothing: there is no model of its own to export.
    evaluated = workbench("eval", run_id, "--quiet", store=store, timeout=300)
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    (eval_id,), = q(store, "SELECT run_id FROM runs WHERE kind = 'eval'")
    assert_refused(workbench("export", eval_id, "--output", str(out), store=store),
                   "is an eval run", tmp_path, ["taken"])
