"""SLURM and PBS targets against a real one-node SLURM cluster (PBS through Debian's Torque
wrappers over it): submit, follow, scancel / qdel, jobs that fail before the trainer starts."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import assert_every_event_stored_once, events_of, q, run_dir_from_output, wait_for_step

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SHORT = ("--set", "train.epochs=3", "--set", "train.logging_steps=5")
# Batch jobs get only the variables named here (--export / -v): the test's own model cache, and the
# workbench this test imports (PYTHONPATH where a copy of the tree sets it), travel with the job.
FORWARD = ("--forward-env", "HF_HUB_OFFLINE,WORKBENCH_CACHE,PYTHONPATH")
QUICK = ("--set", "train.max_steps=10", "--set", "eval.base=false")
LONG = ("--set", "train.epochs=200", "--set", "train.logging_steps=1")


@pytest.fixture
def on_cluster(slurm, cli_env):
    cli_env.update(slurm.env)  # SLURM_CONF: this machine is the login node
    return slurm


def test_slurm_job_trains_and_its_state_is_tracked(cli, tmp_path, on_cluster):
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--partition", "debug", "--time", "00:20:00", "--job-name",
            "sft_lora_train", "--log-file", "sched-%j.log", *FORWARD, *SHORT, timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    store = tmp_path / "runs.duckdb"
    (status, job_id, target), = q(store, "SELECT status, job_id, target FROM runs")
    assert (status, target) == ("completed", "slurm") and job_id.isdigit()
    record = on_cluster.jobs(job_id)[0]
    assert record["JobState"] == "COMPLETED" and record["Partition"] == "debug" and record["TimeLimit"] == "00:20:00"
    assert (record["JobName"], record["StdOut"]) == ("sft_lora_train", str(run_dir / f"sched-{job_id}.log"))
    assert "#SBATCH --partition=debug" in (run_dir / "job.sbatch").read_text()
    assert_every_event_stored_once(store, run_dir.name, run_dir)


def test_scancel_by_hand_ends_the_run_cancelled(cli, tmp_path, on_cluster):
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--detach", *FORWARD, *LONG, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    wait_for_step(run_dir)
    job_id = q(tmp_path / "runs.duckdb", "SELECT job_id FROM runs")[0][0]
    subprocess.run(["scancel", job_id], env=on_cluster.environ, check=True)
    att = cli("attach", run_dir.name, timeout=300)
    assert att.returncode == 1 and "cancelled" in att.stdout, att.stdout + att.stderr
    status, error = q(tmp_path / "runs.duckdb", "SELECT status, error FROM runs")[0]
    assert status == "cancelled" and f"job {job_id} CANCELLED" in error
    assert events_of(run_dir)[-1]["type"] == "end"  # the trainer saw SIGTERM and recorded its end
    assert_every_event_stored_once(tmp_path / "runs.duckdb", run_dir.name, run_dir)


def test_a_job_that_fails_before_the_trainer_starts_is_failed_with_its_exit_code(cli, tmp_path, on_cluster):
    # `module` does not exist on this node: the batch script stops with exit status 127
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--modules", "cuda/12.1", "--python", sys.executable, *FORWARD,
            timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    status, error = q(tmp_path / "runs.duckdb", "SELECT status, error FROM runs")[0]
    assert status == "failed" and "FAILED" in error and "exit code 127" in error
    assert "module: command not found" in (run_dir / "train.log").read_text()
    assert not events_of(run_dir)


def test_a_refused_submission_is_one_line_and_a_failed_run(cli, tmp_path, on_cluster):
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--partition", "nosuch")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "sbatch refused the job" in r.stderr and "Invalid partition name" in r.stderr
    assert q(tmp_path / "runs.duckdb", "SELECT status FROM runs")[0][0] == "failed"


def test_slurm_through_a_login_node_over_ssh(cli, tmp_path, on_cluster, login_node, cli_env):
    cli_env.pop("SLURM_CONF")  # only the login node's own sessions know the cluster
    cli_env["WORKBENCH_SSH_CONFIG"] = str(login_node.config)
    workdir = tmp_path / "login home"
    r = cli("run", DEMO_RECIPE, "--target", f"slurm:{login_node.alias}", "--python", sys.executable,
            "--workdir", str(workdir), "--partition", "gpu", *FORWARD, *SHORT, timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    assert (run_dir / "events.jsonl").read_bytes() == (workdir / "runs" / run_dir.name / "events.jsonl").read_bytes()
    (status, job_id), = q(tmp_path / "runs.duckdb", "SELECT status, job_id FROM runs")
    assert status == "completed" and on_cluster.jobs(job_id)[0]["Partition"] == "gpu"
    assert_every_event_stored_once(tmp_path / "runs.duckdb", run_dir.name, run_dir)


def test_pbs_job_with_the_source_projects_options_trains_and_qdel_stops_another(cli, tmp_path, on_cluster):
    # (no --project: sbatch under the Torque wrapper refuses #PBS -P; the unit tests check it is written)
    r = cli("run", DEMO_RECIPE, "--target", "pbs", "--queue", "debug", "--walltime", "00:30:00", *FORWARD, *SHORT,
            timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    (status, job_id), = q(tmp_path / "runs.duckdb", "SELECT status, job_id FROM runs WHERE run_id = ?", [run_dir.name])
    assert status == "completed"
    record = on_cluster.jobs(job_id)[0]
    # the job name: the recipe's, cut to PBS's portable 15 characters
    assert (record["Partition"], record["TimeLimit"], record["JobName"]) == ("debug", "00:30:00", "demo_encoder_mu")

    r = cli("run", DEMO_RECIPE, "--target", "pbs", "--detach", *FORWARD, *LONG, timeout=120)
    second = run_dir_from_output(r.stdout, tmp_path)
    wait_for_step(second)
    s = cli("stop", second.name, timeout=180)
    assert s.returncode == 0 and "cancelled" in s.stdout, s.stdout + s.stderr
    assert q(tmp_path / "runs.duckdb", "SELECT status FROM runs WHERE run_id = ?", [second.name])[0][0] == "cancelled"
    assert_every_event_stored_once(tmp_path / "runs.duckdb", second.name, second)


def test_detached_jobs_read_settled_from_one_squeue_for_all(cli, tmp_path, on_cluster):
    """Nobody follows two detached SLURM runs: `runs` shows the finished one completed and the other
    running, from ONE squeue call for both (scontrol / sacct / qstat not asked), writing nothing
    (issue 25, item 6: workbench/launch/reckon.py)."""
    import json
    import shutil

    from tests.integration.runs import wait_for

    shims = tmp_path / "shims"
    shims.mkdir()
    log = tmp_path / "scheduler-calls.log"
    for tool in ("squeue", "scontrol", "sacct", "qstat"):  # each call logged, then the real command
        real = shutil.which(tool, path=on_cluster.environ.get("PATH"))
        (shims / tool).write_text(f"#!/bin/sh\necho \"{tool} $*\" >> {log}\nexec {real or 'false'} \"$@\"\n")
        (shims / tool).chmod(0o755)
    done = run_dir_from_output(cli("run", DEMO_RECIPE, "--target", "slurm", "--detach", *FORWARD, *QUICK,
                                   timeout=120).stdout, tmp_path)
    wait_for(lambda: (done / "exit.json").exists(), 300, "the first job to end")
    going = run_dir_from_output(cli("run", DEMO_RECIPE, "--target", "slurm", "--detach", *FORWARD, *LONG,
                                    timeout=120).stdout, tmp_path)
    try:
        wait_for_step(going)
        log.unlink(missing_ok=True)
        res = cli("runs", "--format", "json", env={"PATH": f"{shims}:{on_cluster.environ['PATH']}"})
        assert res.returncode == 0, res.stderr
        status = {r["run_id"]: r["status"] for r in json.loads(res.stdout)}
        assert (status[done.name], status[going.name]) == ("completed", "running")
        calls = log.read_text().splitlines()
        assert [c.split()[0] for c in calls] == ["squeue"], calls
        assert q(tmp_path / "runs.duckdb", "SELECT status FROM runs WHERE run_id = ?", [done.name])[0][0] == "queued"
    finally:
        cli("stop", going.name, "--force", timeout=180)


def test_seed_list_becomes_one_job_array_in_one_group(cli, tmp_path, on_cluster):
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--seeds", "3,7", "--quiet", *FORWARD, *QUICK, timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = q(tmp_path / "runs.duckdb", "SELECT r.job_id, r.status, r.group_id, p.value FROM runs r JOIN params p "
                                       "USING (run_id) WHERE p.key = 'train.seed' ORDER BY r.job_id")
    assert [(job.split("_")[1], status, seed) for job, status, _, seed in rows] == [("0", "completed", "3"),
                                                                                   ("1", "completed", "7")]
    base = {job.split("_")[0] for job, *_ in rows}
    assert len(base) == 1 and len({g for *_, g, _ in rows}) == 1  # one array job, one group
    assert "#SBATCH --array=0-1" in next((tmp_path / "runs").glob("*/job.sbatch")).read_text()
    assert {rec["ArrayTaskId"] for job, *_ in rows for rec in on_cluster.jobs(job)} == {"0", "1"}


def test_a_2x2_sweep_is_one_job_array_and_compare_ranks_its_trials(cli, tmp_path, on_cluster):
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--sweep", "train.learning_rate=1e-3,3e-3", "--sweep", "lora.r=4,8",
            "--quiet", *FORWARD, *QUICK, timeout=500)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = q(tmp_path / "runs.duckdb", """SELECT r.job_id, r.status, r.group_id, lr.value, rk.value FROM runs r
             JOIN params lr ON lr.run_id = r.run_id AND lr.key = 'train.learning_rate'
             JOIN params rk ON rk.run_id = r.run_id AND rk.key = 'lora.r' ORDER BY r.job_id""")
    assert [(job.split("_")[1], status, lr, rank) for job, status, _, lr, rank in rows] == [
        ("0", "completed", "0.001", "4"), ("1", "completed", "0.001", "8"), ("2", "completed", "0.003", "4"),
        ("3", "completed", "0.003", "8")]
    assert len({job.split("_")[0] for job, *_ in rows}) == 1 and len({g for _, _, g, *_ in rows}) == 1
    assert "#SBATCH --array=0-3" in next((tmp_path / "runs").glob("*/job.sbatch")).read_text()
    out = cli("compare", "--group", rows[0][2]).stdout
    assert "trials ranked by loss" in out and "marginal effect of each knob" in out
    assert all(f"│ {i} │" in out for i in range(1, 5))


def test_seeds_on_a_local_target_cannot_detach(cli, tmp_path):
    r = cli("run", DEMO_RECIPE, "--seeds", "1,2", "--detach")
    assert r.returncode == 2 and "slurm or pbs" in r.stderr
    assert not (tmp_path / "runs").exists()
    r = cli("run", DEMO_RECIPE, "--seeds", "1,x")
    assert r.returncode == 2 and "--seeds" in r.stderr


def test_a_job_that_reaches_its_time_limit_ends_interrupted(cli, tmp_path, on_cluster):
    # the shortest limit SLURM has is one minute: this test waits for it
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--time", "1", "--quiet", *FORWARD, *LONG, timeout=400)
    assert r.returncode == 130, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    (status, error, job_id), = q(tmp_path / "runs.duckdb", "SELECT status, error, job_id FROM runs")
    assert status == "interrupted" and "time limit" in error and f"job {job_id}" in error
    assert on_cluster.jobs(job_id)[0]["JobState"] == "TIMEOUT"
    assert events_of(run_dir)[-1]["type"] == "end"  # SIGTERM first: the trainer recorded its end
    assert_every_event_stored_once(tmp_path / "runs.duckdb", run_dir.name, run_dir)


# --- the job's environment: only what workbench chose; secrets nowhere -----------------------------

def _env_dumping_venv(root: Path) -> Path:
    """A launch.venv whose activate script writes the job's environment (NUL-separated) into the run
    folder: the script's prelude sources it there, after `cd RUN_DIR`, as it would a real venv."""
    venv = root / "envdump"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text("env -0 > job.env\n")
    return venv


