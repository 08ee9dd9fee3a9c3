"""Never lose a run, never corrupt the store: followers killed mid-run, several runs training while
other processes query the store, and a store rebuilt from the run folders equal to the live one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import assert_every_event_stored_once, events_of, q, wait_for, wait_for_step
from workbench.rundir import read_job

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SHORT = ("--set", "train.epochs=2", "--set", "data.max_rows=300", "--set", "train.logging_steps=2",
         "--telemetry-interval", "0.5")
TABLES = ("runs", "params", "steps", "evals", "telemetry", "artifacts", "logs")


def start_followers(cli_env: dict, n: int, cwd: Path) -> list[subprocess.Popen]:
    """n `workbench run` processes, each starting a run and following it (ingesting as it goes)."""
    env = {**os.environ, **cli_env}
    return [subprocess.Popen([sys.executable, "-m", "workbench", "run", str(DEMO_RECIPE), "--quiet", *SHORT],
                             cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(n)]


def run_dirs(tmp_path: Path, n: int) -> list[Path]:
    return wait_for(lambda: (d := sorted((tmp_path / "runs").glob("*/events.jsonl"))) and len(d) >= n and
                    [p.parent for p in d], 120, f"{n} run folders")


def ended(run_dir: Path) -> bool:
    return any(e["type"] == "end" for e in events_of(run_dir))


def counts(store: Path) -> dict[str, int]:
    return {t: q(store, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}


def test_followers_killed_mid_run_lose_nothing(cli, cli_env, tmp_path):
    """SIGKILL the three followers while their runs train: the runs finish on their own (own
    session), and `workbench sync` afterwards stores each of their events exactly once."""
    store = tmp_path / "runs.duckdb"
    procs = start_followers(cli_env, 3, tmp_path)
    dirs = run_dirs(tmp_path, 3)
    groups = []
    try:
        for d in dirs:
            wait_for_step(d)
            # Held mid-run (the supervisor leads the job's process group, trainer included): on a busy
            # machine the first run could otherwise finish before the last one has logged a step.
            groups.append(read_job(d)["pid"])
            os.killpg(groups[-1], signal.SIGSTOP)
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=30)
        assert not any(ended(d) for d in dirs), "the runs should still be training when their followers die"
    finally:
        for g in groups:
            os.killpg(g, signal.SIGCONT)
    wait_for(lambda: all(ended(d) for d in dirs), 400, "the runs to finish without their followers")
    res = cli("sync", timeout=120)
    assert res.returncode == 0, res.stderr
    assert sorted(s for (s,) in q(store, "SELECT status FROM runs")) == ["completed"] * 3
    for d in dirs:
        assert_every_event_stored_once(store, d.name, d)
    before = counts(store)
    assert cli("sync", timeout=120).returncode == 0
    assert counts(store) == before  # ingesting again is a no-op


QUERY_LOOP = """
import os, subprocess, sys, time
n = bad = 0
while not os.path.exists(sys.argv[1]):
    time.sleep(0.2)  # a user re-running a query, not a busy loop starving the trainers of CPU
    r = subprocess.run([sys.executable, "-m", "workbench", "query", "select count(*) from steps", "--format", "csv"],
                       capture_output=True, text=True)
    n += 1
    if r.returncode != 0 or "error" in r.stderr.lower():
        bad += 1
        print(r.stderr.strip(), file=sys.stderr)
print(n, bad)
"""


def test_four_runs_and_two_query_loops_share_the_store(cli, cli_env, tmp_path):
    """Four runs ingesting while two other processes query the store in a loop: no lock error
    reaches anyone, no event is lost or stored twice, and the store equals one rebuilt from the
    run folders."""
    store = tmp_path / "runs.duckdb"
    env = {**os.environ, **cli_env}
    procs = start_followers(cli_env, 4, tmp_path)
    stop = tmp_path / "stop-querying"
    loops = [subprocess.Popen([sys.executable, "-c", QUERY_LOOP, str(stop)], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for p in procs:
            out, err = p.communicate(timeout=500)
            assert p.returncode == 0, out + err
            assert "error" not in err.lower(), err
    finally:
        stop.touch()
    for loop in loops:
        out, err = loop.communicate(timeout=120)
        n, bad = map(int, out.split())
        assert n > 0 and bad == 0, err  # every query answered, none saw a lock
    dirs = sorted(p.parent for p in (tmp_path / "runs").glob("*/events.jsonl"))
    assert len(dirs) == 4
    assert sorted(s for (s,) in q(store, "SELECT status FROM runs")) == ["completed"] * 4
    for d in dirs:
        assert_every_event_stored_once(store, d.name, d)
    # Integrity: a store rebuilt from the folders alone holds exactly the same rows.
    rebuilt = tmp_path / "rebuilt" / "runs.duckdb"
    rebuilt.parent.mkdir()
    (rebuilt.parent / "runs").symlink_to(tmp_path / "runs")
    res = cli("--store", str(rebuilt), "sync", timeout=120)
    assert res.returncode == 0, res.stderr
    assert counts(rebuilt) == counts(store)
    import duckdb

    con = duckdb.connect(str(store), read_only=True)
    try:
        con.execute(f"ATTACH '{rebuilt}' AS rebuilt (READ_ONLY)")
        for table in ("steps", "evals", "telemetry", "artifacts"):
            only_live = con.execute(f"SELECT count(*) FROM (SELECT * FROM {table} EXCEPT ALL "
                                    f"SELECT * FROM rebuilt.{table})").fetchone()[0]
            assert only_live == 0, table
    finally:
        con.close()
