"""A WORKBENCH_EVENT_LINE_LIMIT that is not a size (issue 25 review, item 10). `workbench run` launched,
then its follower stopped with exit status 2 and the run went on unfollowed; `workbench resume` started
a trainer that died with a traceback before its `end`. Now every command that starts or follows a run
(run, eval, resume, attach) checks it first: one line, exit status 2, nothing started or recorded; and a
trainer that meets one (set in a batch job's or a remote host's environment) ends failed saying so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import dead_pid, events_of, q, register, write_run_folder

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

BAD = {"WORKBENCH_EVENT_LINE_LIMIT": "lots"}
LINE = "error: WORKBENCH_EVENT_LINE_LIMIT='lots': expected a size in bytes such as 64M, 1G or 500000"


@pytest.fixture
def no_run_left(tmp_path):
    """Stops whatever a failing test started (a run launched in spite of the variable)."""
    yield
    for job in (tmp_path / "runs").glob("*/job.json"):
        pid = json.loads(job.read_text())["pid"]
        if Path(f"/proc/{pid}/cmdline").exists() and str(job.parent).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.killpg(pid, signal.SIGKILL)


def test_run_and_eval_refuse_it_before_anything_is_created(cli, tmp_path, no_run_left):
    for args in (("run", DEMO_RECIPE, "--detach"), ("eval", "tiny:distilbert", DEMO_RECIPE)):
        res = cli(*args, env=BAD, timeout=300)
        assert (res.returncode, res.stderr.strip()) == (2, LINE), res.stdout + res.stderr
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
        store = tmp_path / "runs.duckdb"
        assert not store.exists() or q(store, "SELECT count(*) FROM runs") == [(0,)]


def test_resume_and_attach_refuse_it_and_leave_the_run_as_it_was(cli, tmp_path, no_run_left):
    store = tmp_path / "runs.duckdb"
    gone = dead_pid()
    run_dir = write_run_folder(tmp_path / "runs", "demo-20260101-120000-ee01", end="failed", pid=gone,
                               job={"kind": "local", "pid": gone, "host": "testhost"},
                               exit_record={"returncode": 1, "signal": None})
    register(store, run_dir)
    assert cli("sync").returncode == 0
    before = (q(store, "SELECT status, error FROM runs"), (run_dir / "job.json").read_bytes(),
              (run_dir / "events.jsonl").read_bytes())
    for args in (("resume", run_dir.name), ("attach", run_dir.name)):
        res = cli(*args, env=BAD)
        assert (res.returncode, res.stderr.strip()) == (2, LINE), res.stdout + res.stderr
    assert (q(store, "SELECT status, error FROM runs"), (run_dir / "job.json").read_bytes(),
            (run_dir / "events.jsonl").read_bytes()) == before
    assert before[0][0][0] == "failed"
    assert (run_dir / "exit.json").exists()  # not moved aside for a new attempt


def test_a_trainer_that_meets_it_ends_failed_saying_so(tmp_path):
    """Started where the variable is set (a batch job's environment, a remote host's profile): the
    trainer of a resumed run (its earlier events are read first) records why it stops, without a traceback."""
    gone = dead_pid()
    run_dir = write_run_folder(tmp_path / "runs", "demo-20260101-120000-ee02", end="interrupted", pid=gone)
    earlier = events_of(run_dir)
    p = subprocess.run([sys.executable, "-m", "workbench.train", str(run_dir)], capture_output=True, text=True,
                       env={**os.environ, **BAD}, timeout=300)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    events = events_of(run_dir)
    assert events[:len(earlier)] == earlier
    end = events[-1]
    assert (end["type"], end["status"], end["seq"]) == ("end", "failed", events[-2]["seq"] + 1)
    assert end["error"] == LINE.removeprefix("error: ")
    assert json.dumps(events[len(earlier):]).count("WORKBENCH_EVENT_LINE_LIMIT='lots'") >= 1
