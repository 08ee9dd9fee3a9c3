"""Fairness of an encoder classifier, end to end through the real CLI (issue 28 item 1): two group
columns, one holding a list of groups per row; the stored `fairness` rows and bias summary equal a
direct scikit-learn computation over the run's own predictions file and the data's group columns,
and `show` prints the table, with the reason instead of a number where a group is too small."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from tests.integration.runs import q
from tests.tabular_data import rows, toml_value, write_file

pytestmark = pytest.mark.slow

POSITIVE = ["sports", "tech"]


def with_groups(r: list[dict], seed: int) -> list[dict]:
    """A `region` per row (one group; "rare" on a few rows, too few for an AUC, and "n/a" meaning none)
    and `faiths`, a list of 0-2 groups."""
    rnd = random.Random(seed)
    for i, row in enumerate(r):
        row["region"] = "rare" if i % 40 == 0 else "n/a" if i % 17 == 0 else rnd.choice(["north", "south"])
        row["faiths"] = sorted(rnd.sample(["a", "b", "c"], rnd.choice([0, 1, 2])))
    return r


def test_bias_aucs_equal_scikit_learn_over_the_stored_predictions(tmp_path, cli):
    from sklearn.metrics import roc_auc_score

    data = tmp_path / "data"
    data.mkdir()
    write_file(data / "train.jsonl", "jsonl", with_groups(rows(160, 21, multi=True), 1))
    write_file(data / "validation.jsonl", "jsonl", with_groups(rows(240, 22, multi=True), 2))
    recipe = tmp_path / "r.toml"
    recipe.write_text("\n".join([
        'task = "classification"', "[model]", 'source = "tiny:distilbert"', "max_length = 32", "tiny_vocab_size = 300",
        "[data]", f"train_file = {toml_value(str(data / 'train.jsonl'))}",
        f"validation_file = {toml_value(str(data / 'validation.jsonl'))}", 'text_column = "text"',
        'label_column = "topics"', 'group_columns = ["region", "faiths"]',
        "[lora]", 'target_modules = ["q_lin", "k_lin", "v_lin"]',
        "[train]", "epochs = 2", "batch_size = 16", "learning_rate = 3e-3",
        "[fairness]", f"positive_classes = {toml_value(POSITIVE)}", "max_fpr = 0.3", "max_fnr = 0.5",
        'group_limits = { "faiths:a" = 0.2 }']) + "\n", encoding="utf-8")
    proc = cli("run", recipe, "--quiet", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = tmp_path / "runs.duckdb"
    ((run_id, run_dir),) = q(store, "SELECT run_id, run_dir FROM runs")

    for phase in ("base", "tuned"):
        preds = [json.loads(line) for line in
                 (Path(run_dir) / f"predictions_{phase}_validation.jsonl").read_text().splitlines()]
        groups = {c: [tuple(p["groups"][c]) for p in preds] for c in ("region", "faiths")}
        assert {g for gs in groups["region"] for g in gs} == {"north", "south", "rare"}  # "n/a": no group
        assert any(len(gs) == 2 for gs in groups["faiths"])
        stored = {(c, cls, g): rest for c, cls, g, *rest in q(
            store, "SELECT group_column, positive_class, grp, positives, negatives, false_positives, "
                   "false_negatives, fpr, fnr, max_fpr, flagged, subgroup_auc, bpsn_auc, bnsp_auc, reason "
                   "FROM fairness WHERE run_id = ? AND phase = ? AND split = 'validation'", [run_id, phase])}
        expected_keys = {(c, cls, g) for c in groups for cls in POSITIVE for g in {g for gs in groups[c] for g in gs}}
        assert set(stored) == expected_keys
        for cls in POSITIVE:
            y = np.array([cls in p["labels"] for p in preds], dtype=int)
            s = np.array([p["scores"][cls] for p in preds])
            yhat = np.array([cls in p["predicted"] for p in preds], dtype=int)
            means = {}
            for c, per_row in groups.items():
                for g in sorted({g for gs in per_row for g in gs}):
                    sub = np.array([g in gs for gs in per_row])
                    pos, neg, fp, fn, fpr, fnr, max_fpr, flagged, sub_auc, bpsn, bnsp, reason = stored[(c, cls, g)]
                    assert (pos, neg) == (int((sub & (y == 1)).sum()), int((sub & (y == 0)).sum()))
                    assert (fp, fn) == (int((sub & (y == 0) & (yhat == 1)).sum()), int((sub & (y == 1) & (yhat == 0)).sum()))
                    assert fpr == (pytest.approx(fp / neg) if neg else None)  # 0/0 is no rate
                    assert fnr == (pytest.approx(fn / pos) if pos else None)
                    assert max_fpr == (0.2 if (c, g) == ("faiths", "a") else 0.3)
                    assert flagged == ((fpr or 0) > max_fpr or (fnr or 0) > 0.5)
                    direct = {
                        "subgroup_auc": (sub, pos, neg),
                        "bpsn_auc": ((sub & (y == 0)) | (~sub & (y == 1)), int((~sub & (y == 1)).sum()), neg),
                        "bnsp_auc": ((sub & (y == 1)) | (~sub & (y == 0)), pos, int((~sub & (y == 0)).sum()))}
                    for metric, value in zip(direct, (sub_auc, bpsn, bnsp)):
                        mask, p_n, n_n = direct[metric]
                        if p_n < 10 or n_n < 10:
                            assert value is None and f"{metric}: " in reason and "(needs 10)" in reason, (g, metric)
                        else:
                            # the file's scores are rounded to 6 places: a tie there may move an AUC a hair
                            assert value == pytest.approx(roc_auc_score(y[mask], s[mask]), abs=2e-3), (c, g, metric)
                            means.setdefault(metric, []).append(value)
            assert stored[("region", cls, "rare")][9] is None  # 6 rows: no subgroup AUC, said why
            summary = dict(q(store, "SELECT metric, value FROM evals WHERE run_id = ? AND phase = ? AND "
                                    "split = 'validation' AND label = ? AND (metric = 'overall_auc' OR "
                                    "starts_with(metric, 'bias_'))", [run_id, phase, cls]))
            overall = roc_auc_score(y, s)
            assert summary["overall_auc"] == pytest.approx(overall, abs=2e-3)
            power = {m: float(np.mean(np.array(v) ** -5.0) ** (-1 / 5)) for m, v in means.items()}
            for metric, m in power.items():
                assert summary[f"bias_{metric}"] == pytest.approx(m, abs=2e-3)
            assert summary["bias_final_score"] == pytest.approx(0.25 * overall + 0.25 * sum(power.values()), abs=2e-3)

    flagged_total = q(store, "SELECT count(DISTINCT (group_column, grp)) FROM fairness WHERE run_id = ? AND "
                             "phase = 'tuned' AND split = 'validation' AND flagged", [run_id])[0][0]
    (groups_flagged,), = q(store, "SELECT value FROM evals WHERE run_id = ? AND phase = 'tuned' AND split = "
                                  "'validation' AND label = '(all)' AND metric = 'groups_flagged'", [run_id])
    assert groups_flagged == flagged_total
    out = cli("show", run_id).stdout
    assert "BPSN AUC" in out and "faiths:a" in out and "region:rare" in out and "< 10" in out
    assert all(f"{cls}: final score" in out for cls in POSITIVE)  # the bias summary line per positive class
