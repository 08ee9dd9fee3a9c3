"""Each demo recipe of the source projects, end to end through the real CLI: real transformers,
peft and bitsandbytes (4-bit NF4 on CPU), tiny random-initialised models, a real DuckDB store.
Each asserts that the tuned model beats the base model on held-out data by a stated margin, and
what the recipe promises besides (fairness rows, seqeval per entity type, tuned thresholds used by
predict, seed groups with mean ± std, full vs LoRA side by side, a merged model without peft)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, workbench
from tests.integration.runs import events_of, q

pytestmark = pytest.mark.slow
DEMO = ROOT / "recipes" / "demo"


def run_demo(tmp_path_factory, name: str, *args: str) -> tuple[Path, list[str], subprocess.CompletedProcess]:
    store = tmp_path_factory.mktemp(name) / "runs.duckdb"
    proc = workbench("run", str(DEMO / f"{name}.toml"), "--quiet", *args, store=store, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = [r for (r,) in q(store, "SELECT run_id FROM runs ORDER BY created_at, run_id")]
    return store, ids, proc


def aggregates(store: Path, run_id: str, split: str = "validation") -> dict[str, tuple[float, float]]:
    return {m: (b, t) for m, b, t in q(store, "SELECT metric, base, tuned FROM base_vs_tuned WHERE run_id = ? AND "
                                              "label = '(all)' AND split = ?", [run_id, split])}


def cli(store: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = workbench(*args, store=store, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


# --- hate speech: chat SFT with QLoRA, class parsed from the answer, fairness ------------------

@pytest.fixture(scope="module")
def hate(tmp_path_factory):
    return run_demo(tmp_path_factory, "hate_speech")


def test_hate_speech_tuned_beats_base_and_reports_fairness(hate):
    store, (run_id,), proc = hate
    status, quantized, optimizer = q(store, "SELECT status, quantized, optimizer FROM runs WHERE run_id = ?", [run_id])[0]
    assert status == "completed" and quantized == "4bit-nf4"
    assert optimizer == "adamw_torch"  # `auto` on CPU: the 8-bit paged optimizer needs CUDA
    assert "optimizer adamw_torch" in "\n".join(m for (m,) in q(store, "SELECT message FROM logs WHERE run_id = ?",
                                                                 [run_id]))
    for split in ("validation", "test"):
        agg = aggregates(store, run_id, split)
        # Margin: a random base answers nothing parseable; the tuned model gets most classes right.
        assert agg["f1_macro"][1] >= agg["f1_macro"][0] + 0.5, (split, agg["f1_macro"])
        assert agg["unparseable"][0] > agg["unparseable"][1], agg["unparseable"]  # counted, not fatal
    per_class = {label for (label,) in q(store, "SELECT DISTINCT label FROM label_metrics WHERE run_id = ? AND "
                                                 "phase = 'tuned'", [run_id])}
    assert per_class == {"hate", "offensive", "neither"}
    groups = q(store, "SELECT phase, split, grp, negatives, false_positives, fpr, max_fpr, flagged, group_column, "
                      "positive_class, positives, false_negatives, fnr, subgroup_auc, reason FROM fairness "
                      "WHERE run_id = ? ORDER BY phase, split, grp", [run_id])
    names = {g for _, _, g, *_ in groups}
    assert names == {"cyclists", "farmers", "gamers", "teachers"}  # "none" is fairness.no_group_values' no group
    assert {(p, s) for p, s, *_ in groups} == {(p, s) for p in ("base", "tuned") for s in ("validation", "test")}
    for _phase, _split, grp, neg, fp, fpr, limit, flagged, column, positive, pos, fn, fnr, auc, reason in groups:
        assert (column, positive) == ("group", "hate")
        assert limit == (0.05 if grp == "cyclists" else 0.10)  # the per-group limit overrides max_fpr
        if neg:
            assert fpr == pytest.approx(fp / neg)
        if pos:
            assert fnr == pytest.approx(fn / pos)
        assert flagged == ((fpr or 0) > limit)  # max_fnr is 1.0: no rate is over it
        # the demo's groups are small: a subgroup AUC only with 10 of each, else the reason instead
        assert (auc is None) == (pos < 10 or neg < 10) and ((reason is not None) == (auc is None) or auc is not None)
        if auc is None:
            assert "subgroup_auc:" in reason and "(needs 10)" in reason
    # the class scores behind the AUCs: each class's answer scored after the prompt, a softmax over them
    scores = [json.loads(line)["scores"] for line in (Path(q(store, "SELECT run_dir FROM runs")[0][0])
                                                      / "predictions_tuned_validation.jsonl").read_text().splitlines()]
    assert all(set(s) == {"hate", "offensive", "neither"} and sum(s.values()) == pytest.approx(1, abs=1e-5)
               for s in scores)
    # The answers themselves are kept for reading.
    preds = [json.loads(line) for line in (Path(q(store, "SELECT run_dir FROM runs")[0][0])
                                           / "predictions_tuned_test.jsonl").read_text().splitlines()]
    assert len(preds) == 90 and {"answer", "predicted", "label", "group"} <= set(preds[0])


def test_hate_speech_show_and_diff_print_the_fairness_table(hate):
    store, (run_id,), _ = hate
    for command in ("show", "diff"):
        out = cli(store, command, run_id).stdout
        assert "fairness per group" in out and "cyclists" in out and "BPSN AUC" in out


def test_hate_speech_predict_reproduces_the_tuned_test_metrics(hate, tmp_path):
    store, (run_id,), _ = hate
    out = tmp_path / "preds.jsonl"
    proc = cli(store, "predict", run_id, "--input", str(DEMO / "data" / "hate" / "test.jsonl"), "--output", str(out))
    assert "wrote 90 predictions" in proc.stdout
    (tuned,), = q(store, "SELECT value FROM evals WHERE run_id = ? AND phase = 'tuned' AND split = 'test' AND "
                         "label = '(all)' AND metric = 'accuracy'", [run_id])
    assert f"accuracy {tuned:.3f}" in proc.stdout  # the 4-bit base is rebuilt bit for bit, answers identical
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    logged = [json.loads(line) for line in (Path(q(store, "SELECT run_dir FROM runs")[0][0])
                                            / "predictions_tuned_test.jsonl").read_text().splitlines()]
    assert [r["answer"] for r in rows] == [r["answer"] for r in logged]


def test_hate_speech_predict_labels_records_without_answers(hate, tmp_path):
    """New messages (records ending with the user's turn, no group): the same answers and classes
    as for the same records with their answers; nothing scored."""
    store, (run_id,), _ = hate
    records = [json.loads(line) for line in (DEMO / "data" / "hate" / "test.jsonl").read_text().splitlines()]
    new = tmp_path / "new.jsonl"
    new.write_text("".join(json.dumps({"messages": r["messages"][:-1]}) + "\n" for r in records))
    out = tmp_path / "new_preds.jsonl"
    proc = cli(store, "predict", run_id, "--input", str(new), "--output", str(out))
    assert "wrote 90 predictions" in proc.stdout and "input has no answers to score" in proc.stdout
    assert "accuracy" not in proc.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    logged = [json.loads(line) for line in (Path(q(store, "SELECT run_dir FROM runs")[0][0])
                                            / "predictions_tuned_test.jsonl").read_text().splitlines()]
    assert [(r["answer"], r["predicted"]) for r in rows] == [(r["answer"], r["predicted"]) for r in logged]
    assert all("label" not in r for r in rows)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(new.read_text() + json.dumps(records[0]) + "\n")
    bad = workbench("predict", run_id, "--input", str(mixed), "--output", str(out), store=store)
    assert bad.returncode == 2 and f"{mixed}:91:" in bad.stderr and "give every record its answer" in bad.stderr


def test_merge_writes_a_model_plain_transformers_loads(hate, tmp_path):
    """The QLoRA adapter merged into the full-precision base: no peft files, loads with
    AutoModelForCausalLM in a process that never imports peft, answers like the tuned model."""
    store, (run_id,), _ = hate
    out = tmp_path / "merged"
    assert "merged the adapter" in cli(store, "merge", run_id, "--output", str(out)).stdout
    assert (out / "config.json").is_file() and not (out / "adapter_config.json").exists()
    again = workbench("merge", run_id, "--output", str(out), store=store)
    assert again.returncode == 2 and "not an empty folder" in again.stderr
    run_dir = Path(q(store, "SELECT run_dir FROM runs")[0][0])
    logged = [json.loads(line) for line in (run_dir / "predictions_tuned_validation.jsonl").read_text().splitlines()]
    script = f"""
import json, sys
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from workbench.data.chat_jsonl import read_chat_jsonl
from workbench.tasks.generative import answer_prompt  # harmony (gpt-oss): the answer starts in the final channel
tok = AutoTokenizer.from_pretrained({str(out)!r})
model = AutoModelForCausalLM.from_pretrained({str(out)!r}).eval()
recs = read_chat_jsonl({str(DEMO / "data" / "hate" / "validation.jsonl")!r}, ["hate", "offensive", "neither"])
answers = []
for r in recs:
    prompt = answer_prompt(tok.apply_chat_template(r.messages[:-1], tokenize=False, add_generation_prompt=True))
    ids = tok(prompt, return_tensors="pt")
    gen = model.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
    answers.append(tok.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip())
assert "peft" not in sys.modules, "merged model needed peft"
print(json.dumps(answers))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    answers = json.loads(proc.stdout.strip().splitlines()[-1])
    same = sum(a == r["answer"] for a, r in zip(answers, logged))
    # Trained against 4-bit weights, merged into full precision: only the quantization error differs.
    assert same >= 0.9 * len(logged), (same, len(logged))


# --- QLoRA NER: instruction SFT, entities parsed from generation, seqeval ----------------------

@pytest.fixture(scope="module")
def ner(tmp_path_factory):
    return run_demo(tmp_path_factory, "qlora_ner")


def test_qlora_ner_tuned_beats_base_per_entity_type(ner):
    store, (run_id,), _ = ner
    for split in ("validation", "test"):
        agg = aggregates(store, run_id, split)
        # Margin: the random base lists no entity right; the tuned model finds a good share of them.
        assert agg["f1_micro"][1] >= agg["f1_micro"][0] + 0.3, (split, agg["f1_micro"])
    types = q(store, "SELECT label, base, tuned FROM base_vs_tuned WHERE run_id = ? AND split = 'test' AND "
                     "metric = 'f1' AND label <> '(all)' ORDER BY label", [run_id])
    assert [t for t, *_ in types] == ["LOC", "MISC", "ORG", "PER"]
    assert sum(1 for _, b, t in types if t > b) >= 3, types
    (report,), = q(store, "SELECT path FROM artifacts WHERE run_id = ? AND kind = 'report' AND path LIKE "
                          "'%tuned_test%'", [run_id])
    text = Path(report).read_text()
    assert "precision" in text and "PER" in text  # seqeval's classification report
    # invented entities (named, in no sentence): stored per type and overall, as the prediction rows name them
    (run_dir,), = q(store, "SELECT run_dir FROM runs WHERE run_id = ?", [run_id])
    rows = [json.loads(line) for line in (Path(run_dir) / "predictions_base_test.jsonl").read_text().splitlines()]
    rates = dict(q(store, "SELECT label, value FROM evals WHERE run_id = ? AND split = 'test' AND phase = 'base' "
                          "AND metric = 'invented_rate' AND label <> '(all)'", [run_id]))
    assert set(rates) == {t for t, *_ in types} and all(0 <= r <= 1 for r in rates.values()), rates
    (invented,), = q(store, "SELECT value FROM evals WHERE run_id = ? AND split = 'test' AND phase = 'base' AND "
                            "label = '(all)' AND metric = 'invented'", [run_id])
    assert invented == sum(len(names) for r in rows for names in r["invented"].values())
    assert {"invented_rate", "invented_unknown_type"} <= set(aggregates(store, run_id, "test"))


def test_ner_predict_tags_sentences_given_as_tokens_only(ner, tmp_path):
    """CoNLL without tags (one token per line): the same answers and entities as predict gives for
    the same sentences with tags, in BIO per token."""
    store, (run_id,), _ = ner
    tagged = tmp_path / "tagged_preds.jsonl"
    proc = cli(store, "predict", run_id, "--input", str(DEMO / "data" / "ner" / "test.txt"), "--output", str(tagged))
    assert "f1_micro" in proc.stdout  # scored: the input has tags
    lines = (DEMO / "data" / "ner" / "test.txt").read_text().splitlines()
    tokens_only = tmp_path / "sentences.txt"
    tokens_only.write_text("".join((line.split()[0] if line.strip() and not line.startswith("-DOCSTART-") else "")
                                   + "\n" for line in lines))
    out = tmp_path / "ner_preds.jsonl"
    proc = cli(store, "predict", run_id, "--input", str(tokens_only), "--output", str(out))
    assert "input has no answers to score" in proc.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    logged = [json.loads(line) for line in tagged.read_text().splitlines()]
    assert len(rows) == len(logged) > 0
    assert [(r["sentence"], r["answer"], r["predicted"]) for r in rows] == [
        (r["sentence"], r["answer"], r["predicted"]) for r in logged]
    assert all(len(r["tags"]) == len(r["sentence"].split()) and "gold" not in r for r in rows)


def test_ner_trains_from_instruction_json_too(tmp_path_factory):
    """The same task from a ready instruction JSON file (`text` = instruction + response)."""
    store, (run_id,), _ = run_demo(
        tmp_path_factory, "qlora_ner", "--set", f"data.train_file={DEMO / 'data' / 'ner' / 'train_instructions.json'}",
        "--set", "train.max_steps=6", "--set", "eval.max_examples=8", "--set", "eval.base=false")
    assert q(store, "SELECT status FROM runs")[0][0] == "completed"
    (train_rows,), = q(store, "SELECT count(*) FROM logs WHERE run_id = ? AND message LIKE 'data: 200 train%'", [run_id])
    assert train_rows == 1
    assert q(store, "SELECT count(*) FROM evals WHERE run_id = ? AND phase = 'tuned' AND metric = 'examples' "
                    "AND value = 8", [run_id])[0][0] == 2  # validation and test, 8 sentences each


def test_ner_packed_batches_train_as_padded_ones_do(tmp_path_factory):
    """train.packing on the NER demo (4-bit tiny Llama): the same examples in the same order give
    the same training and validation losses as padded batches, within 1e-3, with no padding token
    in a batch; the run log says the model was checked to keep packed examples apart."""
    args = ("--set", "train.max_steps=5", "--set", "train.logging_steps=1", "--set", "lora.dropout=0",
            "--set", "eval.max_examples=4", "--set", "eval.base=false")
    losses = {}
    for packing in ("false", "true"):
        store, (run_id,), _ = run_demo(tmp_path_factory, "qlora_ner", *args, "--set", f"train.packing={packing}")
        run_dir = Path(q(store, "SELECT run_dir FROM runs")[0][0])
        events = events_of(run_dir)
        steps = [e["loss"] for e in events if e["type"] == "step"]
        evals = [e["aggregates"]["loss"] for e in events if e["type"] == "eval" and e["phase"] == "epoch"]
        losses[packing] = steps, evals
        logged = [m for (m,) in q(store, "SELECT message FROM logs WHERE run_id = ? AND message LIKE 'packing:%'",
                                  [run_id])]
        assert logged == ([] if packing == "false" else
                          ["packing: llama with sdpa attention keeps packed examples apart (checked: change "
                           + logged[0].rsplit("change ", 1)[1]]), logged
    (padded_steps, padded_evals), (packed_steps, packed_evals) = losses["false"], losses["true"]
    assert len(padded_steps) == 5 and len(padded_evals) >= 1
    assert packed_steps == pytest.approx(padded_steps, abs=1e-3)
    assert packed_evals == pytest.approx(padded_evals, abs=1e-3)


def test_packing_refuses_a_model_that_would_let_examples_see_each_other(tmp_path_factory):
    """gpt-oss builds its attention masks without the position ids (transformers 5.25): packed,
    its examples would attend to each other. The check before training stops the run in one line."""
    store = tmp_path_factory.mktemp("gpt_oss_packing") / "runs.duckdb"
    proc = workbench("run", str(DEMO / "hate_speech.toml"), "--quiet", "--set", "train.packing=true", store=store,
                     timeout=600)
    # the run had started (the model loaded): it fails as a run does, status 1, its error in one line
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    ((error,),) = q(store, "SELECT error FROM runs WHERE status = 'failed'")
    assert error.startswith("train.packing = true: gpt_oss with eager attention lets packed examples attend"), error
    assert "\n" not in error and "set train.packing = false" in error
    assert q(store, "SELECT count(*) FROM evals")[0][0] == 0  # stopped before the base evaluation


# --- decoder classification: a decoder's score head on 4-bit, seeds, tuned thresholds ---------

@pytest.fixture(scope="module")
def decoder(tmp_path_factory):
    return run_demo(tmp_path_factory, "decoder_classification")


def test_decoder_classification_seeds_make_one_group_and_each_beats_base(decoder):
    store, ids, proc = decoder
    assert len(ids) == 2  # seeds = [1, 3]
    rows = q(store, "SELECT run_id, status, group_id, quantized FROM runs ORDER BY run_id")
    assert {r[1] for r in rows} == {"completed"} and len({r[2] for r in rows}) == 1 and rows[0][2]
    assert {r[3] for r in rows} == {"4bit-nf4"}
    seeds = {v for (v,) in q(store, "SELECT value FROM params WHERE key = 'train.seed'")}
    assert seeds == {"1", "3"}
    for run_id in ids:
        for split in ("validation", "test"):
            agg = aggregates(store, run_id, split)
            assert agg["f1_micro"][1] >= agg["f1_micro"][0] + 0.3, (run_id, split, agg["f1_micro"])
    group = rows[0][2]
    out = cli(store, "compare", "--group", group).stdout
    assert f"group {group} (n=2): accuracy" in out and "±" in out
    assert "what each run cost" in out and "peak memory" in out


def _thresholds(store, run_id, phase, split):
    return dict(q(store, "SELECT label, value FROM evals WHERE run_id = ? AND phase = ? AND split = ? "
                         "AND metric = 'threshold'", [run_id, phase, split]))


def test_tuned_thresholds_are_stored_applied_to_test_and_used_by_predict(decoder, tmp_path):
    store, ids, _ = decoder
    run_id = ids[0]
    th = _thresholds(store, run_id, "tuned", "validation_at_thresholds")
    assert sorted(th) == ["beauty", "electronics", "home_kitchen", "sports_outdoors", "toys_games"]
    assert all(0.05 <= v <= 0.95 for v in th.values())
    assert _thresholds(store, run_id, "tuned", "test") == th
    run_dir = Path(q(store, "SELECT run_dir FROM runs WHERE run_id = ?", [run_id])[0][0])
    assert json.loads((run_dir / "labels.json").read_text())["threshold"] == [th[n] for n in (
        "electronics", "home_kitchen", "sports_outdoors", "toys_games", "beauty")]
    out = tmp_path / "preds.jsonl"
    proc = cli(store, "predict", run_id, "--input", str(DEMO / "data" / "products" / "test.csv"), "--output", str(out))
    (f1,), = q(store, "SELECT value FROM evals WHERE run_id = ? AND phase = 'tuned' AND split = 'test' AND "
                      "label = '(all)' AND metric = 'f1_micro'", [run_id])
    assert f"f1_micro {f1:.3f}" in proc.stdout  # predict applies the same tuned thresholds
    first = json.loads(out.read_text().splitlines()[0])
    assert first["id"] == "P000601"  # data.id_column is carried into the predictions
    logged = [json.loads(line) for line in (run_dir / "predictions_tuned_test.jsonl").read_text().splitlines()]
    assert [r["predicted"] for r in logged] == [json.loads(line)["predicted"] for line in out.read_text().splitlines()]


def test_base_and_tuned_thresholds_are_tuned_alike(decoder):
    """Every delta compares like with like: on test each model at its own thresholds tuned on the
    validation rows; on validation both at 0.5, and both again at their tuned thresholds."""
    store, ids, _ = decoder
    run_id = ids[0]
    run_dir = Path(q(store, "SELECT run_dir FROM runs WHERE run_id = ?", [run_id])[0][0])
    base_th = _thresholds(store, run_id, "base", "validation_at_thresholds")
    assert len(base_th) == 5 and _thresholds(store, run_id, "base", "test") == base_th
    assert base_th != _thresholds(store, run_id, "tuned", "test")  # two models, two sets of thresholds
    labels = json.loads((run_dir / "labels.json").read_text())
    assert labels["base_threshold"] == [base_th[n] for n in labels["labels"]]
    assert not _thresholds(store, run_id, "base", "validation") and not _thresholds(store, run_id, "tuned", "validation")
    # the label prior (no model) is judged alike: its own thresholds tuned on validation score its test split
    prior_th = _thresholds(store, run_id, "prior", "validation_at_thresholds")
    assert len(prior_th) == 5 and _thresholds(store, run_id, "prior", "test") == prior_th
    for phase in ("base", "tuned", "prior"):  # the stored test F1 is the F1 of the predictions at those thresholds
        rows = [json.loads(line) for line in (run_dir / f"predictions_{phase}_test.jsonl").read_text().splitlines()]
        tp = sum(len(set(r["predicted"]) & set(r["labels"])) for r in rows)
        fp = sum(len(set(r["predicted"]) - set(r["labels"])) for r in rows)
        fn = sum(len(set(r["labels"]) - set(r["predicted"])) for r in rows)
        (f1,), = q(store, "SELECT value FROM evals WHERE run_id = ? AND phase = ? AND split = 'test' AND "
                          "label = '(all)' AND metric = 'f1_micro'", [run_id, phase])
        assert f1 == pytest.approx(2 * tp / (2 * tp + fp + fn) if tp else 0.0, abs=1e-9), phase
    for split in ("validation", "validation_at_thresholds", "test"):
        assert aggregates(store, run_id, split)["f1_micro"][1] > aggregates(store, run_id, split)["f1_micro"][0]


# --- full fine-tune vs LoRA: one recipe, two methods, one group, compared ---------------------

def test_full_vs_lora_runs_both_methods_as_one_group_and_compares_their_cost(tmp_path_factory):
    store, ids, proc = run_demo(tmp_path_factory, "sentiment_full_vs_lora")
    rows = {m: r for m, *r in q(store, "SELECT method, run_id, group_id, trainable_params, total_params, saved_bytes, "
                                       "peak_mem_bytes, train_samples_per_s FROM runs")}
    assert sorted(rows) == ["full", "lora"]
    full, lora = rows["full"], rows["lora"]
    assert full[1] == lora[1]  # one group
    assert lora[2] < full[2] / 5  # LoRA trains a small share of the weights
    assert full[2] == full[3]  # a full fine-tune trains them all
    assert lora[4] < full[4] / 2  # the adapter is far smaller on disk than the full model
    assert full[5] > 0 and lora[5] > 0 and full[6] > 0 and lora[6] > 0
    for method in ("full", "lora"):
        # the run's samples/s counts training steps only: above the Trainer's figure, which also
        # counts the evaluation and the checkpoint of each epoch
        (summary,) = [e for e in events_of(Path(q(store, "SELECT run_dir FROM runs WHERE method = ?", [method])[0][0]))
                      if e["type"] == "summary"]
        assert summary["train_samples_per_s"] == rows[method][6]
        assert summary["train_samples_per_s"] > summary["trainer_samples_per_s"] > 0
        assert 0 < summary["train_seconds"] < summary["train_runtime_s"]
    for method, margin in (("full", 0.25), ("lora", 0.1)):
        agg = aggregates(store, rows[method][0])
        # Margins on accuracy over the balanced validation split (base 0.5 = chance).
        assert agg["accuracy"][1] >= agg["accuracy"][0] + margin, (method, agg["accuracy"])
    out = cli(store, "compare", "--group", full[1]).stdout
    for needle in ("trainable params", "saved on disk", "peak memory", "samples/s", "accuracy", "precision_micro",
                   "recall_micro", "f1_micro", "model.method"):
        assert needle in out, needle

    # The LoRA run merged: a plain sequence classifier that scores exactly as the adapter did.
    merged = store.parent / "merged"
    cli(store, "merge", lora[0], "--output", str(merged))
    run_dir = Path(q(store, "SELECT run_dir FROM runs WHERE run_id = ?", [lora[0]])[0][0])
    logged = [json.loads(line) for line in (run_dir / "predictions_tuned_validation.jsonl").read_text().splitlines()]
    script = f"""
import json, sys
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
tok = AutoTokenizer.from_pretrained({str(merged)!r})
model = AutoModelForSequenceClassification.from_pretrained({str(merged)!r}).eval()
texts = json.loads(sys.stdin.read())
with torch.inference_mode():
    probs = [torch.softmax(model(**tok(t, return_tensors="pt", truncation=True, max_length=64)).logits, -1)[0, 1].item()
             for t in texts]
assert "peft" not in sys.modules
print(json.dumps(probs))
"""
    proc = subprocess.run([sys.executable, "-c", script], input=json.dumps([r["text"] for r in logged[:40]]),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    probs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert probs == pytest.approx([r["scores"]["positive"] for r in logged[:40]], abs=1e-4)


def test_gradient_checkpointing_and_tensorboard_on_a_4bit_chat_run(tmp_path_factory):
    """The real hate-speech recipe's knobs (gradient checkpointing on a 4-bit model, TensorBoard)
    on the demo, a few steps."""
    store, (run_id,), _ = run_demo(
        tmp_path_factory, "hate_speech", "--set", "train.gradient_checkpointing=true", "--set",
        "train.report_to=tensorboard", "--set", "train.max_steps=4", "--set", "eval.max_examples=4",
        "--set", "eval.base=false")
    assert q(store, "SELECT status FROM runs")[0][0] == "completed"
    run_dir = Path(q(store, "SELECT run_dir FROM runs")[0][0])
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*")), "no TensorBoard event file"


@pytest.mark.parametrize("demo", ["hate", "ner", "decoder"])
def test_the_demos_learn_without_a_guardrail_firing(demo, request):
    """The guardrails (workbench/metrics/guardrails.py) stay silent on runs that learned."""
    store, ids, proc = request.getfixturevalue(demo)
    assert [w for (w,) in q(store, "SELECT warnings FROM runs ORDER BY run_id")] == [[]] * len(ids)
    assert "warning:" not in proc.stdout


def test_eval_of_a_4bit_run_with_tuned_thresholds_reproduces_every_split(decoder, tmp_path):
    import shutil

    store, ids, _ = decoder
    shutil.copy(store, tmp_path / "runs.duckdb")  # the evaluation run goes into a copy: the group stays as it was
    store = tmp_path / "runs.duckdb"
    run_id = ids[0]
    cli(store, "eval", run_id, "--quiet", timeout=600)
    (eval_id,), = q(store, "SELECT run_id FROM runs WHERE kind = 'eval'")
    for split in ("validation", "validation_at_thresholds", "test"):
        got = {(label, m): v for label, m, v in q(store, "SELECT label, metric, value FROM evals WHERE run_id = ? AND "
                                                        "phase = 'tuned' AND split = ?", [eval_id, split])}
        want = {(label, m): v for label, m, v in q(store, "SELECT label, metric, value FROM evals WHERE run_id = ? AND "
                                                         "phase = 'tuned' AND split = ?", [run_id, split])}
        assert got and got == want, split


# --- the app's Try tab's core (actions/try_text.py) on the demos' generative and decoder runs -------------

def test_try_models_answer_a_sentence_as_predict_text_does_with_the_base_model_beside(ner):
    from workbench.actions.try_text import TryModels

    store, (run_id,), _ = ner
    sentence = "John Smith flew from Berlin to Paris with Lufthansa"
    models = TryModels(store, run_id)
    tuned, base = models.try_text(sentence)
    assert base is not None and tuned.row != base.row  # the random base answers otherwise than the tuned model
    assert tuned.lines[-1] == f"answer: {tuned.row['answer']}" and base.lines[-1] == f"answer: {base.row['answer']}"
    shown = cli(store, "predict", run_id, "--text", sentence, "--format", "json")
    assert json.loads(shown.stdout) == tuned.row
    models.try_text("Angela Merkel visited Rome")
    assert models.loads == ["tuned", "base"]  # kept: the second sentence loads nothing


def test_try_models_base_answer_uses_the_base_models_tuned_thresholds(decoder):
    from workbench.actions.try_text import TryModels

    store, run_ids, _ = decoder
    (run_dir,), = q(store, "SELECT run_dir FROM runs WHERE run_id = ?", [run_ids[0]])
    meta = json.loads((Path(run_dir) / "labels.json").read_text())
    base_rows = [json.loads(line) for line in (Path(run_dir) / "predictions_base_validation.jsonl").read_text().splitlines()]
    row = base_rows[0]
    tuned, base = TryModels(store, run_ids[0]).try_text(row["text"])
    assert base is not None and "base_threshold" in meta
    assert base.row["scores"] == pytest.approx(row["scores"], abs=1e-4)
    thresholds = dict(zip(meta["labels"], meta["base_threshold"]))
    assert base.row["predicted"] == [n for n in meta["labels"] if base.row["scores"][n] >= thresholds[n]]
