"""A run nobody follows reads as what its folder and job say, not as the store's last word.

Issue 25, item 6: a detached run, or one whose follower was killed, read `queued` / `running` in
`runs`, `show` ("the run is still going") and the app until someone followed it or ran `sync`; a
SIGKILLed trainer read `queued`. Now reads settle an unfinished run from its folder (exit.json, the
pid's liveness, the last event; a batch job's state, asked once per command) without writing (they
open the store read-only), and the next writer records it (workbench/launch/reckon.py). A run that is
alive is never settled; a remote host that does not answer costs a bounded wait and a warning.

Real processes throughout: the CLI in a subprocess, detached supervisors and trainers of the demo
recipe, killed with real signals; run folders made by workbench's own writers where no training is
needed (tests/integration/runs.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import (
    assert_every_event_stored_once,
    dead_pid,
    events_of,
    q,
    register,
    run_dir_from_output,
    wait_for,
    write_run_folder,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SHORT = ("--set", "train.epochs=2", "--set", "data.max_rows=300", "--set", "train.logging_steps=2")


def listed(cli, *args) -> dict[str, dict]:
    res = cli("runs", "--format", "json", "--limit", "0", *args)
    assert res.returncode == 0, res.stderr
    return {r["run_id"]: r for r in json.loads(res.stdout)}


def stored_status(store: Path, run_id: str) -> str:
    return q(store, "SELECT status FROM runs WHERE run_id = ?", [run_id])[0][0]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/cmdline").exists() and Path(f"/proc/{pid}/cmdline").read_bytes() != b""


def test_a_detached_run_that_ended_reads_completed_and_the_next_writer_records_it(cli, tmp_path):
    store = tmp_path / "runs.duckdb"
    r = cli("run", DEMO_RECIPE, "--detach", *SHORT, timeout=120)
    assert r.returncode == 0, r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    wait_for(lambda: (run_dir / "exit.json").exists(), 300, "the detached run to end")
    run_id = run_dir.name

    row = listed(cli)[run_id]
    assert row["status"] == "completed"
    assert stored_status(store, run_id) == "queued"  # a read writes nothing: `runs` opened the store read-only
    show = cli("show", run_id)
    assert show.returncode == 0, show.stderr
    assert "completed" in show.stdout and "still going" not in show.stdout
    assert "workbench sync" in show.stdout  # its results are in the folder, not yet in the store

    # The next writer records it: ingested and settled, every event once.
    assert cli("tag", run_id, "seen=yes").returncode == 0
    assert q(store, "SELECT status, error FROM runs")[0] == ("completed", None)
    assert_every_event_stored_once(store, run_id, run_dir)
    ended = q(store, "SELECT epoch(ended_at) FROM runs")[0][0]
    assert abs(ended - events_of(run_dir)[-1]["t"]) < 1  # when it ended, not when it was recorded


def test_a_sigkilled_trainer_reads_failed_and_status_filters_see_it(cli, tmp_path):
    r = cli("run", DEMO_RECIPE, "--detach", *SHORT, env={"WORKBENCH_KILL_AT": "load"}, timeout=120)
    assert r.returncode == 0, r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    wait_for(lambda: (run_dir / "exit.json").exists(), 300, "the supervisor's exit record")
    run_id = run_dir.name

    assert listed(cli)[run_id]["status"] == "failed"
    assert run_id in listed(cli, "--status", "failed")
    assert run_id not in listed(cli, "--status", "queued")
    show = cli("show", run_id)
    assert "SIGKILL" in show.stdout and "still going" not in show.stdout
    assert stored_status(tmp_path / "runs.duckdb", run_id) == "queued"


def test_a_live_run_is_never_settled_and_one_whose_processes_all_died_reads_failed(cli, tmp_path):
    """The supervisor killed alone leaves the trainer training: still running. Both killed, no
    exit.json: failed, saying so."""
    store = tmp_path / "runs.duckdb"
    r = cli("run", DEMO_RECIPE, "--detach", *SHORT, env={"WORKBENCH_HOLD_AT": "load"}, timeout=120)
    assert r.returncode == 0, r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    run_id = run_dir.name
    start = wait_for(lambda: next((e for e in events_of(run_dir) if e["type"] == "start"), None), 300,
                     "the trainer's start")
    supervisor, trainer = json.loads((run_dir / "job.json").read_text())["pid"], start["pid"]
    try:
        assert listed(cli)[run_id]["status"] == "running"  # the store says queued: nothing was ingested

        os.kill(supervisor, signal.SIGKILL)
        wait_for(lambda: not alive(supervisor), 30, "the supervisor to die")
        assert alive(trainer)
        assert listed(cli)[run_id]["status"] == "running"  # its trainer trains on
        assert cli("sync").returncode == 0
        assert stored_status(store, run_id) == "running"  # nor does a writer settle it
    finally:
        os.kill(trainer, signal.SIGKILL)
    wait_for(lambda: not alive(trainer), 30, "the trainer to die")
    assert not (run_dir / "exit.json").exists()
    assert listed(cli)[run_id]["status"] == "failed"
    show = cli("show", run_id)
    assert "exit record" in show.stdout
    assert cli("sync").returncode == 0
    status, error = q(store, "SELECT status, error FROM runs")[0]
    assert status == "failed" and "exit record" in error


def test_a_reused_pid_does_not_keep_a_run_alive(cli, tmp_path):
    """job.json names a pid that now belongs to another process: the run is over all the same."""
    store = tmp_path / "runs.duckdb"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        run_dir = write_run_folder(tmp_path / "runs", "demo-20260101-120000-ab12", end=None, pid=other.pid,
                                   job={"kind": "local", "pid": other.pid, "host": "testhost"})
        register(store, run_dir)
        assert stored_status(store, run_dir.name) == "queued"
        row = listed(cli)[run_dir.name]
        assert row["status"] == "failed"
        assert stored_status(store, run_dir.name) == "queued"
    finally:
        other.kill()
        other.wait()


def test_an_end_event_not_ingested_yet_settles_the_run(cli, tmp_path):
    store = tmp_path / "runs.duckdb"
    gone = dead_pid()
    done = write_run_folder(tmp_path / "runs", "demo-20260101-120000-aa01", end="completed", pid=gone,
                            job={"kind": "local", "pid": gone, "host": "testhost"},
                            exit_record={"returncode": 0, "signal": None})
    stopped = write_run_folder(tmp_path / "runs", "demo-20260101-120001-aa02", end="interrupted", pid=gone,
                               job={"kind": "local", "pid": gone, "host": "testhost"},
                               exit_record={"returncode": 130, "signal": None})
    for d in (done, stopped):
        register(store, d)
    rows = listed(cli)
    assert (rows[done.name]["status"], rows[stopped.name]["status"]) == ("completed", "interrupted")
    assert rows[done.name]["duration_s"] is None  # never started as far as the store knows: no made-up time
    assert [stored_status(store, d.name) for d in (done, stopped)] == ["queued", "queued"]


def _ssh_config(tmp_path: Path, proxy: str) -> Path:
    config = tmp_path / "ssh_config"
    config.write_text(f"Host wbgone\n  ProxyCommand {proxy}\n  StrictHostKeyChecking no\n", encoding="utf-8")
    return config


@pytest.mark.parametrize("proxy, why", [("sleep 30", "no answer within"), ("false", "wbgone")],
                         ids=["hangs", "refuses"])
def test_a_remote_host_that_does_not_answer_costs_a_bounded_wait_and_a_warning(cli, tmp_path, proxy, why):
    """An ssh target whose host hangs (a dead VPN) or refuses: `runs` returns within its bound
    (workbench/launch/reckon.py TIMEOUT_S), shows the last recorded status and says why."""
    from workbench.launch.reckon import TIMEOUT_S

    store = tmp_path / "runs.duckdb"
    run_dir = write_run_folder(tmp_path / "runs", "demo-20260101-120000-cc01", target="ssh:wbgone", end=None)
    register(store, run_dir)
    env = {"WORKBENCH_SSH_CONFIG": str(_ssh_config(tmp_path, proxy)), "WORKBENCH_SSH_MULTIPLEX": "0"}
    t0 = time.monotonic()
    res = cli("runs", "--format", "json", env=env)
    took = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["status"] == "queued"
    assert "status as last recorded" in res.stderr and why in res.stderr, res.stderr
    assert took < TIMEOUT_S + 15, took  # the bound, and a CLI's start on a loaded machine


def _unreadable(path: Path, how: str) -> None:
    path.unlink()
    if how == "folder":
        path.mkdir()  # open() fails with EISDIR
    else:
        path.symlink_to(path.name)  # a link to itself: ELOOP


@pytest.mark.parametrize("how", ["folder", "symlink loop"])
def test_an_unreadable_events_file_leaves_its_run_as_recorded_and_every_other_run_read(cli, tmp_path, how):
    """Issue 25 review, item 3: one run's events.jsonl that cannot be opened (a folder in its place, a link
    loop; as a user without permission) made every status read fail (`runs`, `show`, a writer's record,
    the app's list). Now that run keeps its recorded status, the read says which file and why, as it says
    of a host that does not answer, and every other run is read and settled."""
    store = tmp_path / "runs.duckdb"
    gone = dead_pid()
    job = {"kind": "local", "pid": gone, "host": "testhost"}
    done = write_run_folder(tmp_path / "runs", "demo-20260101-120000-dd01", end="completed", pid=gone, job=job,
                            exit_record={"returncode": 0, "signal": None})
    # one whose job is over (its end is in the file that cannot be read), one without an exit record (its
    # trainer's pid is in that file)
    ended = write_run_folder(tmp_path / "runs", "demo-20260101-120000-dd02", end="completed", pid=gone, job=job,
                             exit_record={"returncode": 0, "signal": None})
    dead = write_run_folder(tmp_path / "runs", "demo-20260101-120000-dd03", end=None, pid=gone, job=job)
    for d in (done, ended, dead):
        register(store, d)
    for d in (ended, dead):
        _unreadable(d / "events.jsonl", how)

    res = cli("runs", "--format", "json", "--limit", "0")
    assert res.returncode == 0, res.stderr
    rows = {r["run_id"]: r["status"] for r in json.loads(res.stdout)}
    assert rows == {done.name: "completed", ended.name: "queued", dead.name: "queued"}
    for d in (ended, dead):
        assert f"status as last recorded: {d / 'events.jsonl'}: cannot be read" in res.stderr, res.stderr
    show = cli("show", dead.name)
    assert show.returncode == 0, show.stderr
    assert "cannot be read" in show.stderr and "Traceback" not in show.stderr

    # a writer records the run that can be read, and leaves the others as they were
    tagged = cli("tag", done.name, "seen=yes")
    assert tagged.returncode == 0, tagged.stderr
    assert [stored_status(store, d.name) for d in (done, ended, dead)] == ["completed", "queued", "queued"]


def _pbs_stand_ins(bin_dir: Path, states: dict[str, str], submitted: str) -> dict[str, str]:
    """qstat and qsub on PATH, printing what PBS prints: `qstat -f` a block per job of `states` ({job id:
    job_state}), `qsub` the id `submitted`. The point is when workbench asks, not PBS itself (the real
    schedulers are asked in tests/integration/test_launch_slurm.py)."""
    bin_dir.mkdir()
    blocks = {i: f"Job Id: {i}\n    job_state = {s}\n" + ("    Exit_status = 1\n" if s == "F" else "")
              for i, s in states.items()}
    (bin_dir / "qstat").write_text(f"#!{sys.executable}\nimport sys\nblocks = {blocks!r}\n"
                                   "sys.stdout.write(''.join(blocks.get(a, '') for a in sys.argv[1:]))\n")
    (bin_dir / "qsub").write_text(f"#!{sys.executable}\nprint({submitted!r})\n")
    for name in ("qstat", "qsub"):
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_a_run_resumed_while_a_writer_reckons_it_is_not_settled_by_its_earlier_job(cli, cli_env, tmp_path):
    """Issue 25 review, item 12: a writer (here `tag`) reckoned a PBS run over, then a `workbench resume`
    submitted it again before the writer took the run's lock; for a batch job the writer settled it from
    the job it had reckoned, so the queued run read failed. Now resume resets the run under the follow
    lock, and the writer asks for the job's state again under it, whatever its kind. The writer is held
    between its reckoning and the lock by the fault point `record` until the resume is done."""
    from tests.conftest import workbench

    store = tmp_path / "runs.duckdb"
    run_dir = write_run_folder(tmp_path / "runs", "demo-20260101-120000-ff01", target="pbs", end=None,
                               job={"kind": "pbs", "job_id": "100.srv", "host": "testhost"},
                               exit_record={"returncode": 1, "signal": None})
    register(store, run_dir)
    env = _pbs_stand_ins(tmp_path / "bin", {"100.srv": "F", "101.srv": "Q"}, "101.srv")
    release, log = tmp_path / "release", tmp_path / "tag.log"
    with open(log, "w") as err:
        tag = subprocess.Popen([sys.executable, "-m", "workbench", "tag", run_dir.name, "seen=yes"], cwd=tmp_path,
                               env={**os.environ, **cli_env, **env, "WORKBENCH_PAUSE_AT": "record",
                                    "WORKBENCH_RELEASE": str(release)}, stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for(lambda: "paused at record" in log.read_text(), 120, "the writer to reckon the run and pause")
        resumed = workbench("resume", run_dir.name, "--detach", env={**cli_env, **env}, cwd=tmp_path, timeout=120)
        assert resumed.returncode == 0 and "as job 101.srv" in resumed.stdout, resumed.stdout + resumed.stderr
        release.touch()
        assert tag.wait(timeout=120) == 0, log.read_text()
    finally:
        if tag.poll() is None:
            tag.kill()
            tag.wait()
    assert q(store, "SELECT status, error, job_id FROM runs") == [("queued", None, "101.srv")]
    res = cli("runs", "--format", "json", env=env)
    assert res.returncode == 0, res.stderr
    assert [(r["run_id"], r["status"]) for r in json.loads(res.stdout)] == [(run_dir.name, "queued")]


def _bytes_read() -> int:
    """What this process has read so far (Linux /proc/self/io: every read call, files and pipes)."""
    return int(next(line.split()[1] for line in Path("/proc/self/io").read_text().splitlines()
                    if line.startswith("rchar:")))


def test_a_dead_runs_trainer_is_asked_for_without_reading_its_events(cli, tmp_path):
    """Issue 25 review, item 13: with its supervisor killed and no exit record, whether the run's trainer
    lives was found from the pid of its last `start`, reading events.jsonl backwards: the whole file of a
    long run (0.4 s per 119 MB), per such run, at every read. The supervisor now records the pid of the
    trainer it starts (trainer.json): a read asks for it in a few bytes."""
    from workbench.launch import agent

    r = cli("run", DEMO_RECIPE, "--detach", *SHORT, env={"WORKBENCH_HOLD_AT": "load"}, timeout=120)
    assert r.returncode == 0, r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    start = wait_for(lambda: next((e for e in events_of(run_dir) if e["type"] == "start"), None), 300,
                     "the trainer's start")
    supervisor, trainer = json.loads((run_dir / "job.json").read_text())["pid"], start["pid"]
    try:
        assert json.loads((run_dir / "trainer.json").read_text())["pid"] == trainer
        os.kill(supervisor, signal.SIGKILL)
        wait_for(lambda: not alive(supervisor), 30, "the supervisor to die")
        assert agent.state(run_dir)["state"] == "running"  # its trainer trains on
    finally:
        os.kill(trainer, signal.SIGKILL)
    wait_for(lambda: not alive(trainer), 30, "the trainer to die")
    # a long run's events after its start (the trainer is gone: nothing else writes the file now)
    row = ('{"seq":%d,"t":1770000000.5,"type":"telemetry","host":"gpubox","rank":0,"gpu":0,"util":97.0,'
           '"mem_used":8589934592,"mem_total":68719476736,"power_w":250.0,"temp_c":61.0}\n')
    first = events_of(run_dir)[-1]["seq"] + 1
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as f:
        for s in range(first, first + 200_000, 10_000):
            f.write("".join(row % i for i in range(s, s + 10_000)))
    assert (run_dir / "events.jsonl").stat().st_size > 30 << 20
    before = _bytes_read()
    state = agent.state(run_dir)
    read = _bytes_read() - before
    assert state["state"] == "gone" and state["exit"] is None
    assert read < 1 << 20, f"{read:,} bytes read to tell the trainer is gone"  # was the whole file (~32 MB)
    assert listed(cli)[run_dir.name]["status"] == "failed"
