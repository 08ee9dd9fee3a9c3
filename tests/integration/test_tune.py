"""`workbench tune` through the real CLI on the demo recipe's tiny model (issue 30): trials are runs of one
group in the store, trial 0 is the recipe's own values, `--parallel 2` runs two trials at once, the best
trial's recipe is written, validates and reproduces its trial, `tune --group G` again continues the same
study (past failed trials, and with the best recipe still the earlier trial's), and Ctrl-C to the process
group stops the study but still writes the best recipe so far.

One study (g1) is made once for the module; the tests that only read it come first, those that continue it
after, each counting from what the study holds when it starts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE, workbench
from tests.integration.runs import q, study_rows, wait_for
from workbench.recipe import load_recipe
from workbench.tune import study as tune_study

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SHORT = ("--set", "train.epochs=1", "--set", "data.max_rows=160", "--set", "train.logging_steps=5")
PAUSED = "workbench faults: paused at load"  # train.log of a trainer held once its model is loaded


@dataclass
class Study:
    """Study g1 in `root` (runs, runs.duckdb, best.toml): `tune --parallel 2 --trials 2`'s output, and the
    runs seen held at one time."""

    root: Path
    env: dict
    stdout: str
    at_once: list[Path]

    @property
    def store(self) -> Path:
        return self.root / "runs.duckdb"

    @property
    def best(self) -> Path:
        return self.root / "best.toml"

    def study(self):
        return tune_study.open_study(tune_study.storage_path(self.root / "runs", "g1"), "g1")

    def cli(self, *args, timeout: float = 300, env: dict | None = None):
        return workbench(*args, env={**self.env, **(env or {})}, cwd=self.root, timeout=timeout)

    def popen(self, *args, env: dict | None = None) -> subprocess.Popen:
        """`workbench ARGS` in a session of its own, as a terminal runs it (Ctrl-C goes to its process group)."""
        return subprocess.Popen([sys.executable, "-m", "workbench", *map(str, args)], cwd=self.root,
                                env={**os.environ, **self.env, **(env or {})}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)


def held(runs: Path) -> list[Path]:
    return sorted(d for d in runs.glob("demo*") if PAUSED in _text(d / "train.log"))


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="module")
def g1(tmp_path_factory) -> Study:
    """Two trials side by side: each trainer is held once its model is loaded until both are (the overlap seen
    as a state both reach), then released."""
    root = tmp_path_factory.mktemp("tune")
    env = {"WORKBENCH_STORE": str(root / "runs.duckdb"), "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "200",
           "WORKBENCH_CACHE": os.environ["WORKBENCH_CACHE"]}
    made = Study(root, env, "", [])
    release = root / "release"
    proc = made.popen("tune", DEMO_RECIPE, *SHORT, "--trials", "2", "--parallel", "2", "--space",
                      "train.learning_rate=1e-4..1e-2", "--group", "g1", "--output", made.best,
                      env={"WORKBENCH_PAUSE_AT": "load", "WORKBENCH_RELEASE": str(release)})
    try:
        made.at_once = wait_for(lambda: len(held(root / "runs")) == 2 and held(root / "runs"), 240,
                                "both trials held at once")
    finally:
        release.write_text("go")
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    made.stdout = out
    return made


def test_trials_are_runs_of_the_group_and_trial_0_is_the_recipes_own_values(g1):
    lines = g1.stdout.strip().splitlines()
    assert "2 trials, 2 at a time" in lines[0]
    assert sorted(ln.split()[1] for ln in lines if ln.startswith("trial ")) == ["0", "1"]  # in the order they end
    assert lines[-2].startswith("2 completed, 0 pruned, 0 failed; best loss "), lines[-2]
    assert lines[-1] == str(g1.best)
    assert q(g1.store, "SELECT status, count(*) FROM runs WHERE group_id = 'g1' GROUP BY status") == [("completed", 2)]
    first = g1.study().trials[0]
    assert first.params == {"train.learning_rate": 3e-3}  # the demo recipe's own rate
    ((stored,),) = q(g1.store, "SELECT value FROM params WHERE run_id = ? AND key = 'train.learning_rate'",
                     [first.user_attrs["run_id"]])
    assert float(stored) == 3e-3


def test_parallel_trials_run_at_once_each_in_its_own_worker(g1):
    trials = g1.study().trials
    assert [d.name for d in g1.at_once] == sorted(t.user_attrs["run_id"] for t in trials)  # both held at one time
    assert len({t.user_attrs["worker_pid"] for t in trials}) == 2
    assert len(list((g1.root / "runs" / ".tune").glob("g1.worker*.log"))) == 2
    assert not (g1.root / "runs" / ".tune" / "g1.workers.json").exists()  # this tune's workers ended: forgotten


def test_the_best_recipe_validates_and_names_its_trial(g1):
    assert f"trial {g1.study().best_trial.number}, loss = " in g1.best.read_text()
    assert g1.cli("validate", g1.best).returncode == 0


def test_compare_group_ranks_the_studys_trials_lowest_loss_first_with_importances(g1):
    """`compare --group` of a study tune ran (issue 30 item 4): its metric is the recipe's best_metric, the loss,
    so lowest first, as the study's best trial says; the one knob searched holds all the importance."""
    r = g1.cli("compare", "--group", "g1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "trials ranked by loss (validation, tuned; lower is better) · 2 completed" in r.stdout
    rows = study_rows(r.stdout)
    values = [float(row["loss"]) for row in rows]
    assert values == sorted(values) and [row["status"] for row in rows] == ["completed"] * 2
    study = g1.study()
    assert rows[0]["trial"] == str(study.best_trial.number) and values[0] == pytest.approx(study.best_value, abs=1e-4)
    assert "parameter importances (fANOVA, seed 0) from the 2 completed trials" in r.stdout
    assert re.search(r"│ train\.learning_rate\s+│\s+1\.000 │", r.stdout)


def test_a_continued_study_goes_on_past_failed_trials_and_its_best_recipe_is_still_the_earlier_trials(g1):
    """Continued with another --set and every new trial's trainer killed once its model is loaded (faults.py):
    both are failed in the store and the study, the second still ran; the best trial is an earlier
    invocation's, and the best recipe (rewritten by this one) reproduces it: built from that trial's frozen
    recipe, not from this invocation's --set (review M4)."""
    before = len(g1.study().trials)
    res = g1.cli("tune", DEMO_RECIPE, *SHORT, "--set", "data.max_rows=120", "--trials", str(before + 2), "--space",
                 "train.learning_rate=1e-4..1e-2", "--group", "g1", "--output", g1.best,
                 env={"WORKBENCH_KILL_AT": "load"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "continuing study g1" in res.stdout
    assert [ln.split()[1:3] for ln in res.stdout.splitlines() if ln.startswith("trial ")] == \
        [[str(before), "failed"], [str(before + 1), "failed"]]
    study = g1.study()
    assert [t.state.name for t in study.trials[before:]] == ["FAIL", "FAIL"]
    assert q(g1.store, "SELECT count(*) FROM runs WHERE group_id = 'g1' AND status = 'failed'") == [(2,)]
    assert study.best_trial.number < before
    assert load_recipe(g1.best)["data.max_rows"] == 160  # the trial's, not this invocation's 120

    again = g1.cli("run", g1.best)  # the best recipe reproduces its trial: same values, same seed
    assert again.returncode == 0, again.stdout + again.stderr
    (loss,) = q(g1.store, "SELECT value FROM evals WHERE phase = 'tuned' AND split = 'validation' AND label = '(all)' "
                "AND metric = 'loss' AND run_id NOT IN (SELECT run_id FROM runs WHERE group_id = 'g1')")[0]
    assert loss == pytest.approx(study.best_value, abs=1e-6)


def test_ctrl_c_to_the_process_group_stops_the_trial_and_still_writes_the_best_recipe(g1):
    """Ctrl-C as a terminal sends it (SIGINT to the process group: `tune` and its workers) while a trial is held
    mid-run: the trial's run ends cancelled and the trial failed; the best recipe so far is still written and
    the closing line said, exit 130 (review M6). While it runs, a second `tune` of g1 is refused in one line
    naming its worker (review M8)."""
    before, runs = len(g1.study().trials), g1.root / "runs"
    g1.best.unlink()
    was_held = set(held(runs))
    proc = g1.popen("tune", DEMO_RECIPE, *SHORT, "--trials", str(before + 3), "--space",
                    "train.learning_rate=1e-4..1e-2", "--group", "g1", "--output", g1.best,
                    env={"WORKBENCH_PAUSE_AT": "load", "WORKBENCH_RELEASE": str(g1.root / "never")})
    try:
        (run_dir,) = wait_for(lambda: set(held(runs)) - was_held, 240, "the new trial held")
        second = g1.cli("tune", DEMO_RECIPE, *SHORT, "--group", "g1", "--output", g1.root / "other.toml")
        assert second.returncode == 2 and len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert "tune study g1 has workers running (pid " in second.stderr
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, out + err
    lines = out.strip().splitlines()
    assert lines[-2].startswith(f"2 completed, 0 pruned, {before - 1} failed; best loss "), out
    assert lines[-1] == str(g1.best) and g1.best.exists()
    assert q(g1.store, "SELECT status FROM runs WHERE run_id = ?", [run_dir.name]) == [("cancelled",)]
    assert [t.state.name for t in g1.study().trials[before:]] == ["FAIL"]
    assert not (runs / ".tune" / "g1.workers.json").exists()


def test_pruned_trials_are_recorded_pruned_and_the_closing_line_says_what_pruning_saved(cli, tmp_path):
    """A study continued after 5 trials that reached a validation loss of 0.001 at each of their 2 epochs:
    the median pruner stops the new trial after its first epoch; it is `pruned` in the store and the study,
    and pruning saved 1 of the 12 epochs the 6 trials would have trained."""
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

    res = cli("tune", DEMO_RECIPE, *SHORT, "--set", "train.epochs=2", "--trials", "6", "--space", "lora.r=4,8",
              "--group", "g4", "--output", tmp_path / "b.toml", timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.strip().splitlines()
    pruned = [ln for ln in lines if ln.startswith("trial ")]
    assert [ln.split()[1:3] for ln in pruned] == [["5", "pruned"]], res.stdout
    assert "(pruned by the median pruner at epoch 1: loss " in pruned[0] and "above the median 0.001" in pruned[0]
    assert lines[-2] == ("5 completed, 1 pruned, 0 failed; best loss 0.001 (trial 0); pruning saved 8% of the "
                         "epochs"), lines[-2]
    assert q(tmp_path / "runs.duckdb", "SELECT status, count(*) FROM runs WHERE group_id = 'g4' GROUP BY status") \
        == [("pruned", 1)]


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


def test_the_timeout_starts_no_trial_after_it_and_the_running_one_finishes(cli_env, tmp_path):
    """The first trial's trainer is held once its model is loaded until the 1 s timeout has passed since its
    run was made (a state of the run folder, however slow the machine): no second trial starts."""
    import json
    import time

    release = tmp_path / "release"
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "tune", str(DEMO_RECIPE), *SHORT, "--trials", "5",
                             "--timeout", "1", "--space", "lora.r=4,8", "--group", "g6", "--output",
                             str(tmp_path / "b.toml")], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **cli_env, "WORKBENCH_PAUSE_AT": "load",
                                            "WORKBENCH_RELEASE": str(release)})
    try:
        (run_dir,) = wait_for(lambda: held(tmp_path / "runs"), 240, "the first trial held")
        made = json.loads((run_dir / "run.json").read_text())["created_at"]
        wait_for(lambda: time.time() > made + 1, 10, "the timeout passed")
    finally:
        release.write_text("go")
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert out.strip().splitlines()[-2].startswith("1 completed, 0 pruned, 0 failed; best loss "), out
    assert q(tmp_path / "runs.duckdb", "SELECT run_id, status FROM runs WHERE group_id = 'g6'") == [
        (run_dir.name, "completed")]


def test_sigterm_stops_the_study_as_ctrl_c_and_with_no_trial_completed_writes_no_recipe(cli_env, tmp_path):
    """`kill <tune pid>` (SIGTERM to `tune` alone, its workers untouched) stops the study as Ctrl-C does (review
    M8): its workers and their trial's run are stopped, not left running; with no trial completed no recipe
    is written, and the closing line says so (review M6)."""
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "tune", str(DEMO_RECIPE), *SHORT, "--trials", "3",
                             "--space", "lora.r=4,8", "--group", "g7", "--output", str(tmp_path / "b.toml")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **cli_env, "WORKBENCH_PAUSE_AT": "load",
                                 "WORKBENCH_RELEASE": str(tmp_path / "never")})
    try:
        (run_dir,) = wait_for(lambda: held(tmp_path / "runs"), 240, "the first trial held")
        proc.terminate()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out + err
    assert out.strip().splitlines()[-1] == "0 completed, 0 pruned, 1 failed; no trial completed, so no recipe is written"
    assert not (tmp_path / "b.toml").exists()
    assert q(tmp_path / "runs.duckdb", "SELECT run_id, status FROM runs WHERE group_id = 'g7'") == [
        (run_dir.name, "cancelled")]
