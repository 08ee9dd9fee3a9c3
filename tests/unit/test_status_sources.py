"""What a status read stands on (issue 25, items 6 and 12): the batch schedulers asked once for many
jobs, the last event of an event file read from its end, the environment's errors told from bugs,
and temporary files a killed writer left told from a live one's.

The schedulers here are stand-ins on PATH that print what squeue / sacct / qstat print and log how
they were called (the point is how often workbench asks, and how it reads their answers); the real
ones are asked in tests/integration/test_launch_slurm.py against a real SLURM cluster.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workbench.errors import environment_cause, environment_fault
from workbench.events import last_event
from workbench.launch import batch
from workbench.rundir import left_behind


@pytest.fixture
def schedulers(tmp_path, monkeypatch):
    """scheduler(name, stdout, code=0): a stand-in command on PATH; calls() -> the argv of each call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def scheduler(name: str, stdout: str, code: int = 0, stderr: str = "") -> None:
        script = (f"import json, sys\nopen({str(log)!r}, 'a').write(json.dumps(sys.argv) + '\\n')\n"
                  f"sys.stdout.write({stdout!r}); sys.stderr.write({stderr!r}); sys.exit({code})\n")
        (bin_dir / name).write_text(f"#!{sys.executable}\n{script}", encoding="utf-8")
        (bin_dir / name).chmod(0o755)

    def calls() -> list[list[str]]:
        if not log.exists():
            return []
        return [[Path(a[0]).name, *a[1:]] for a in map(json.loads, log.read_text().splitlines())]

    scheduler.calls = calls
    return scheduler


def test_slurm_jobs_are_asked_in_one_squeue_and_the_ones_it_forgot_in_one_sacct(schedulers):
    schedulers("squeue", "501|RUNNING\n502|COMPLETED\n504_1|PENDING\n")
    schedulers("sacct", "503|CANCELLED by 1000|0:15\n")
    got = batch.job_states("slurm", ["501", "502", "503", "504_1", "505"])
    assert {k: (v.state, v.raw) for k, v in got.items()} == {
        "501": (batch.RUNNING, "RUNNING"), "502": (batch.DONE, "COMPLETED"), "503": (batch.DONE, "CANCELLED"),
        "504_1": (batch.QUEUED, "PENDING"), "505": (batch.GONE, "")}
    calls = schedulers.calls()
    assert [c[0] for c in calls] == ["squeue", "sacct"]
    assert "501,502,503,504_1,505" in calls[0] and "503,505" in calls[1]


def test_a_lone_slurm_job_is_asked_twice_in_one_call_and_a_silent_scheduler_is_unknown(schedulers):
    # squeue fails the whole call for a single unknown id; for a list it never does
    schedulers("squeue", "")
    schedulers("sacct", "", code=1, stderr="sacct: error: Slurm accounting storage is disabled")
    assert batch.job_states("slurm", ["7"])["7"].state == batch.GONE
    assert "7,7" in schedulers.calls()[0]
    schedulers("squeue", "", code=1, stderr="slurm_load_jobs error: Unable to contact slurm controller")
    got = batch.job_states("slurm", ["7", "8"])
    assert {s.state for s in got.values()} == {batch.UNKNOWN} and "Unable to contact" in got["7"].raw


def test_pbs_jobs_are_read_from_one_qstat(schedulers):
    schedulers("qstat", "Job Id: 11.server\n    job_state = R\n\nJob Id: 12.server\n    job_state = F\n"
                        "    Exit_status = -29\n", code=153, stderr="qstat: Unknown Job Id 13.server\n")
    got = batch.job_states("pbs", ["11.server", "12.server", "13.server"])
    assert {k: (v.state, v.raw) for k, v in got.items()} == {
        "11.server": (batch.RUNNING, "R"), "12.server": (batch.DONE, "TIMEOUT"), "13.server": (batch.GONE, "")}
    assert [c[0] for c in schedulers.calls()] == ["qstat", "qstat"]  # -x -f, then -f for the one not shown


def test_no_job_no_call(schedulers):
    schedulers("squeue", "")
    assert batch.job_states("slurm", []) == {} and schedulers.calls() == []


def test_the_last_event_is_read_from_the_end_past_a_torn_line(tmp_path):
    path = tmp_path / "events.jsonl"
    lines = [{"seq": i, "t": float(i), "type": "start" if i == 2 else "step", "step": i} for i in range(3000)]
    lines.append({"seq": 3000, "t": 3000.0, "type": "end", "status": "failed", "error": "boom"})
    path.write_text("".join(json.dumps(e) + "\n" for e in lines) + '{"seq": 3001, "t"', encoding="utf-8")
    for chunk in (16, 1000, 1 << 16):
        end = last_event(path, chunk=chunk)
        assert (end.type, end.seq, end.get("status"), end.get("error")) == ("end", 3000, "failed", "boom")
        assert last_event(path, ("start",), chunk=chunk).seq == 2
        assert last_event(path, ("tracking",), chunk=chunk) is None
    assert last_event(tmp_path / "none.jsonl") is None


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_the_environments_errors_are_one_line_naming_the_path(code):
    line = environment_fault(OSError(code, os.strerror(code), "/data/runs/r1/exit.json"))
    assert line == f"/data/runs/r1/exit.json: {os.strerror(code)}"
    assert environment_cause(f'Failed to commit: Could not write file "/x.wal": {os.strerror(code)}') == os.strerror(code)


@pytest.mark.parametrize("error", [OSError(errno.ENOENT, "No such file or directory", "/x"), OSError(errno.EIO, "I/O"),
                                   RuntimeError("No space left on device"), KeyError("x")])
def test_anything_else_stays_a_bug(error):
    assert environment_fault(error) is None


def test_a_temporary_file_is_left_behind_only_once_its_writer_is_gone(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    now = time.time()
    f = tmp_path / "exit.json.1.tmp"
    f.write_text("{")
    os.utime(f, (now - 120, now - 120))
    assert left_behind(f, p.pid, now)                      # its pid ended, over a minute ago
    assert not left_behind(f, os.getpid(), now)            # a live writer's (or a pid reused since)
    assert left_behind(f, os.getpid(), now + 4000)         # over an hour: whoever it was is not writing it
    assert not left_behind(f, p.pid, now - 90)             # under a minute old: maybe another machine's
    assert left_behind(f, None, now)                       # no pid in its name: by age alone
