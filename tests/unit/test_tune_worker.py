"""The pure parts of `workbench tune`'s workers (issue 30): which GPUs each local worker sees (one trial
per GPU; this machine has none, so the assignment is tested alone), and how a trial's run folder is told
to the study (COMPLETE with its tuned validation metric, PRUNED, FAIL)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from optuna.trial import TrialState

from tests.integration.runs import dead_pid
from tests.unit.test_store import make_run, rid
from workbench.actions.tune import assign_devices
from workbench.errors import UserError
from workbench.events import EventWriter
from workbench.rundir import events_file
from workbench.tune.worker import outcome


def test_one_worker_per_gpu_in_the_visible_order():
    assert assign_devices(2, ["0", "1", "2"], 0) == ["0", "1"]
    assert assign_devices(3, ["4", "6", "7"], 1) == ["4", "6", "7"]  # CUDA_VISIBLE_DEVICES=4,6,7: those ids
    assert assign_devices(2, ["0", "1", "2", "3"], 2) == ["0,1", "2,3"]  # launch.gpus = 2: two each
    assert assign_devices(2, [], 0) == [None, None]  # no GPU: CPU trials
    with pytest.raises(UserError, match=r"--parallel 3: 3 trials of 1 GPU\(s\) each need 3 GPUs; this machine has 2"):
        assign_devices(3, ["0", "1"], 1)


def _ended(tmp_path, demo_recipe, status: str, **evals):
    run_dir = make_run(tmp_path / "runs", rid(status), demo_recipe, end=None)
    with EventWriter(events_file(run_dir)) as w:
        w.emit("eval", phase="epoch", split="validation", step=5, epoch=1.0, labels={}, aggregates={"loss": 0.7})
        if evals:
            w.emit("eval", phase="tuned", split="validation", step=5, epoch=1.0, labels={}, aggregates=evals)
        w.emit("end", status=status, error=None if status == "completed" else f"it {status}")
    return run_dir


def test_a_trials_run_is_told_by_how_it_ended(tmp_path, demo_recipe):
    done = outcome(_ended(tmp_path, demo_recipe, "completed", loss=0.61, f1_macro=0.4), "f1_macro")
    assert (done.state, done.value, done.why) == (TrialState.COMPLETE, 0.4, None)
    pruned = outcome(_ended(tmp_path, demo_recipe, "pruned"), "loss")
    assert (pruned.state, pruned.value, pruned.why) == (TrialState.PRUNED, None, "it pruned")
    failed = outcome(_ended(tmp_path, demo_recipe, "failed"), "loss")
    assert (failed.state, failed.why) == (TrialState.FAIL, "it failed")
    assert outcome(_ended(tmp_path / "x", demo_recipe, "completed", loss=0.5), "f1_macro").state == TrialState.FAIL


def test_orphaned_trials_are_settled_from_their_runs_and_live_ones_are_left_alone(tmp_path, demo_recipe):
    """A continued study must not count for ever a trial whose worker died before telling it, nor fail a live
    one: a trial whose run ended (exit.json) is told its run's result; one whose supervisor is gone is told
    FAIL only when its job ran on this host (another node's /proc is not ours to read); one whose supervisor
    runs is left to its worker; one with no run yet is told FAIL once older than the grace period."""
    import socket
    import time

    from workbench import rundir
    from workbench.tune import study as tune_study
    from workbench.tune.worker import ORPHAN_GRACE_S, settle_orphans

    runs = tmp_path / "runs"
    study = tune_study.open_study(tune_study.storage_path(runs, "g"), "g", metric="f1_macro")
    ended, gone, elsewhere, alive, unstarted = (study.ask() for _ in range(5))
    ended.set_user_attr("run_id", _completed(runs, "ended", demo_recipe, 0.7).name)
    for trial, name in ((gone, "gone"), (elsewhere, "elsewhere"), (alive, "alive")):
        trial.set_user_attr("run_id", make_run(runs, rid(name), demo_recipe, end=None).name)
    here = socket.gethostname()
    rundir.write_job(runs / rid("ended"), {"kind": "local", "pid": 1, "host": here})
    rundir.write_job(runs / rid("gone"), {"kind": "local", "pid": dead_pid(), "host": here})
    rundir.write_job(runs / rid("elsewhere"), {"kind": "local", "pid": dead_pid(), "host": here + "-node7"})
    supervisor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "workbench.launch.supervisor",
                                   str((runs / rid("alive")).resolve())])  # a supervisor's command line
    try:
        rundir.write_job(runs / rid("alive"), {"kind": "local", "pid": supervisor.pid, "host": here})
        assert settle_orphans(study, runs) == [ended.number, gone.number]
        assert settle_orphans(study, runs, now=time.time() + ORPHAN_GRACE_S + 1) == [unstarted.number]
    finally:
        supervisor.kill()
        supervisor.wait()
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "RUNNING", "RUNNING", "FAIL"]
    assert trials[0].value == 0.7


def test_a_worker_that_exits_badly_is_said_with_its_log(tmp_path):
    from workbench.actions.tune import TunePlan, Tuning, follow_tune
    from workbench.tune import study as tune_study

    storage = tune_study.storage_path(tmp_path / "runs", "g")
    tune_study.open_study(storage, "g", metric="loss")
    plan = TunePlan(recipe=None, store=tmp_path / "runs.duckdb", group="g", storage=storage, space={}, metric="loss",
                    trials=1, timeout=0, devices=[None, None], output=tmp_path / "b.toml")
    workers = [subprocess.Popen([sys.executable, "-c", f"import sys; sys.exit({code})"]) for code in (0, 3)]
    said: list[str] = []
    follow_tune(Tuning(plan, False, workers), lambda t: None, said.append)
    assert said == [f"tune worker 1 exited with status 3; see {storage.with_name('g.worker1.log')}"]


def _completed(runs, name, demo_recipe, value):
    """A trial's run folder that ended completed with its tuned validation `f1_macro`, exit.json written."""
    from workbench import rundir

    run_dir = make_run(runs, rid(name), demo_recipe, end=None)
    with EventWriter(events_file(run_dir)) as w:
        w.emit("eval", phase="tuned", split="validation", step=5, epoch=1.0, labels={}, aggregates={"f1_macro": value})
        w.emit("end", status="completed", error=None)
    rundir.write_exit(run_dir, {"t": 0, "returncode": 0})
    return run_dir


def test_tunes_final_sweep_settles_only_its_own_workers_trials(tmp_path, demo_recipe):
    """Two `tune --group g` share a study: the first to finish must not fail the other's live trials. Its
    own workers' trials left running are settled: from the run's exit.json when it has one (the completed
    result told), else failed."""
    import socket

    from workbench.actions.tune import TunePlan, Tuning, follow_tune
    from workbench.tune import study as tune_study

    runs = tmp_path / "runs"
    storage = tune_study.storage_path(runs, "g")
    study = tune_study.open_study(storage, "g", metric="f1_macro")
    mine = subprocess.Popen([sys.executable, "-c", "pass"])
    mine.wait()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # the other tune's worker
    try:
        done, killed, theirs = (study.ask() for _ in range(3))
        for trial, pid in ((done, mine.pid), (killed, mine.pid), (theirs, other.pid)):
            trial.set_user_attr("worker_host", socket.gethostname())
            trial.set_user_attr("worker_pid", pid)
        done.set_user_attr("run_id", _completed(runs, "done", demo_recipe, 0.7).name)
        plan = TunePlan(recipe=None, store=tmp_path / "runs.duckdb", group="g", storage=storage, space={},
                        metric="f1_macro", trials=3, timeout=0, devices=[None], output=tmp_path / "b.toml")
        lines: list = []
        follow_tune(Tuning(plan, False, [mine]), lines.append)
    finally:
        other.kill()
        other.wait()
    assert [(t.number, t.state, t.value) for t in lines] == [(0, "completed", 0.7), (1, "failed", None)]
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE", "FAIL", "RUNNING"]


def test_a_trial_whose_run_cannot_be_made_is_told_failed_not_left_running(tmp_path, demo_recipe):
    """Anything that goes wrong between ask and tell (here the run folder cannot be created: the run root is
    a file) ends with the trial told FAIL, saying why; left RUNNING it would count toward tune.trials for ever."""
    from optuna.distributions import FloatDistribution, distribution_to_json

    from workbench.tune import study as tune_study
    from workbench.tune.worker import work

    storage = tune_study.storage_path(tmp_path / "tune", "g")
    study = tune_study.open_study(storage, "g", metric="f1_macro")
    study.set_user_attr("space", {"train.learning_rate": distribution_to_json(FloatDistribution(1e-5, 1e-3, log=True))})
    runs = tmp_path / "runs"
    runs.write_text("not a folder")
    with pytest.raises(UserError, match="cannot create the run folder"):
        work(storage, "g", demo_recipe, runs, trials=1)
    (trial,) = study.get_trials()
    assert trial.state == TrialState.FAIL
    assert "cannot create the run folder" in trial.user_attrs["why"]


def test_a_stop_during_a_held_block_lands_once_it_is_over():
    """The worker's stop (a signal whose handler raises Stopped) must not land inside Optuna's ask or tell:
    held there, it is raised once the block is over, after the trial was told."""
    import os
    import signal

    from workbench.tune.worker import STOP_SIGNALS, Stopped, _stop, held_signals

    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    done = []
    try:
        signal.signal(signal.SIGTERM, _stop)
        with pytest.raises(Stopped, match="SIGTERM"), held_signals():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("told")
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert done == ["told"]


def test_a_trial_whose_run_folder_cannot_be_read_is_still_settled(tmp_path, demo_recipe):
    """Settling happens on the way out of an error: reading the run must not raise again and leave the trial
    running (events.jsonl a folder here: an OSError like an I/O error)."""
    from workbench.tune import study as tune_study
    from workbench.tune.worker import settle

    runs = tmp_path / "runs"
    study = tune_study.open_study(tune_study.storage_path(runs, "g"), "g", metric="f1_macro")
    trial = study.ask()
    run_dir = _completed(runs, "broken", demo_recipe, 0.7)
    events_file(run_dir).unlink()
    events_file(run_dir).mkdir()
    settle(study, trial, run_dir, "its worker ended before the trial did")
    (told,) = study.get_trials()
    assert told.state == TrialState.FAIL
    assert told.user_attrs["why"].startswith("its run folder cannot be read")


def _process(*argv: str, session: bool = False) -> subprocess.Popen:
    """A real process whose command line names `argv` (what the liveness checks read), sleeping until killed."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", *argv], start_new_session=session)


def test_a_studys_workers_are_recorded_and_only_live_local_ones_drop_out(tmp_path):
    """.tune/G.workers.json (review M8): a local entry is live while its pid is a tune worker of G on this
    host; another host's or a batch job's entry cannot be seen from here and is kept; forgetting this
    invocation's entries leaves the others, and the file goes with the last."""
    from workbench.tune.workers import forget_workers, live_workers, local_worker, record_workers, workers_file

    runs = tmp_path / "runs"
    worker, other_study = _process("workbench.tune.worker", "--study", "g"), _process("workbench.tune.worker",
                                                                                     "--study", "h")
    try:
        mine = local_worker(worker.pid)
        elsewhere = {**local_worker(worker.pid), "host": "node7"}
        array = {"kind": "slurm", "job_id": "12_0", "host": "login1", "started": 0}
        record_workers(runs, "g", [mine, local_worker(dead_pid()), elsewhere, array, local_worker(other_study.pid)])
        assert live_workers(runs, "g") == [mine, elsewhere, array]
        forget_workers(runs, "g", [mine])
        assert live_workers(runs, "g") == [elsewhere, array]
        forget_workers(runs, "g", [elsewhere, array])
        assert not workers_file(runs, "g").exists()
    finally:
        for p in (worker, other_study):
            p.kill()
            p.wait()


def _running_run(tmp_path, demo_recipe, supervisor: subprocess.Popen):
    import socket

    from workbench import rundir

    run_dir = make_run(tmp_path / "runs", rid("running"), demo_recipe, end=None)
    rundir.write_job(run_dir, {"kind": "local", "pid": supervisor.pid, "host": socket.gethostname()})
    return run_dir


def test_a_trial_told_failed_while_its_run_runs_has_its_run_stopped(tmp_path, demo_recipe):
    """A trial settled FAIL (its metric unreadable, an error, its worker gone) whose run still runs: the run is
    stopped (SIGTERM to its process group), so no orphan trains on with nothing to read its result."""
    import signal

    from workbench.tune import study as tune_study
    from workbench.tune.worker import settle

    supervisor = _process("workbench.launch.supervisor", str((tmp_path / "runs" / rid("running")).resolve()),
                          session=True)
    try:
        run_dir = _running_run(tmp_path, demo_recipe, supervisor)
        study = tune_study.open_study(tune_study.storage_path(tmp_path / "runs", "g"), "g", metric="f1_macro")
        settle(study, study.ask(), run_dir, "its tuned validation evaluation has no f1_macro")
        assert supervisor.wait(timeout=30) == -signal.SIGTERM
    finally:
        supervisor.kill()
        supervisor.wait()
    assert study.get_trials()[0].state == TrialState.FAIL


def test_a_run_that_ignores_sigterm_is_killed_once_the_wait_is_over(tmp_path, demo_recipe):
    """Every wait on a stop is bounded (review M9): a trainer that does not answer SIGTERM (a collective, a
    long evaluation) has its process group killed after the grace period."""
    import signal

    from workbench.launch.agent import stop_within

    argv = [sys.executable, "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('ready', flush=True); time.sleep(120)", "workbench.launch.supervisor",
            str((tmp_path / "runs" / rid("running")).resolve())]
    supervisor = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert supervisor.stdout is not None and supervisor.stdout.readline() == "ready\n"
        run_dir = _running_run(tmp_path, demo_recipe, supervisor)
        assert stop_within(run_dir, 0.5) is True
        assert supervisor.wait(timeout=30) == -signal.SIGKILL
    finally:
        supervisor.kill()
        supervisor.wait()
