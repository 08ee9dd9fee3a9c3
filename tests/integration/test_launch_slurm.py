"""SLURM and PBS targets against a real one-node SLURM cluster (PBS through Debian's Torque
wrappers over it): submit, follow, scancel / qdel, jobs that fail before the trainer starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import assert_every_event_stored_once, events_of, q, run_dir_from_output, wait_for_step

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SHORT = ("--set", "train.epochs=3", "--set", "train.logging_steps=5")
# the test's own model cache travels with the job (it is not forwarded by default: a local path)
FORWARD = ("--forward-env", "HF_TOKEN,HF_HUB_OFFLINE,WORKBENCH_CACHE")
LONG = ("--set", "train.epochs=200", "--set", "train.logging_steps=1")


@pytest.fixture
def on_cluster(slurm, cli_env):
    cli_env.update(slurm.env)  # SLURM_CONF: this machine is the login node
    return slurm


def test_slurm_job_trains_and_its_state_is_tracked(cli, tmp_path, on_cluster):
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--partition", "debug", "--time", "00:20:00", *SHORT, timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    store = tmp_path / "runs.duckdb"
    (status, job_id, target), = q(store, "SELECT status, job_id, target FROM runs")
    assert (status, target) == ("completed", "slurm") and job_id.isdigit()
    record = on_cluster.jobs(job_id)[0]
    assert record["JobState"] == "COMPLETED" and record["Partition"] == "debug" and record["TimeLimit"] == "00:20:00"
    assert "#SBATCH --partition=debug" in (run_dir / "job.sbatch").read_text()
    assert_every_event_stored_once(store, run_dir.name, run_dir)


def test_scancel_by_hand_ends_the_run_cancelled(cli, tmp_path, on_cluster):
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--detach", *LONG, timeout=120)
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
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--modules", "cuda/12.1", "--python", sys.executable, timeout=300)
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
    r = cli("run", DEMO_RECIPE, "--target", "pbs", "--project", "71001002", "--queue", "debug",
            "--walltime", "00:30:00", *FORWARD, *SHORT, timeout=400)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    (status, job_id), = q(tmp_path / "runs.duckdb", "SELECT status, job_id FROM runs WHERE run_id = ?", [run_dir.name])
    assert status == "completed"
    record = on_cluster.jobs(job_id)[0]
    assert record["Partition"] == "debug" and record["TimeLimit"] == "00:30:00" and record["JobName"].startswith("wb-")

    r = cli("run", DEMO_RECIPE, "--target", "pbs", "--detach", *FORWARD, *LONG, timeout=120)
    second = run_dir_from_output(r.stdout, tmp_path)
    wait_for_step(second)
    s = cli("stop", second.name, timeout=180)
    assert s.returncode == 0 and "cancelled" in s.stdout, s.stdout + s.stderr
    assert q(tmp_path / "runs.duckdb", "SELECT status FROM runs WHERE run_id = ?", [second.name])[0][0] == "cancelled"
    assert_every_event_stored_once(tmp_path / "runs.duckdb", second.name, second)


def test_seed_list_becomes_one_job_array_in_one_group(cli, tmp_path, on_cluster):
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--seeds", "3,7", "--quiet", "--set", "train.max_steps=10",
            "--set", "eval.base=false", timeout=400)
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
            "--quiet", "--set", "train.max_steps=10", "--set", "eval.base=false", timeout=500)
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
    r = cli("run", DEMO_RECIPE, "--target", "slurm", "--time", "1", "--quiet", *LONG, timeout=400)
    assert r.returncode == 130, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    (status, error, job_id), = q(tmp_path / "runs.duckdb", "SELECT status, error, job_id FROM runs")
    assert status == "interrupted" and "time limit" in error and f"job {job_id}" in error
    assert on_cluster.jobs(job_id)[0]["JobState"] == "TIMEOUT"
    assert events_of(run_dir)[-1]["type"] == "end"  # SIGTERM first: the trainer recorded its end
    assert_every_event_stored_once(tmp_path / "runs.duckdb", run_dir.name, run_dir)
