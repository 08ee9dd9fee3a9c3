"""`workbench tune` through the real CLI on the demo recipe's tiny model (issue 30): trials are runs of one
group in the store, trial 0 is the recipe's own values, the best trial's recipe is written, validates and
names its trial, and `tune --group G` again continues the same study."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import q
from workbench.tune import study as tune_study

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SHORT = ("--set", "train.epochs=2", "--set", "data.max_rows=160", "--set", "train.logging_steps=5")


def test_tune_runs_trials_as_runs_writes_the_best_recipe_and_continues_its_study(cli, tmp_path):
    store, best = tmp_path / "runs.duckdb", tmp_path / "best.toml"
    res = cli("tune", DEMO_RECIPE, *SHORT, "--trials", "3", "--space", "train.learning_rate=1e-4..1e-2",
              "--group", "g1", "--output", best, timeout=400)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[-1] == str(best) and best.exists()
    assert [ln.split()[1] for ln in lines if ln.startswith("trial ")] == ["0", "1", "2"] or \
        sorted(ln.split()[1] for ln in lines if ln.startswith("trial ")) == ["0", "1", "2"]
    assert lines[-2].startswith("3 completed, 0 pruned, 0 failed; best loss "), lines[-2]

    runs = q(store, "SELECT run_id, status FROM runs WHERE group_id = 'g1' ORDER BY created_at")
    assert len(runs) == 3 and {s for _, s in runs} == {"completed"}
    study = tune_study.open_study(tune_study.storage_path(tmp_path / "runs", "g1"), "g1")
    first = study.trials[0]
    assert first.params == {"train.learning_rate": 3e-3}  # the demo recipe's own rate
    assert q(store, "SELECT value FROM params WHERE run_id = ? AND key = 'train.learning_rate'",
             [first.user_attrs["run_id"]]) == [(json.dumps(3e-3),)] or \
        float(q(store, "SELECT value FROM params WHERE run_id = ? AND key = 'train.learning_rate'",
                [first.user_attrs["run_id"]])[0][0]) == 3e-3
    text = best.read_text()
    assert f"trial {study.best_trial.number}" in text
    assert cli("validate", best).returncode == 0
    again = cli("run", best, timeout=300)  # the best recipe reproduces its trial: same values, same seed
    assert again.returncode == 0, again.stdout + again.stderr
    (loss,) = q(store, "SELECT value FROM evals WHERE phase = 'tuned' AND split = 'validation' AND label = '(all)' "
                "AND metric = 'loss' AND run_id NOT IN (SELECT run_id FROM runs WHERE group_id = 'g1')")[0]
    assert loss == pytest.approx(study.best_value, abs=1e-6)

    res = cli("tune", DEMO_RECIPE, *SHORT, "--trials", "4", "--space", "train.learning_rate=1e-4..1e-2",
              "--group", "g1", "--output", best, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "continuing study g1" in res.stdout
    assert [ln.split()[1] for ln in res.stdout.splitlines() if ln.startswith("trial ")] == ["3"]
    assert len(tune_study.open_study(tune_study.storage_path(tmp_path / "runs", "g1"), "g1").trials) == 4
    assert q(store, "SELECT count(*) FROM runs WHERE group_id = 'g1'") == [(4,)]


def test_parallel_trials_run_side_by_side_in_one_study(cli, tmp_path):
    res = cli("tune", DEMO_RECIPE, *SHORT, "--trials", "3", "--parallel", "2", "--space", "lora.r=4,8",
              "--group", "g2", "--output", tmp_path / "b.toml", timeout=400)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "3 trials, 2 at a time" in res.stdout
    runs = q(tmp_path / "runs.duckdb", "SELECT started_at, ended_at FROM runs WHERE group_id = 'g2' "
             "AND status = 'completed' ORDER BY started_at")
    assert len(runs) == 3
    assert runs[1][0] < runs[0][1]  # the second trial started before the first ended
    assert len(list((tmp_path / "runs" / ".tune").glob("g2.worker*.log"))) == 2


def test_a_failed_trial_is_recorded_failed_and_the_study_goes_on(cli, tmp_path):
    """Every trial's trainer is killed at its first epoch evaluation (faults.py): each is failed in the
    store and the study, and the next trial still runs."""
    res = cli("tune", DEMO_RECIPE, *SHORT, "--trials", "2", "--space", "lora.r=4,8", "--group", "g3",
              "--output", tmp_path / "b.toml", env={"WORKBENCH_KILL_AT": "epoch_eval"}, timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    assert res.stdout.strip().splitlines()[-1].startswith("0 completed, 0 pruned, 2 failed; no trial completed")
    assert q(tmp_path / "runs.duckdb", "SELECT status, count(*) FROM runs WHERE group_id = 'g3' GROUP BY status") \
        == [("failed", 2)]
    study = tune_study.open_study(tune_study.storage_path(tmp_path / "runs", "g3"), "g3")
    assert [t.state.name for t in study.trials] == ["FAIL", "FAIL"]
    assert not (tmp_path / "b.toml").exists()


def test_pruned_trials_are_recorded_pruned_and_the_closing_line_says_what_pruning_saved(cli, tmp_path):
    """A study continued after 5 trials that reached a validation loss of 0.001 at each of their 2 epochs:
    the median pruner stops both new trials after their first epoch; they are `pruned` in the store and
    the study, and pruning saved 2 of the 14 epochs the 7 trials would have trained."""
    from optuna.distributions import CategoricalDistribution

    journal = tune_study.storage_path(tmp_path / "runs", "g4")
    space = {"lora.r": CategoricalDistribution([4, 8, 16])}
    study, _ = tune_study.start_study(journal, "g4", {"lora.r": 16}, metric="loss", space=space,
                                      pruner="median")
    for _ in range(tune_study.MEDIAN_STARTUP_TRIALS):
        trial = study.ask(fixed_distributions=space)
        for epoch in (1, 2):
            trial.report(0.001, epoch)
        trial.set_user_attr("epochs_planned", 2)
        trial.set_user_attr("epochs_run", 2)
        study.tell(trial, 0.001)

    res = cli("tune", DEMO_RECIPE, *SHORT, "--trials", "7", "--space", "lora.r=4,8", "--group", "g4",
              "--output", tmp_path / "b.toml", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.strip().splitlines()
    pruned = [ln for ln in lines if ln.startswith("trial ")]
    assert [ln.split()[1:3] for ln in pruned] == [["5", "pruned"], ["6", "pruned"]], res.stdout
    assert "(pruned by the median pruner at epoch 1: loss " in pruned[0] and "above the median 0.001" in pruned[0]
    assert lines[-2] == ("5 completed, 2 pruned, 0 failed; best loss 0.001 (trial 0); pruning saved 14% of the "
                         "epochs"), lines[-2]
    assert q(tmp_path / "runs.duckdb", "SELECT status, count(*) FROM runs WHERE group_id = 'g4' GROUP BY status") \
        == [("pruned", 2)]


@pytest.mark.parametrize(("args", "said"), [
    (("--trials", "0"), "--trials 0: expected 1 or more"),
    (("--parallel", "0"), "--parallel 0: expected 1 or more trials side by side"),
    (("--timeout", "-5"), "--timeout -5: expected seconds, 0 for no limit"),
    (("--parallel", "64"), "--parallel 64: 64 trials of 1 process(es) need 64 cores"),
    (("--group", "../x"), "--group '../x': expected letters, digits, _ . -"),
    (("--output", "."), "--output .: is a folder; expected the path of the recipe file to write"),  # review M7
    (("--output", "nowhere/b.toml"), "--output nowhere/b.toml: no folder "),
])
def test_bad_tune_flags_are_one_line_and_start_nothing(cli, tmp_path, args, said):
    res = cli("tune", DEMO_RECIPE, "--space", "lora.r=4,8", *args, env={"CUDA_VISIBLE_DEVICES": ""})  # no GPU
    assert res.returncode == 2 and said in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "runs").exists()


def test_continuing_a_study_with_another_space_is_one_line_and_starts_no_worker(cli, tmp_path):
    """`--set lora.r=12` adds 12 to lora.r's list: the study g5 keeps the list it started with, so the
    continuing `tune` is refused in one line (it started workers that all crashed on Optuna's "dynamic
    value space" before)."""
    from optuna.distributions import CategoricalDistribution

    journal = tune_study.storage_path(tmp_path / "runs", "g5")
    tune_study.start_study(journal, "g5", {"lora.r": 16}, metric="loss",
                           space={"lora.r": CategoricalDistribution([4, 8, 16])})
    res = cli("tune", DEMO_RECIPE, *SHORT, "--set", "lora.r=12", "--space", "lora.r=4,8,16", "--group", "g5",
              env={"CUDA_VISIBLE_DEVICES": ""})
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert ("tune study g5 draws lora.r from 4, 8, 16; this tune's space draws it from 4, 8, 16, 12: a study "
            "keeps the space it started with (keep lora.r one of 4, 8, 16, or start a new study with --group NEW)"
            ) in res.stderr
    assert not list(journal.parent.glob("g5.worker*.log"))


def test_the_timeout_starts_no_trial_after_it_and_the_running_one_finishes(cli, tmp_path):
    res = cli("tune", DEMO_RECIPE, *SHORT, "--trials", "5", "--timeout", "1", "--space", "lora.r=4,8",
              "--group", "g5", "--output", tmp_path / "b.toml", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().splitlines()[-2].startswith("1 completed, 0 pruned, 0 failed; best loss "), res.stdout
    assert q(tmp_path / "runs.duckdb", "SELECT status FROM runs WHERE group_id = 'g5'") == [("completed",)]


def test_ctrl_c_stops_the_trial_running_which_ends_cancelled_and_failed_in_the_study(cli_env, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from tests.integration.runs import events_of, wait_for

    proc = subprocess.Popen([sys.executable, "-m", "workbench", "tune", str(DEMO_RECIPE), "--set", "train.epochs=30",
                             "--set", "data.max_rows=160", "--trials", "3", "--space", "lora.r=4,8", "--group", "g6",
                             "--output", str(tmp_path / "b.toml")], cwd=tmp_path, env={**os.environ, **cli_env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "runs"
    run_dir = wait_for(lambda: next((d for d in runs.glob("demo*") if (d / "events.jsonl").exists()
                                     and any(e["type"] == "step" for e in events_of(d))), None), 240, "a step")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert q(tmp_path / "runs.duckdb", "SELECT run_id, status FROM runs WHERE group_id = 'g6'") == [
        (run_dir.name, "cancelled")]
    study = tune_study.open_study(tune_study.storage_path(runs, "g6"), "g6")
    assert [t.state.name for t in study.trials] == ["FAIL"]
    assert not (tmp_path / "b.toml").exists()
