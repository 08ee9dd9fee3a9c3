"""Per-group fairness of a classifier (workbench/metrics/bias.py): FPR / FNR with counts, and the
threshold-free bias AUCs of Borkan et al. 2019 (subgroup, BPSN, BNSP) with the Jigsaw final score.
Every AUC here is recomputed in the test straight from scikit-learn on the hand-built rows, and
the rates and the generalized mean by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from workbench.metrics.bias import MIN_EACH, POWER, UNION, bias_by_class, bias_report, generalized_mean

RNG = np.random.default_rng(7)
N = 400
GOLD = RNG.integers(0, 2, N)
# scores that depend on the label and, for some groups, on the group too (a biased model)
RACE = [("black",) if i % 4 == 0 else ("white",) if i % 4 == 1 else () for i in range(N)]
# a column with list values: some rows name two religions, some none
RELIGION = [("muslim", "christian") if i % 10 == 0 else ("muslim",) if i % 10 in (1, 2, 3) else
            ("jewish",) if i % 10 == 4 and i < 120 else () for i in range(N)]
SCORES = np.clip(0.35 * GOLD + RNG.random(N) * 0.65 + np.array([0.2 if "black" in r else 0.0 for r in RACE]), 0, 1)
PRED = (SCORES >= 0.5).astype(int)
GROUPS = {"race": RACE, "religion": RELIGION}


def _auc(mask):
    return float(roc_auc_score(GOLD[mask], SCORES[mask]))


def _masks(column, group):
    sub = np.array([group in g for g in GROUPS[column]])
    pos = GOLD == 1
    return sub, pos


def test_bias_aucs_equal_a_direct_scikit_learn_computation_per_group_column():
    report = bias_report(SCORES.tolist(), GOLD.tolist(), PRED.tolist(), GROUPS)
    rows = {(r["group_column"], r["group"]): r for r in report["groups"]}
    assert set(rows) == {("race", "black"), ("race", "white"), ("religion", "muslim"),
                         ("religion", "christian"), ("religion", "jewish")}
    assert report["overall_auc"] == pytest.approx(float(roc_auc_score(GOLD, SCORES)), abs=1e-12)
    for (column, group), row in rows.items():
        sub, pos = _masks(column, group)
        counts = {"subgroup_auc": (sub & pos, sub & ~pos), "bpsn_auc": (~sub & pos, sub & ~pos),
                  "bnsp_auc": (sub & pos, ~sub & ~pos)}
        for metric, (positives, negatives) in counts.items():
            if positives.sum() >= 10 and negatives.sum() >= 10:
                mask = sub if metric == "subgroup_auc" else positives | negatives
                assert row[metric] == pytest.approx(_auc(mask), abs=1e-12), (column, group, metric)
                assert metric not in row["reasons"]
            else:
                assert row[metric] is None and row["reasons"][metric]
    # the biased group: its negatives score high, so BPSN is low and BNSP high
    assert rows[("race", "black")]["bpsn_auc"] < rows[("race", "white")]["bpsn_auc"]
    assert rows[("race", "black")]["bnsp_auc"] > rows[("race", "white")]["bnsp_auc"]
    # a row listing two religions counts in both
    assert rows[("religion", "christian")]["examples"] == 40
    assert rows[("religion", "muslim")]["examples"] == 160


def test_rates_per_group_by_hand():
    report = bias_report(SCORES.tolist(), GOLD.tolist(), PRED.tolist(), GROUPS, max_fpr=0.3, max_fnr=0.9,
                         fpr_limits={"white": 0.99})
    for row in report["groups"]:
        sub, _ = _masks(row["group_column"], row["group"])
        g, p = GOLD[sub], PRED[sub]
        fp, fn = int(((g == 0) & (p == 1)).sum()), int(((g == 1) & (p == 0)).sum())
        assert (row["examples"], row["positives"], row["negatives"]) == (sub.sum(), (g == 1).sum(), (g == 0).sum())
        assert (row["false_positives"], row["false_negatives"]) == (fp, fn)
        assert row["fpr"] == fp / (g == 0).sum() and row["fnr"] == fn / (g == 1).sum()
        assert row["max_fpr"] == (0.99 if row["group"] == "white" else 0.3) and row["max_fnr"] == 0.9
        assert row["flagged"] == float(row["fpr"] > row["max_fpr"] or row["fnr"] > row["max_fnr"])
    black = next(r for r in report["groups"] if r["group"] == "black")
    assert black["flagged"] == 1.0  # its harmless rows score 0.2 higher


def test_a_group_without_negatives_has_no_fpr_and_no_auc():
    gold, pred = [1] * 12 + [0] * 12, [1] * 24
    scores = [0.9] * 12 + [0.1] * 12
    groups = {"g": [("a",)] * 12 + [()] * 12}
    row = bias_report(scores, gold, pred, groups)["groups"][0]
    assert "fpr" not in row and row["fnr"] == 0.0 and row["flagged"] == 0.0
    assert row["subgroup_auc"] is None and row["bpsn_auc"] is None
    assert row["reasons"]["subgroup_auc"] == "0 negatives in the group (needs 10)"
    assert row["reasons"]["bpsn_auc"] == "0 negatives in the group and 0 positives in the background (needs 10)"
    assert row["bnsp_auc"] == 1.0  # 12 group positives against 12 background negatives


def test_fewer_than_ten_on_either_side_gives_a_reason_never_a_number():
    # group "a": 10 positives and 9 negatives; background: 9 positives and 30 negatives
    gold = [1] * 10 + [0] * 9 + [1] * 9 + [0] * 30
    scores = [0.8] * 10 + [0.3] * 9 + [0.7] * 9 + [0.2] * 30
    groups = {"g": [("a",)] * 19 + [("b",)] * 39}
    report = bias_report(scores, gold, [int(s > 0.5) for s in scores], groups)
    a = report["groups"][0]
    assert a["group"] == "a"
    assert a["subgroup_auc"] is None and a["reasons"]["subgroup_auc"] == "9 negatives in the group (needs 10)"
    assert a["bpsn_auc"] is None
    assert a["reasons"]["bpsn_auc"] == "9 negatives in the group and 9 positives in the background (needs 10)"
    assert a["bnsp_auc"] == 1.0  # 10 group positives, 30 background negatives
    b = report["groups"][1]
    assert b["subgroup_auc"] is None and b["reasons"]["subgroup_auc"] == "9 positives in the group (needs 10)"
    assert b["bnsp_auc"] is None
    assert b["reasons"]["bnsp_auc"] == "9 negatives in the background and 9 positives in the group (needs 10)"
    assert b["bpsn_auc"] == 1.0  # a's 10 positives against b's 30 negatives
    assert MIN_EACH == 10
    # the means go over the groups that have a value: BNSP has only a's
    assert report["means"]["bnsp_auc"] == 1.0
    assert report["means"]["subgroup_auc"] is None and report["final_score"] is None
    assert report["means"]["bpsn_auc"] == 1.0
    assert report["final_reason"] == "no group has a subgroup_auc"


def test_generalized_mean_with_power_minus_five_by_hand():
    values = [0.9, 0.6, 0.75]
    by_hand = ((0.9 ** -5 + 0.6 ** -5 + 0.75 ** -5) / 3) ** (1 / -5)
    assert POWER == -5
    assert generalized_mean(values) == pytest.approx(by_hand, abs=1e-15)
    assert min(values) < generalized_mean(values) < sum(values) / 3  # pulled toward the worst group
    assert generalized_mean([0.8]) == pytest.approx(0.8)
    assert generalized_mean([0.0, 0.9]) == 0.0  # the limit: a group at 0 drags the mean to 0
    assert generalized_mean([]) is None


def test_final_score_is_the_jigsaw_weighting_of_overall_auc_and_the_three_means():
    report = bias_report(SCORES.tolist(), GOLD.tolist(), PRED.tolist(), GROUPS)
    means = {}
    for metric in ("subgroup_auc", "bpsn_auc", "bnsp_auc"):
        values = [r[metric] for r in report["groups"] if r[metric] is not None]
        assert values
        means[metric] = (sum(v ** -5 for v in values) / len(values)) ** (-1 / 5)
        assert report["means"][metric] == pytest.approx(means[metric], abs=1e-12)
    final = 0.25 * float(roc_auc_score(GOLD, SCORES)) + 0.25 * sum(means.values())
    assert report["final_score"] == pytest.approx(final, abs=1e-12) and "final_reason" not in report
    assert 0.5 < report["final_score"] < 1


def test_by_class_single_label_and_multi_label_score_each_positive_column():
    # three classes, one-hot gold and predictions: "hate" is positive, its score column is the second
    probs = RNG.dirichlet([1, 1, 1], N)
    gold_idx = RNG.integers(0, 3, N)
    gold = np.eye(3, dtype=int)[gold_idx]
    pred = np.eye(3, dtype=int)[probs.argmax(1)]
    out = bias_by_class(probs.tolist(), gold.tolist(), pred.tolist(), ["neither", "hate", "offensive"], ["hate"],
                        GROUPS)
    assert list(out) == ["hate"]
    direct = bias_report(probs[:, 1].tolist(), gold[:, 1].tolist(), pred[:, 1].tolist(), GROUPS)
    assert out["hate"] == direct
    assert out["hate"]["overall_auc"] == pytest.approx(float(roc_auc_score(gold_idx == 1, probs[:, 1])))
    with pytest.raises(ValueError, match="'toxic' is not one of"):
        bias_by_class(probs.tolist(), gold.tolist(), pred.tolist(), ["neither", "hate", "offensive"], ["toxic"],
                      GROUPS)


def test_the_union_of_several_positive_classes_is_today_s_chat_fpr():
    # single-label: "(any)" scores P(hate or offensive) = their softmax sum; gold and predicted "is one of them"
    probs = RNG.dirichlet([1, 1, 1], N)
    gold = np.eye(3, dtype=int)[RNG.integers(0, 3, N)]
    pred = np.eye(3, dtype=int)[probs.argmax(1)]
    names = ["neither", "hate", "offensive"]
    out = bias_by_class(probs.tolist(), gold.tolist(), pred.tolist(), names, ["hate", "offensive"], GROUPS,
                        union=True, max_fpr=0.5)
    assert list(out) == ["hate", "offensive", UNION]
    direct = bias_report((probs[:, 1] + probs[:, 2]).tolist(), (gold[:, 0] == 0).astype(int).tolist(),
                         (pred[:, 0] == 0).astype(int).tolist(), GROUPS, max_fpr=0.5)
    assert out[UNION] == direct
    assert UNION not in bias_by_class(probs.tolist(), gold.tolist(), pred.tolist(), names, ["hate"], GROUPS, union=True)


def test_lengths_must_agree():
    with pytest.raises(ValueError, match="column 'race' has 3 rows for 2 examples"):
        bias_report([0.1, 0.2], [0, 1], [0, 1], {"race": [(), (), ()]})