def _job_env(run_dir: Path) -> dict[str, str]:
    entries = [e for e in (run_dir / "job.env").read_text().split("\0") if e]
    return dict(e.split("=", 1) for e in entries)


def _files_holding(root: Path, needle: str) -> list[Path]:
    """Every regular file under root whose bytes hold needle (binary files too)."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and needle.encode() in p.read_bytes()]


def _store_text(store: Path) -> str:
    tables = [t for (t,) in q(store, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")]
    return "\n".join(repr(row) for t in tables for row in q(store, f'SELECT * FROM "{t}"'))


def _submitting_env(tag: str) -> tuple[dict[str, str], str, str]:
    """A login shell's worth of variables: a secret (as a cloud key or a token would be), a non-secret
    one the recipe forwards, one it does not. Values are fresh: found anywhere, they came from here."""
    secret, plain = secrets.token_hex(16), secrets.token_hex(8)
    env = {"WB_TEST_SECRET_TOKEN": secret, "HF_TOKEN": secret, "AWS_SECRET_ACCESS_KEY": secret,
           "WB_TEST_PLAIN": plain, f"WB_TEST_UNLISTED_{tag}": plain + "-unlisted"}
    return env, secret, plain


@pytest.mark.parametrize("target", ["slurm", "pbs"])
def test_a_batch_job_gets_only_the_forwarded_names_and_no_secret_is_kept_anywhere(cli, tmp_path, on_cluster, target):
    env, secret, plain = _submitting_env(target)
    venv = _env_dumping_venv(tmp_path)
    r = cli("run", DEMO_RECIPE, "--target", target, "--venv", str(venv), "--python", sys.executable, "--detach",
            "--forward-env", f"WB_TEST_PLAIN,{FORWARD[1]}", *LONG, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    job_id = q(tmp_path / "runs.duckdb", "SELECT job_id FROM runs")[0][0]
    wait_for_step(run_dir)
    # While the job runs slurmctld holds its environment on disk (StateSaveLocation/hash.N/job.N/environment):
    # the forwarded value is there, which shows the search below can find a value that was passed.
    assert _files_holding(on_cluster.state_dir, plain)
    s = cli("stop", run_dir.name, timeout=180)
    assert s.returncode == 0 and "cancelled" in s.stdout, s.stdout + s.stderr
    on_cluster.wait_job(job_id, timeout=120)

    job_env = _job_env(run_dir)
    assert job_env["WB_TEST_PLAIN"] == plain and job_env["HF_HUB_OFFLINE"] == "1"
    assert not {"WB_TEST_SECRET_TOKEN", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", f"WB_TEST_UNLISTED_{target}"} & set(job_env)
    assert not [k for k, v in job_env.items() if secret in v or "-unlisted" in v]
    # nowhere: slurmctld's state and slurmd's spool and logs, the run folder (scripts, logs, events,
    # the job's environment), the store
    assert _files_holding(on_cluster.workdir, secret) == []
    assert _files_holding(tmp_path, secret) == []
    text = _store_text(tmp_path / "runs.duckdb")
    assert secret not in text and run_dir.name in text and "WB_TEST_PLAIN" in text  # (the store was read)


@pytest.mark.parametrize("target", ["slurm", "pbs"])
def test_a_secret_listed_in_forward_env_is_refused_and_nothing_is_submitted(cli, tmp_path, on_cluster, target):
    env, secret, _ = _submitting_env(target)
    jobs_before = on_cluster.run("squeue", "-h", "-t", "all", "-o", "%i").stdout
    r = cli("run", DEMO_RECIPE, "--target", target, "--forward-env", "HF_HUB_OFFLINE,WB_TEST_SECRET_TOKEN", env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "launch.forward_env lists WB_TEST_SECRET_TOKEN" in r.stderr and "hf auth login" in r.stderr
    assert secret not in r.stdout + r.stderr
    assert not (tmp_path / "runs").exists()
    assert on_cluster.run("squeue", "-h", "-t", "all", "-o", "%i").stdout == jobs_before
    v = cli("validate", DEMO_RECIPE, "--set", f"launch.target={target}", "--set", "launch.forward_env=HF_TOKEN")
    assert v.returncode == 2 and len(v.stderr.strip().splitlines()) == 1 and "lists HF_TOKEN" in v.stderr, v.stderr


def test_a_finished_pbs_runs_script_submitted_again_by_hand_runs_the_same_job(cli, tmp_path, on_cluster, cli_env):
    r = cli("run", DEMO_RECIPE, "--target", "pbs", "--queue", "gpu", "--walltime", "00:30:00", "--job-name",
            "sft_lora_train", *FORWARD, *QUICK, timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    first = q(tmp_path / "runs.duckdb", "SELECT job_id FROM runs")[0][0]
    script = (run_dir / "job.pbs").read_text()
    forwarded = [n for n in FORWARD[1].split(",") if n in {**os.environ, **cli_env}]
    assert "#PBS -N sft_lora_train\n" in script and "#PBS -q gpu\n" in script
    assert f"#PBS -v {','.join(forwarded)}\n" in script

    # by hand, as a person would, in the run folder: nothing but the script
    p = on_cluster.run("qsub", "job.pbs", cwd=run_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    again = p.stdout.strip()
    [rec] = on_cluster.wait_job(again, timeout=400)
    [was] = on_cluster.jobs(first)
    for field in ("JobName", "Partition", "TimeLimit", "NumNodes", "WorkDir", "Command"):
        assert rec[field] == was[field], field
    assert (rec["JobState"], rec["ExitCode"]) == ("COMPLETED", "0:0"), rec
    starts = [e for e in events_of(run_dir) if e["type"] == "start"]
    assert [e["attempt"] for e in starts] == [1, 2]  # the same run folder, trained on by the trainer again
    assert starts[1]["env_forwarded"] == starts[0]["env_forwarded"] == sorted(forwarded)
