"""`workbench compare --group G` of a tune study (issue 30 item 4), through the real CLI on a store whose
trial runs were ingested by the real ingestion and whose study is a real Optuna journal
(tools/sample_study.py): the trials ranked by the study's metric, best first, with their params, state and
run; below, Optuna's parameter importances, seeded so two reads print the same, saying how many trials they
rest on, or one line why there are none. A group that is no tune study compares as before."""

from __future__ import annotations

import re

import optuna
import pytest

from tests.integration.runs import study_rows
from tools.sample_study import GROUP, TRIALS, build_sample_study, run_id
from workbench.store.db import connect, runs_root
from workbench.tune import study as tune_study


@pytest.fixture
def study_store(tmp_path):
    build_sample_study(tmp_path / "runs.duckdb")
    return tmp_path / "runs.duckdb"


def test_a_tune_study_is_ranked_by_its_metric_with_each_trials_state_and_seeded_importances(cli, study_store):
    r = cli("compare", "--group", GROUP)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == f"5 runs of tune study {GROUP}: its trials ranked by f1_macro, the study's metric"
    head = next(ln for ln in r.stdout.splitlines() if ln.startswith("tune study "))
    assert head == (f"tune study {GROUP}: trials ranked by f1_macro (validation, tuned; higher is better) · "
                    "3 completed, 1 pruned, 1 failed"), head
    rows = study_rows(r.stdout)
    # rank, trial, learning rate, r, f1_macro, status, run: the completed best first, the others by number
    assert [(row["#"], row["trial"], row["status"]) for row in rows] == [
        ("1", "2", "completed"), ("2", "0", "completed"), ("3", "1", "completed"), ("", "3", "pruned"),
        ("", "4", "failed")]
    values = [float(row["f1_macro"]) for row in rows[:3]]
    assert values == sorted(values, reverse=True) and rows[3]["f1_macro"] == rows[4]["f1_macro"] == "—"
    assert [(row["train.learning_rate"], row["lora.r"]) for row in rows] == [
        (f"{TRIALS[n][0]:.4g}", str(TRIALS[n][1])) for n in (2, 0, 1, 3, 4)]
    assert rows[0]["run"] in run_id(2)

    note = "parameter importances (fANOVA, seed 0) from the 3 completed trials"
    assert note in r.stdout
    importances = dict(re.findall(r"│ (train\.learning_rate|lora\.r)\s+│\s+([0-9.]+) │", r.stdout.split(note)[1]))
    assert set(importances) == {"train.learning_rate", "lora.r"}
    assert sum(map(float, importances.values())) == pytest.approx(1.0, abs=0.002)
    again = cli("compare", "--group", GROUP)
    assert again.stdout.split(note)[1] == r.stdout.split(note)[1]  # seeded: the same importances on every read


def test_a_study_with_one_completed_trial_says_why_it_has_no_importances(cli, tmp_path):
    store = tmp_path / "runs.duckdb"
    build_sample_study(store)
    study = tune_study.open_study(tune_study.storage_path(runs_root(store), GROUP), GROUP)
    # a second study of the same runs where trial 0 alone completed: trials 1 and 2 failed, the others as they were
    other = "tune-one"
    one = tune_study.open_study(tune_study.storage_path(runs_root(store), other), other, metric="f1_macro")
    for t in study.trials:
        state = t.state if t.number == 0 or t.state != optuna.trial.TrialState.COMPLETE else optuna.trial.TrialState.FAIL
        one.add_trial(optuna.trial.create_trial(params=t.params, distributions=t.distributions, state=state,
                                                value=t.value if state == optuna.trial.TrialState.COMPLETE else None,
                                                user_attrs=t.user_attrs))
    with connect(store) as con:  # the runs are the group's too, as a study's trials are
        con.execute("UPDATE runs SET group_id = ? WHERE group_id = ?", [other, GROUP])
    r = cli("compare", "--group", other)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert "no parameter importances: they need 2 or more completed trials, this study has 1" in lines
    assert [row["status"] for row in study_rows(r.stdout)] == ["completed", "failed", "failed", "pruned", "failed"]


def test_a_group_that_is_no_tune_study_compares_as_before(cli, study_store):
    (study_store.parent / "runs" / ".tune" / f"{GROUP}.journal").unlink()
    r = cli("compare", "--group", GROUP)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tune study" not in r.stdout and "parameter importances" not in r.stdout
    assert f"runs of sweep {GROUP}: ranked by" in r.stdout  # one group of one recipe: today's sweep ranking
