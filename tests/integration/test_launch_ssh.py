"""The ssh target against a real OpenSSH server on 127.0.0.1: probe, upload (rsync and sftp),
detached start, following by byte offset through dropped connections, stop, and refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import DEMO_CSV, DEMO_RECIPE, workbench
from tests.integration.runs import assert_every_event_stored_once, events_of, q, run_dir_from_output, wait_for, wait_for_step

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SHORT = ("--set", "train.epochs=3", "--set", "train.logging_steps=5")
# the test's own model cache travels with the job (it is not forwarded by default: a local path)
FORWARD = ("--forward-env", "HF_TOKEN,HF_HUB_OFFLINE,WORKBENCH_CACHE")
LONG = ("--set", "train.epochs=200", "--set", "train.logging_steps=1")


@pytest.fixture
def remote(tmp_path, sshd, cli_env):
    """`--target ssh:wbtest` flags, with the remote workdir in tmp_path/remote (same machine, over sshd)."""
    cli_env["WORKBENCH_SSH_CONFIG"] = str(sshd.config)
    workdir = tmp_path / "remote home" / "wb"
    return ["--target", f"ssh:{sshd.alias}", "--python", sys.executable, "--workdir", str(workdir), *FORWARD], workdir


def test_ssh_run_uploads_trains_remotely_and_mirrors_every_event(cli, tmp_path, remote, cli_env):
    flags, workdir = remote
    secret = "hf_SECRET_over_ssh_5d2e"
    cli_env["HF_TOKEN"] = secret
    r = cli("run", DEMO_RECIPE, *flags, *SHORT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    remote_dir = workdir / "runs" / run_dir.name
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["target"] == "ssh:wbtest" and meta["job_dir"] == str(remote_dir) and meta["upload"] == "rsync"
    # the remote folder has the uploaded data and a recipe pointing at it; the trainer wrote there
    assert (remote_dir / "data" / "reviews.csv").read_bytes() == DEMO_CSV.read_bytes()
    assert 'train_file = "data/reviews.csv"' in (remote_dir / "recipe.toml").read_text()
    assert (run_dir / "events.jsonl").read_bytes() == (remote_dir / "events.jsonl").read_bytes()
    store = tmp_path / "runs.duckdb"
    assert q(store, "SELECT status, target FROM runs")[0] == ("completed", "ssh:wbtest")
    assert_every_event_stored_once(store, run_dir.name, run_dir)
    assert q(store, "SELECT count(*) FROM telemetry WHERE run_id = ?", [run_dir.name])[0][0] > 0
    # the token reached the remote trainer's environment, and no file on either side
    assert "HF_TOKEN" in next(e for e in events_of(run_dir) if e["type"] == "start")["env_forwarded"]
    for path in [*run_dir.rglob("*"), *remote_dir.rglob("*"), store]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_sftp_upload_and_hostile_names_run_nothing(cli, tmp_path, remote, cli_env):
    flags, _ = remote
    marker = tmp_path / "pwned"
    hostile = tmp_path / f"data $(touch {marker}) `touch {marker}` ; touch {marker} 'q\""
    hostile.mkdir(parents=True)  # (the marker path nests folders: all the better)
    (hostile / "my reviews;$(x).csv").write_bytes(DEMO_CSV.read_bytes())
    workdir = tmp_path / f"wd $(touch {marker}); `touch {marker}`"
    cli_env["WORKBENCH_UPLOAD"] = "sftp"
    r = cli("run", DEMO_RECIPE, *flags, "--workdir", str(workdir), "--set", "train.max_steps=3",
            "--set", f"data.train_file={hostile / 'my reviews;$(x).csv'}", "--set", "eval.base=false", timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    assert json.loads((run_dir / "run.json").read_text())["upload"] == "sftp"
    assert (workdir / "runs" / run_dir.name / "data" / "my_reviews_x_.csv").exists()
    assert not marker.exists()
    assert q(tmp_path / "runs.duckdb", "SELECT status FROM runs")[0][0] == "completed"


def test_follow_resumes_after_dropped_connections_without_gaps_or_duplicates(tmp_path, remote, cli_env, sshd):
    flags, workdir = remote
    # The trainer pauses after step 5 until `release` exists: the connections are cut while the run is
    # certainly going (a fast machine once finished the run before the first cut), whatever the machine's speed.
    release = tmp_path / "release"
    flags = [*flags[:-len(FORWARD)], "--forward-env", FORWARD[1] + ",WORKBENCH_PAUSE_AT,WORKBENCH_RELEASE"]
    env = {**cli_env, "WORKBENCH_PAUSE_AT": "step:5", "WORKBENCH_RELEASE": str(release)}
    r = workbench("run", DEMO_RECIPE, "--detach", *flags, "--set", "train.epochs=1", "--set", "train.logging_steps=1",
                  env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    remote_dir = workdir / "runs" / run_dir.name
    attach = subprocess.Popen([sys.executable, "-m", "workbench", "attach", run_dir.name], cwd=tmp_path,
                              env={**os.environ, **cli_env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    said: list[str] = []  # the follower's output, line by line as it comes

    def read() -> None:
        for line in attach.stdout:
            said.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def remote_steps() -> int:
        return sum(e["type"] == "step" for e in events_of(remote_dir))

    def remote_ended() -> bool:
        return any(e["type"] == "end" for e in events_of(remote_dir))

    # steps 1-4 written (step 5's event comes after the pause) and mirrored: the run is paused mid-run
    wait_for(lambda: sum(e["type"] == "step" for e in events_of(run_dir)) >= 4, 240, "steps mirrored")
    for i in range(3):  # connections cut mid-run (each time once the follower is connected again) ...
        wait_for(sshd.connection_pids, 240, f"the follower's connection #{i + 1}")
        sshd.drop_connections()
    assert not remote_ended()
    # ... and once the server down, which the follower must notice (whether a cut shows depends on what
    # its poll was doing; a server that is down fails every poll), while the run writes steps to catch up on
    down_at = remote_steps()
    sshd.stop(kill_sessions=False)
    wait_for(lambda: any("connection lost" in line for line in said), 240, "the follower to lose the server")
    release.touch()
    wait_for(lambda: remote_steps() >= down_at + 3 or remote_ended(), 240, "steps written while the server is down")
    sshd.start()
    attach.wait(timeout=400)
    reader.join(timeout=60)
    out = "".join(said)
    assert attach.returncode == 0, out
    assert (run_dir / "events.jsonl").read_bytes() == (remote_dir / "events.jsonl").read_bytes()
    store = tmp_path / "runs.duckdb"
    assert q(store, "SELECT status FROM runs")[0][0] == "completed"
    assert_every_event_stored_once(store, run_dir.name, run_dir)


def test_stop_over_ssh_cancels_the_remote_run(cli, tmp_path, remote):
    flags, workdir = remote
    r = cli("run", DEMO_RECIPE, "--detach", *flags, *LONG, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    wait_for_step(workdir / "runs" / run_dir.name)
    s = cli("stop", run_dir.name, timeout=180)
    assert s.returncode == 0 and "cancelled" in s.stdout, s.stdout + s.stderr
    status, error = q(tmp_path / "runs.duckdb", "SELECT status, error FROM runs")[0]
    assert status == "cancelled" and "workbench stop" in error
    assert events_of(run_dir)[-1]["type"] == "end"  # the end event was mirrored too

    # resumed there (its cancel forgotten), then stopped again: cancelled, two attempts
    starts = sum(e["type"] == "start" for e in events_of(run_dir))
    r = cli("resume", run_dir.name, "--detach", timeout=120)
    assert r.returncode == 0 and "resuming" in r.stdout, r.stdout + r.stderr
    assert "stop_requested_at" not in json.loads((run_dir / "run.json").read_text())
    wait_for(lambda: sum(e["type"] == "start" for e in events_of(workdir / "runs" / run_dir.name)) > starts, 120,
             "the resumed attempt to start")
    s = cli("stop", run_dir.name, timeout=180)
    assert s.returncode == 0 and "cancelled" in s.stdout, s.stdout + s.stderr
    assert q(tmp_path / "runs.duckdb", "SELECT status, attempts FROM runs")[0] == ("cancelled", 2)


def test_a_killed_ssh_run_resumes_on_its_host_from_its_checkpoint(cli, tmp_path, remote):
    flags, workdir = remote
    flags = [*flags[:-len(FORWARD)], "--forward-env", FORWARD[1] + ",WORKBENCH_KILL_AT"]
    # killed (SIGKILL, no end event) inside the second epoch's evaluation: checkpoint-<epoch 1> is complete
    r = cli("run", DEMO_RECIPE, *flags, *SHORT, "--quiet", env={"WORKBENCH_KILL_AT": "epoch_eval#2"}, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    store = tmp_path / "runs.duckdb"
    status, error = q(store, "SELECT status, error FROM runs")[0]
    assert status == "failed" and "SIGKILL" in error
    first_checkpoint = next(e["step"] for e in events_of(run_dir) if e["type"] == "checkpoint")
    r = cli("resume", run_dir.name, "--quiet", timeout=300)  # no WORKBENCH_KILL_AT now: nothing forwarded
    assert r.returncode == 0, r.stdout + r.stderr
    assert q(store, "SELECT status, attempts, error FROM runs")[0] == ("completed", 2, None)
    remote_dir = workdir / "runs" / run_dir.name
    assert (run_dir / "events.jsonl").read_bytes() == (remote_dir / "events.jsonl").read_bytes()
    starts = [e for e in events_of(run_dir) if e["type"] == "start"]
    assert starts[1]["resumed"]["step"] == first_checkpoint and starts[1]["resumed"]["base_kept"] == ["validation"]
    assert (remote_dir / "exit.previous.json").exists()  # the killed attempt's exit record, kept aside
    steps = [s for (s,) in q(store, "SELECT step FROM steps ORDER BY step")]
    assert steps == sorted(set(steps))  # the killed attempt's steps after the checkpoint were superseded
    assert q(store, "SELECT count(*) FROM evals WHERE phase = 'tuned'")[0][0] > 0


def test_unknown_host_key_is_refused_and_the_run_recorded_failed(cli, tmp_path, remote, cli_env, sshd):
    flags, _ = remote
    cfg = sshd.write_client_config(tmp_path / "bad_config", known_hosts=tmp_path / "empty_known_hosts")
    (tmp_path / "empty_known_hosts").write_text("")
    cli_env["WORKBENCH_SSH_CONFIG"] = str(cfg)
    cli_env["WORKBENCH_SSH_MULTIPLEX"] = "0"  # a shared connection from another test would skip the check
    r = cli("run", DEMO_RECIPE, *flags)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "Host key verification failed" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    status, error = q(tmp_path / "runs.duckdb", "SELECT status, error FROM runs")[0]
    assert status == "failed" and error.startswith("launch failed")


@pytest.mark.parametrize("python", ["missing", "bare"])
def test_a_host_without_workbench_is_reported_before_anything_starts(cli, tmp_path, remote, python):
    flags, _ = remote
    if python == "missing":
        exe = str(tmp_path / "no" / "python3")
    else:  # a real Python without site-packages: no workbench there
        exe = str(tmp_path / "bare-python")
        Path(exe).write_text(f"#!/bin/sh\nexec {sys.executable} -S -I \"$@\"\n")
        os.chmod(exe, 0o755)
    r = cli("run", DEMO_RECIPE, *flags, "--python", exe)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "cannot run workbench there" in r.stderr and "launch.python" in r.stderr
    assert ("No module named" if python == "bare" else "No such file") in r.stderr
    assert q(tmp_path / "runs.duckdb", "SELECT status FROM runs")[0][0] == "failed"


def test_a_container_image_is_checked_on_the_remote_host_relative_to_its_workdir(cli, tmp_path, remote):
    """The image is the host's file: a relative path is relative to launch.workdir there, checked
    before anything is uploaded or started, and sent as the absolute path it found."""
    flags, workdir = remote
    r = cli("run", DEMO_RECIPE, *flags, "--container", "images/missing.sif")
    assert r.returncode == 2, r.stdout + r.stderr
    line, = r.stderr.strip().splitlines()
    assert f"launch.container: no such image {workdir / 'images' / 'missing.sif'} on " in line
    run_id, status = q(tmp_path / "runs.duckdb", "SELECT run_id, status FROM runs")[0]
    assert status == "failed" and not (workdir / "runs" / run_id / "recipe.toml").exists()  # nothing uploaded

    (workdir / "images").mkdir(parents=True)
    (workdir / "images" / "train.sif").write_bytes(b"an image")
    r = cli("run", DEMO_RECIPE, *flags, "--container", "images/train.sif", "--container-runtime", "singularity")
    run_id = q(tmp_path / "runs.duckdb", "SELECT run_id FROM runs ORDER BY created_at DESC LIMIT 1")[0][0]
    uploaded = (workdir / "runs" / run_id / "recipe.toml").read_text()
    assert f'container = "{workdir / "images" / "train.sif"}"' in uploaded
    import shutil

    if not shutil.which("singularity"):  # no singularity on this host: refused when the job starts, in one line
        assert r.returncode == 2 and "launch.container needs singularity" in r.stderr, r.stdout + r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
