"""`workbench errors` (issue 29 item 1) through the real CLI on finished tiny runs, multi-label (the
encoder demo) and single-label (three synthetic classes): each format, the filters, and the rows and
their order checked against the run folder's prediction files. And the core of the app's Try tab
(actions/try_text.py) on the same runs: its answers are the runs' own tuned and base predictions."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE, workbench
from tests.integration.runs import q
from tools.synthetic.many_classes import recipe_text, write_splits

pytestmark = pytest.mark.slow


def finished(store: Path, *args) -> tuple[Path, str, Path]:
    proc = workbench("run", *args, "--quiet", store=store, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ((run_id, run_dir),) = q(store, "SELECT run_id, run_dir FROM runs WHERE status = 'completed'")
    return store, run_id, Path(run_dir)


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    """(store, run id, folder) of a short encoder demo run (4 labels, multi-label)."""
    return finished(tmp_path_factory.mktemp("errors-multi") / "runs.duckdb", DEMO_RECIPE, "--set", "train.max_steps=4")


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """(store, run id, folder) of a short single-label run of 3 synthetic classes."""
    root = tmp_path_factory.mktemp("errors-single")
    train, validation = write_splits(root / "data", classes=3, per_class=20, validation=40)
    recipe = root / "three.toml"
    recipe.write_text(recipe_text(train, validation, name="three", vocab_size=300, batch_size=16), encoding="utf-8")
    return finished(root / "runs.duckdb", recipe)


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def expected_multi(row: dict) -> tuple[set, set, float] | None:
    """(missed, added, confidence) of a wrong multi-label row, by the rule `errors --help` states."""
    gold, pred, s = set(row["labels"]), set(row["predicted"]), row["scores"]
    if gold == pred:
        return None
    missed, added = gold - pred, pred - gold
    return missed, added, round(max([s[n] for n in added] + [1 - s[n] for n in missed]), 6)


def errors(store: Path, *args) -> list[dict]:
    proc = workbench("errors", *args, "--format", "json", store=store)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_multi_label_rows_are_the_wrong_rows_most_confident_first(multi):
    store, run_id, run_dir = multi
    want = []
    for row in rows_of(run_dir / "predictions_tuned_validation.jsonl"):
        judged = expected_multi(row)
        if judged:
            want.append((row["line"], *judged))
    assert want, "the tiny run got every row right: nothing to list"
    got = errors(store, run_id, "--limit", "0")
    assert len(got) == len(want)
    assert {r["line"]: (set(r["missed"]), set(r["added"]), r["confidence"]) for r in got} == {
        line: (m, a, c) for line, m, a, c in want}
    assert all(set(r["scores"]) == set(r["missed"]) | set(r["added"]) for r in got)
    confidences = [r["confidence"] for r in got]
    assert confidences == sorted(confidences, reverse=True)
    assert got[0]["confidence"] == max(c for *_, c in want)


def test_limit_keeps_the_most_confident(multi):
    store, run_id, _ = multi
    every = errors(store, run_id, "--limit", "0")
    top = errors(store, run_id, "--limit", "3")
    assert top == every[:3]


def test_label_keeps_the_rows_that_missed_or_added_it(multi):
    store, run_id, run_dir = multi
    for label in ("toxicity", "advertisement"):
        want = {row["line"] for row in rows_of(run_dir / "predictions_tuned_validation.jsonl")
                if (j := expected_multi(row)) and label in j[0] | j[1]}
        got = errors(store, run_id, "--label", label, "--limit", "0")
        assert {r["line"] for r in got} == want
        assert all(label in r["missed"] + r["added"] for r in got)


def test_fixed_and_broken_compare_base_with_tuned(multi):
    store, run_id, run_dir = multi
    base = rows_of(run_dir / "predictions_base_validation.jsonl")
    tuned = rows_of(run_dir / "predictions_tuned_validation.jsonl")
    fixed = {b["line"] for b, t in zip(base, tuned) if expected_multi(b) and not expected_multi(t)}
    broken = {t["line"] for b, t in zip(base, tuned) if expected_multi(t) and not expected_multi(b)}
    assert fixed, "tuning fixed nothing: the filter is not exercised"
    got_fixed = errors(store, run_id, "--fixed", "--limit", "0")
    assert {r["line"] for r in got_fixed} == fixed
    base_by_line = {b["line"]: b for b in base}
    assert all(r["predicted"] == ", ".join(base_by_line[r["line"]]["predicted"]) for r in got_fixed)  # the base's
    assert {r["line"] for r in errors(store, run_id, "--broken", "--limit", "0")} == broken
    proc = workbench("errors", run_id, "--fixed", "--broken", store=store)
    assert proc.returncode == 2 and "not allowed with" in proc.stderr


def test_csv_and_table_hold_the_json_rows(multi):
    store, run_id, _ = multi
    every = errors(store, run_id, "--limit", "5")
    proc = workbench("errors", run_id, "--limit", "5", "--format", "csv", store=store)
    assert proc.returncode == 0, proc.stderr
    read = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(read[0]) == ["line", "text", "gold", "predicted", "missed", "added", "answer", "confidence", "scores"]
    assert [(int(r["line"]), r["missed"], r["added"], float(r["confidence"])) for r in read] == [
        (r["line"], "; ".join(r["missed"]), "; ".join(r["added"]), r["confidence"]) for r in every]
    proc = workbench("errors", run_id, "--limit", "5", store=store)
    assert proc.returncode == 0, proc.stderr
    assert f"{run_id} · validation:" in proc.stdout and "mistakes of the tuned model" in proc.stdout
    header = next(line for line in proc.stdout.splitlines() if "gold" in line)
    assert "missed" in header and "added" in header and "answer" not in header
    cells = [line.split("│") for line in proc.stdout.splitlines() if line.startswith("│")]
    shown = [(int(c[1]), float(c[-2])) for c in cells if c[1].strip()]  # a row's first line: its line, confidence
    assert shown == [(r["line"], round(r["confidence"], 3)) for r in every]


def test_single_label_rows_are_gold_and_predicted_class(single):
    store, run_id, run_dir = single
    rows = rows_of(run_dir / "predictions_tuned_validation.jsonl")
    want = {r["line"]: (r["label"], r["predicted"], round(r["scores"][r["predicted"]], 6))
            for r in rows if r["label"] != r["predicted"]}
    assert want, "the tiny run got every row right"
    got = errors(store, run_id, "--limit", "0")
    assert {r["line"]: (r["gold"], r["predicted"], r["confidence"]) for r in got} == want
    assert [r["confidence"] for r in got] == sorted((c for *_, c in want.values()), reverse=True)
    cls = next(iter(want.values()))[1]
    assert {r["line"] for r in errors(store, run_id, "--label", cls, "--limit", "0")} == {
        line for line, (g, p, _) in want.items() if cls in (g, p)}
    proc = workbench("errors", run_id, store=store)
    header = next(line for line in proc.stdout.splitlines() if "gold" in line)
    assert "missed" not in header and "predicted" in header


def test_bad_input_is_one_line_and_exit_2(single, tmp_path):
    store, run_id, run_dir = single
    proc = workbench("errors", run_id, "--split", "test", store=store)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "no tuned predictions on split 'test'" in proc.stderr and "validation" in proc.stderr
    proc = workbench("errors", run_id, "--label", "no_such_class", store=store)
    assert proc.returncode == 2 and "--label no_such_class" in proc.stderr, proc.stderr
    moved = tmp_path / "kept"
    moved.mkdir()
    for p in run_dir.glob("predictions_*.jsonl"):
        p.rename(moved / p.name)
    try:
        proc = workbench("errors", run_id, store=store)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert proc.stderr.strip().count("\n") == 0 and "has no tuned prediction files" in proc.stderr, proc.stderr
    finally:
        for p in moved.iterdir():
            p.rename(run_dir / p.name)


def generated_run(tmp_path, task: str, rows: list[dict]) -> tuple[Path, str]:
    """A finished run folder of a generative task whose tuned prediction file holds `rows` (scored by the
    task's own code: no model needed to judge what a model answered), in a store of its own."""
    from tools.sample_store import T0, write_run
    from workbench.store.db import connect, runs_root
    from workbench.store.ingest import ingest_run

    store = tmp_path / "runs.duckdb"
    run_id = f"{task}-20260921-141320-e003"
    folder = write_run(runs_root(store), run_id, start=T0)
    recipe = folder / "recipe.toml"
    recipe.write_text(recipe.read_text(encoding="utf-8").replace('task = "classification"', f'task = "{task}"'),
                      encoding="utf-8")
    (folder / "predictions_tuned_validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows),
                                                              encoding="utf-8")
    with connect(store) as con:
        ingest_run(con, folder)
    return store, run_id


def test_ner_rows_are_the_entities_missed_and_added_with_the_answer(tmp_path):
    from workbench.data.ner import NerSentence
    from workbench.tasks.ner import score

    records = [NerSentence("John Smith flew to Paris .".split(), ["B-PER", "I-PER", "O", "O", "B-LOC", "O"], 1),
               NerSentence("Acme hired Bob .".split(), ["B-ORG", "O", "B-PER", "O"], 8),
               NerSentence("Bob met Ann in Rome .".split(), ["B-PER", "O", "B-PER", "O", "B-LOC", "O"], 14)]
    answers = ["PER: John Smith; LOC: Paris", "ORG: Acme; PER: Alice", "LOC: Rome; ORG: Ann"]
    store, run_id = generated_run(tmp_path, "ner", score(records, answers, ["LOC", "ORG", "PER"]).rows)
    got = errors(store, run_id)
    # no scores: the most entities missed and added first (line 14: Bob, Ann missed, Ann as ORG added)
    assert [(r["line"], r["missed"], r["added"], r["answer"], r["confidence"]) for r in got] == [
        (14, ["PER: Ann", "PER: Bob"], ["ORG: Ann"], "LOC: Rome; ORG: Ann", None),
        (8, ["PER: Bob"], ["PER: Alice"], "ORG: Acme; PER: Alice", None)]
    assert got[1]["gold"] == "ORG: Acme; PER: Bob" and got[1]["text"] == "Acme hired Bob ."
    assert [r["line"] for r in errors(store, run_id, "--label", "ORG")] == [14]
    proc = workbench("errors", run_id, store=store)
    header = next(line for line in proc.stdout.splitlines() if "gold" in line)
    assert "answer" in header and "missed" in header and "confidence" not in header


def test_chat_rows_are_gold_and_predicted_class_with_the_answer(tmp_path):
    from tests.conftest import ROOT
    from workbench.data.chat_jsonl import ChatRecord
    from workbench.recipe import load_recipe
    from workbench.tasks import get_task

    values = dict(load_recipe(ROOT / "recipes" / "demo" / "hate_speech.toml").values)
    classes = list(values["data.classes"])
    records = [ChatRecord([{"role": "user", "content": f"text {i}"}, {"role": "assistant", "content": gold}], gold,
                          None, i) for i, gold in enumerate(["hate", "neither", "offensive"], 1)]
    rows = get_task(values).score(records, ["Hate.", "hate speech", "I cannot say"], classes).rows
    store, run_id = generated_run(tmp_path, "chat_classification", rows)
    got = errors(store, run_id)
    assert [(r["line"], r["text"], r["gold"], r["predicted"], r["answer"]) for r in got] == [
        (2, "text 2", "neither", "hate", "hate speech"), (3, "text 3", "offensive", "(unparseable)", "I cannot say")]


# --- the app's Try tab's core (actions/try_text.py) on the same finished runs: their base predictions too ---

@pytest.mark.parametrize("which", ["multi", "single"])
def test_try_models_answer_as_the_runs_own_predictions_and_load_each_model_once(which, request):
    from workbench.actions.try_text import TryModels

    store, run_id, run_dir = request.getfixturevalue(which)
    tuned_rows = rows_of(run_dir / "predictions_tuned_validation.jsonl")[:2]
    base_rows = rows_of(run_dir / "predictions_base_validation.jsonl")[:2]
    models = TryModels(store, run_id)
    tuned, base = models.try_text(tuned_rows[0]["text"], base=False)
    assert base is None and models.loads == ["tuned"]  # the base model only when asked for
    for want_tuned, want_base in zip(tuned_rows, base_rows):
        tuned, base = models.try_text(want_tuned["text"])
        assert base is not None
        for got, want in ((tuned, want_tuned), (base, want_base)):  # the base model as the run's base evaluation
            assert got.row["predicted"] == want["predicted"]
            assert got.row["scores"] == pytest.approx(want["scores"], abs=1e-5)
        predicted = tuned.row["predicted"]
        assert tuned.lines[0] == (f"class: {predicted}" if which == "single" else
                                  f"labels: {', '.join(predicted)}" if predicted else "labels: none over the threshold")
    assert models.loads == ["tuned", "base"] and models.loaded == ("tuned", "base")  # kept, loaded once each
    printed = workbench("predict", run_id, "--text", tuned_rows[1]["text"], "--format", "json", store=store, timeout=300)
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == tuned.row  # what `predict --text` prints for the text
    models.release()
    assert models.loaded == ()


def test_try_models_refuse_a_run_without_weights_in_one_line(single, tmp_path):
    import shutil

    from workbench.actions.try_text import TryModels
    from workbench.errors import UserError

    store, run_id, run_dir = single
    copy = tmp_path / "runs" / run_id
    shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns("adapter"))
    shutil.copy(store, tmp_path / "runs.duckdb")
    import duckdb

    with duckdb.connect(str(tmp_path / "runs.duckdb")) as con:
        con.execute("UPDATE runs SET run_dir = ? WHERE run_id = ?", [str(copy), run_id])
    with pytest.raises(UserError) as refused:
        TryModels(tmp_path / "runs.duckdb", run_id)
    assert str(refused.value) == (f"run {run_id} has no trained weights to try: {copy} holds no adapter/ or model/ "
                                  "with labels.json")
