"""Fault injection: what was done to find where the record lost runs or misreported them, done again on
every test run. Each probe breaks something for real — SIGKILL of the trainer, the supervisor, the
follower or `sync`; events.jsonl truncated, replaced or removed mid-run; a run folder turned read-only;
the store's disk filled; a corrupt run.json among good ones; runs trained beside readers and the app —
and asserts, through the real CLI and a real store:

- every event the run folders hold is in the store, once, after `workbench sync`;
- the status every reader shows tells the truth, without anyone running `sync` first;
- exit codes are the documented ones (0 done, 1 the run failed or a bug, 2 bad input or the machine).

Each probe's docstring says what it does (first paragraph) and what must hold ("Holds:"); with what it
measured, that is its row on the reliability page (docs/reliability.md, `python -m tests.faults.page`).
The runs are the demo recipe cut short (a few seconds each); probes that need several runs start them
at once, and a run that must be caught mid-way waits at a fault point (workbench/faults.py) until the
probe has done its damage: every wait is for a state, never for a time.
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
from tests.integration.filesystems import fill
from tests.integration.runs import assert_every_event_stored_once, events_of, q, run_dir_from_output, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# 160 training rows, batch 16: 10 steps an epoch, 2 epochs, a step logged every 2.
SHORT = ("--set", "train.epochs=2", "--set", "data.max_rows=200", "--set", "train.logging_steps=2",
         "--telemetry-interval", "0.5")


# --- helpers --------------------------------------------------------------------------------------

def env_of(cli_env: dict, **more: str) -> dict:
    return {**os.environ, **cli_env, **more}


def start_detached(cli, root: Path, *extra: str, env: dict | None = None) -> Path:
    """`workbench run DEMO --detach` (in `root`, the cli fixture's folder): the folder of the run it started."""
    res = cli("run", DEMO_RECIPE, "--detach", *SHORT, *extra, env=env, timeout=180)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return run_dir_from_output(res.stdout, root)


def follower(cli_env: dict, cwd: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """A `workbench run DEMO` in the foreground (it follows and ingests), as a process."""
    return subprocess.Popen([sys.executable, "-m", "workbench", "run", str(DEMO_RECIPE), *SHORT, *args], cwd=cwd,
                            env={**env_of(cli_env), **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def first_run_dir(root: Path) -> Path:
    return wait_for(lambda: next(iter(sorted((root / "runs").glob("*/run.json"))), None), 180, "the run folder").parent


def paused(run_dir: Path) -> bool:
    """The trainer waits at its WORKBENCH_PAUSE_AT point (it said so in train.log)."""
    log = run_dir / "train.log"
    return log.exists() and "workbench faults: paused at" in log.read_text(encoding="utf-8", errors="replace")


def exited(run_dir: Path) -> bool:
    return (run_dir / "exit.json").exists()


def listed(cli) -> dict[str, dict]:
    """`workbench runs --all --limit 0 --format json`: {run id: row}; the command must succeed."""
    res = cli("runs", "--all", "--limit", "0", "--format", "json")
    assert res.returncode == 0, res.stderr[-3000:]
    return {r["run_id"]: r for r in json.loads(res.stdout)}


def stored_seqs(store: Path, run_id: str) -> set[int]:
    """Every seq of the run the store holds, whatever table it went to (ended runs only: `end`,
    `start`, `model`, `summary`, `warnings`, `tracking` leave their mark on the runs row instead)."""
    rows = q(store, """SELECT seq FROM steps WHERE run_id = $1 UNION SELECT seq FROM evals WHERE run_id = $1
                       UNION SELECT seq FROM logs WHERE run_id = $1 UNION SELECT seq FROM telemetry WHERE run_id = $1
                       UNION SELECT seq FROM artifacts WHERE run_id = $1""", [run_id])
    return {s for (s,) in rows}


ROW_TYPES = ("step", "eval", "log", "telemetry", "artifact", "checkpoint")


def missing_from_store(store: Path, run_dir: Path) -> list[int]:
    """The seqs of events in the folder's events.jsonl that the store does not hold."""
    have = stored_seqs(store, run_dir.name)
    return [e["seq"] for e in events_of(run_dir) if e["type"] in ROW_TYPES and e["seq"] not in have]


def kill_tree(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def trainer_pid(run_dir: Path) -> int:
    return next(e["pid"] for e in events_of(run_dir) if e["type"] == "start")


def supervisor_pid(run_dir: Path) -> int:
    return json.loads((run_dir / "job.json").read_text(encoding="utf-8"))["pid"]


def no_traceback(res) -> None:
    out = res.stdout + res.stderr
    assert "Traceback" not in out and "a bug in workbench" not in out, out[-3000:]


# --- the trainer, the supervisor, the follower and sync killed --------------------------------------

KILL_POINTS = ("base_eval", "step:6", "checkpoint_save", "tuned_eval", "save")


def test_trainer_killed(cli, cli_env, tmp_path, probe):
    """SIGKILL of the trainer (no handler runs, as the kernel's OOM killer does it) at five points of a
    detached run nobody follows: the base evaluation, a training step, a checkpoint being written, the
    tuned evaluation, the adapter being saved. The five runs are started at once.

    Holds: `runs` and `show` say failed, killed by SIGKILL, before anyone runs `sync` (exit 0);
    after `sync` every event of each folder is stored once and the status is the same."""
    store = tmp_path / "runs.duckdb"
    dirs = {p: start_detached(cli, tmp_path, env={"WORKBENCH_KILL_AT": p}) for p in KILL_POINTS}
    wait_for(lambda: all(exited(d) for d in dirs.values()), 400, "the five killed runs' exit records")
    before = listed(cli)
    shown = {p: cli("show", d.name) for p, d in dirs.items()}
    assert cli("sync", timeout=300).returncode == 0
    after = listed(cli)
    for point, d in dirs.items():
        row = before[d.name]
        assert row["status"] == "failed", (point, row)
        assert shown[point].returncode == 0 and "failed" in shown[point].stdout, shown[point].stdout[-2000:]
        assert "SIGKILL" in shown[point].stdout, shown[point].stdout[-2000:]
        assert after[d.name]["status"] == "failed"
        assert_every_event_stored_once(store, d.name, d)
        probe.record(f"before sync: {row['status']} ({'SIGKILL' if 'SIGKILL' in shown[point].stdout else '?'}); "
                     f"after sync: {after[d.name]['status']}, {len(events_of(d))} events stored once",
                     name=f"test_trainer_killed[{point}]")


def test_supervisor_and_trainer_killed(cli, cli_env, tmp_path, probe):
    """SIGKILL of both the supervisor and the trainer mid-training (a node rebooted, the job's whole
    process tree killed): no exit.json, no `end` event.

    Holds: `runs` says failed at once (the pids are gone; no `sync` needed), with a reason that says
    the processes are gone; `sync` stores every event once."""
    store = tmp_path / "runs.duckdb"
    run_dir = start_detached(cli, tmp_path, env={"WORKBENCH_PAUSE_AT": "step:4", "WORKBENCH_RELEASE": str(tmp_path / "never")})
    wait_for(lambda: paused(run_dir), 300, "the trainer to pause at step 4")
    kill_tree([supervisor_pid(run_dir), trainer_pid(run_dir)])
    row = wait_for(lambda: (r := listed(cli)[run_dir.name])["status"] != "running" and r, 60, "the status to settle")
    assert row["status"] == "failed", row
    assert not exited(run_dir)
    show = cli("show", run_dir.name)
    assert "gone without an end event or exit record" in show.stdout, show.stdout[-2000:]
    assert cli("sync").returncode == 0
    assert_every_event_stored_once(store, run_dir.name, run_dir)
    probe.record(f"`runs` without sync: {row['status']}; exit.json absent; after sync: every one of "
                 f"{len(events_of(run_dir))} events stored once")


def test_follower_killed(cli, cli_env, tmp_path, probe):
    """SIGKILL of the `workbench run` that follows a run (the terminal closed, the laptop slept), at a
    training step; the run goes on to its end unfollowed.

    Holds: the follower's death does not stop the run; `runs` says completed once it ends, without
    `sync`; `sync` then stores every event once and a second `sync` adds nothing."""
    store = tmp_path / "runs.duckdb"
    release = tmp_path / "release"
    proc = follower(cli_env, tmp_path, "--quiet", env={"WORKBENCH_PAUSE_AT": "step:4", "WORKBENCH_RELEASE": str(release)})
    run_dir = first_run_dir(tmp_path)
    wait_for(lambda: paused(run_dir), 300, "the trainer to pause at step 4")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    release.touch()
    wait_for(lambda: exited(run_dir), 300, "the run to end without its follower")
    row = listed(cli)[run_dir.name]
    assert row["status"] == "completed", row
    assert cli("sync").returncode == 0
    assert_every_event_stored_once(store, run_dir.name, run_dir)
    n = q(store, "SELECT count(*) FROM steps")[0][0]
    assert cli("sync").returncode == 0 and q(store, "SELECT count(*) FROM steps")[0][0] == n
    probe.record(f"follower exit {proc.returncode} (SIGKILL); `runs` without sync: {row['status']}; "
                 f"after sync: {len(events_of(run_dir))} events stored once; second sync: no change")


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    """Two completed runs (folders only), trained once for the probes that need finished runs."""
    root = tmp_path_factory.mktemp("finished")
    env = {"WORKBENCH_STORE": str(root / "runs.duckdb"), "HF_HUB_OFFLINE": "1",
           "WORKBENCH_CACHE": os.environ["WORKBENCH_CACHE"], "NO_COLOR": "1"}
    procs = [subprocess.Popen([sys.executable, "-m", "workbench", "run", str(DEMO_RECIPE), "--quiet", *SHORT],
                              cwd=root, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=500)
        assert p.returncode == 0, err.decode()[-3000:]
    return sorted(p.parent for p in (root / "runs").glob("*/run.json"))


def copy_runs(finished: list[Path], root: Path, n: int) -> list[Path]:
    """n copies of the finished runs under root/runs, each with its own run id (as a sweep's runs)."""
    import shutil

    out = []
    for i in range(n):
        src = finished[i % len(finished)]
        stem = src.name.rsplit("-", 1)[0]
        run_id = f"{stem}-{i:04x}"
        dest = root / "runs" / run_id
        shutil.copytree(src, dest)
        meta = json.loads((dest / "run.json").read_text(encoding="utf-8"))
        meta["run_id"] = run_id
        (dest / "run.json").write_text(json.dumps(meta), encoding="utf-8")
        lines = (dest / "events.jsonl").read_text(encoding="utf-8").splitlines()
        fixed = []
        for line in lines:
            e = json.loads(line)
            if e.get("type") == "start":
                e["run_id"] = run_id
            fixed.append(json.dumps(e))
        (dest / "events.jsonl").write_text("\n".join(fixed) + "\n", encoding="utf-8")
        out.append(dest)
    return out


@pytest.mark.parametrize("point", ["ingest#1", "ingest#3", "ingest#6"])
def test_sync_killed(cli, cli_env, tmp_path, finished_runs, point, probe):
    """SIGKILL of `workbench sync` while it rebuilds a store of six finished runs, inside the ingestion
    of the first, third and sixth run folder (its transaction open).

    Holds: the store still opens; the next `sync` exits 0 and leaves every event of every folder
    stored once, with the same rows as a sync never interrupted."""
    store = tmp_path / "runs.duckdb"
    dirs = copy_runs(finished_runs, tmp_path, 6)
    killed = cli("sync", env={"WORKBENCH_KILL_AT": point}, timeout=300)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    again = cli("sync", timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    for d in dirs:
        assert_every_event_stored_once(store, d.name, d)
    statuses = sorted(r["status"] for r in listed(cli).values())
    assert statuses == ["completed"] * 6
    probe.record(f"killed sync exit {killed.returncode}; next sync exit {again.returncode}; 6 runs completed, "
                 f"{sum(len(events_of(d)) for d in dirs)} events stored once", name=f"test_sync_killed[{point}]")


# --- events.jsonl changed under the reader ---------------------------------------------------------

def caught_up(store: Path, run_dir: Path) -> bool:
    """The store holds every event of the folder's file so far (the follower ingested them)."""
    if not store.exists():
        return False
    try:
        row = q(store, "SELECT last_seq FROM runs WHERE run_id = ?", [run_dir.name])
    except Exception:  # noqa: BLE001 - the follower holds the write lock right now: ask again
        return False
    evs = events_of(run_dir)
    return bool(row and evs and row[0][0] == evs[-1]["seq"])


def paused_and_ingested(tmp_path: Path, cli_env: dict, point: str = "step:6"):
    """A followed run paused at `point` once its follower has stored everything written so far."""
    release = tmp_path / "release"
    proc = follower(cli_env, tmp_path, env={"WORKBENCH_PAUSE_AT": point, "WORKBENCH_RELEASE": str(release)})
    run_dir = first_run_dir(tmp_path)
    wait_for(lambda: paused(run_dir), 300, f"the trainer to pause at {point}")
    wait_for(lambda: caught_up(tmp_path / "runs.duckdb", run_dir), 120, "the follower to store every event so far")
    return proc, run_dir, release


def test_events_truncated_mid_run(cli, cli_env, tmp_path, probe):
    """events.jsonl cut to half its lines while a followed run trains (a restore from an older copy,
    a `> events.jsonl` by mistake), after the follower stored them; the trainer goes on appending.

    Holds: the follower and `sync` notice the file shrank and say so; every event the file holds
    afterwards (the ones written after the cut included) is stored; `show` says the file changed; the
    run ends completed (exit 0)."""
    store = tmp_path / "runs.duckdb"
    proc, run_dir, release = paused_and_ingested(tmp_path, cli_env)
    events = run_dir / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    with open(events, "r+b") as f:  # in place: the trainer's append handle keeps writing to this file
        f.truncate(sum(len(x) for x in lines[:len(lines) // 2]))
    release.touch()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-2000:] + err[-3000:]
    said = [ln for ln in (out + err).splitlines() if "events.jsonl" in ln and ("shrank" in ln or "truncated" in ln
                                                                               or "re-read" in ln or "reread" in ln)]
    assert said, out[-3000:] + err[-3000:]
    assert missing_from_store(store, run_dir) == []
    show = cli("show", run_dir.name)
    assert "events.jsonl" in show.stdout, show.stdout[-3000:]
    sync = cli("sync")
    assert sync.returncode == 0 and missing_from_store(store, run_dir) == []
    assert listed(cli)[run_dir.name]["status"] == "completed"
    probe.record(f"cut {len(lines) - len(lines) // 2} of {len(lines)} lines; follower said: {shown(said[0], run_dir)!r}; "
                 f"exit {proc.returncode}; every event left in the file stored")


def test_events_replaced_mid_run(cli, cli_env, tmp_path, probe):
    """events.jsonl replaced by another file mid-run (its first third, renamed over it: an rsync or a
    restore from a backup); the file the trainer writes has no name left.

    Holds: the follower notices the file was replaced and says so; at its next event the trainer writes
    its whole stream back, keeps the other file beside it and says so; the run ends completed by its own
    `end`, every event of it in the folder and stored once."""
    store = tmp_path / "runs.duckdb"
    proc, run_dir, release = paused_and_ingested(tmp_path, cli_env)
    events = run_dir / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    other = run_dir / "events.new"
    other.write_bytes(b"".join(lines[:len(lines) // 3]))
    os.replace(other, events)
    # whichever comes first: the follower's own check, or the trainer's note (its telemetry thread writes
    # on while the run waits at the pause point, so it may put the stream back before the follower looks)
    said = wait_for(lambda: [ln for ln in read_so_far(proc) if "events.jsonl" in ln and "replaced" in ln], 120,
                    "the follower to say events.jsonl was replaced")
    release.touch()
    before = "".join(read_so_far(proc))
    out, err = proc.communicate(timeout=300)
    res = subprocess.CompletedProcess(proc.args, proc.returncode, before + out, err)
    no_traceback(res)
    assert proc.returncode == 0, res.stdout[-3000:] + err[-3000:]
    assert "was written back from the trainer's open file; the file found in its place is kept as" in res.stdout
    assert len(list(run_dir.glob("events.jsonl.displaced-*"))) == 1
    assert_every_event_stored_once(store, run_dir.name, run_dir)
    row = listed(cli)[run_dir.name]
    assert row["status"] == "completed", row
    probe.record(f"follower said: {shown(said[0], run_dir)!r}; the trainer wrote its stream back "
                 f"({len(events_of(run_dir))} events, the other file kept aside); exit {proc.returncode}; "
                 f"status {row['status']}; every event stored once")


def test_events_removed_mid_run(cli, cli_env, tmp_path, probe):
    """events.jsonl deleted mid-run (a cleanup script, a quota tool); the file the trainer writes has no
    name left.

    Holds: the follower says at once that events.jsonl is gone (no silent wait); at its next event the
    trainer writes its whole stream back and says so; the run ends completed by its own `end`, every
    event of it in the folder and stored once; nothing is left running."""
    store = tmp_path / "runs.duckdb"
    proc, run_dir, release = paused_and_ingested(tmp_path, cli_env)
    (run_dir / "events.jsonl").unlink()
    # whichever comes first: the follower's own check ("is gone"), or the trainer's note (its telemetry
    # thread writes on while the run waits at the pause point, so it may put the stream back first)
    said = wait_for(lambda: [ln for ln in read_so_far(proc) if "events.jsonl" in ln and (
        "gone" in ln or "deleted or replaced" in ln)], 120, "the follower to say events.jsonl is gone")
    release.touch()
    before = "".join(read_so_far(proc))
    out, err = proc.communicate(timeout=300)
    res = subprocess.CompletedProcess(proc.args, proc.returncode, before + out, err)
    no_traceback(res)
    assert proc.returncode == 0, res.stdout[-3000:] + err[-3000:]
    assert "was written back from the trainer's open file" in res.stdout
    assert_every_event_stored_once(store, run_dir.name, run_dir)
    row = listed(cli)[run_dir.name]
    assert row["status"] == "completed", row
    probe.record(f"follower said: {shown(said[0], run_dir)!r}; the trainer wrote its stream back "
                 f"({len(events_of(run_dir))} events); exit {proc.returncode}; status {row['status']}; "
                 "every event stored once")


def shown(line: str, run_dir: Path) -> str:
    """A line as the page shows it: the run folder's path as RUN, cut to 150 characters."""
    text = " ".join(line.replace(str(run_dir), "RUN").split())
    return text if len(text) <= 150 else text[:149] + "…"


_seen: dict[int, bytes] = {}


def read_so_far(proc: subprocess.Popen) -> list[str]:
    """The lines a process printed so far (its stdout and stderr, as they came), read from the pipes'
    descriptors without blocking; `communicate` later returns the rest."""
    import select

    got = _seen.get(proc.pid, b"")
    fds = [s.fileno() for s in (proc.stdout, proc.stderr) if s is not None]
    while fds:
        ready = select.select(fds, [], [], 0)[0]
        if not ready:
            break
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                fds.remove(fd)
            got += chunk
    _seen[proc.pid] = got
    return got.decode(errors="replace").splitlines(keepends=True)


# --- the machine: a read-only folder, a full disk --------------------------------------------------

def test_run_folder_read_only_mid_run(cli, cli_env, tmp_path, read_only_bind, probe):
    """The run folder turns read-only while a followed run trains (a remount after a disk error, a
    quota); the trainer's next write fails.

    Holds: the run ends failed with the file system's reason (no traceback anywhere); the follower
    exits 1 (the run failed); every event the folder holds is stored."""
    store = tmp_path / "runs.duckdb"
    proc, run_dir, release = paused_and_ingested(tmp_path, cli_env)
    read_only_bind(run_dir)
    release.touch()
    out, err = proc.communicate(timeout=300)
    no_traceback(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    assert proc.returncode == 1, out[-2000:] + err[-3000:]
    status, error = q(store, "SELECT status, error FROM runs")[0]
    assert status == "failed" and "Read-only file system" in error, error
    assert_every_event_stored_once(store, run_dir.name, run_dir)
    probe.record(f"follower exit {proc.returncode}; status {status}: {shown(error, run_dir)!r}")


def test_store_disk_full_mid_run(cli, cli_env, tmp_path, tmpfs, probe):
    """The store's disk fills while `workbench run` follows a run whose folder is on another disk.

    Holds: the follower stops in one line naming the store and the cause, exit 2 (the machine, not a
    bug); the run goes on to its end; once there is room `sync` records it completed with every event
    stored once."""
    fs = tmpfs(tmp_path / "small", size="16m")
    store = fs / "runs.duckdb"
    (tmp_path / "folders").mkdir()
    (fs / "runs").symlink_to(tmp_path / "folders")
    cli_env["WORKBENCH_STORE"] = str(store)
    release = tmp_path / "release"
    proc = follower(cli_env, tmp_path, "--quiet", env={"WORKBENCH_PAUSE_AT": "step:4", "WORKBENCH_RELEASE": str(release)})
    run_dir = wait_for(lambda: next(iter((tmp_path / "folders").glob("*/run.json")), None), 180, "the run folder").parent
    wait_for(lambda: paused(run_dir), 300, "the trainer to pause at step 4")
    filler = fill(fs, 0)
    release.touch()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, out[-2000:] + err[-3000:]
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1 and "No space left on device" in lines[0], err[-3000:]
    wait_for(lambda: exited(run_dir), 300, "the run to end on its own")
    filler.unlink()
    assert cli("sync").returncode == 0
    assert q(store, "SELECT status FROM runs") == [("completed",)]
    assert_every_event_stored_once(store, run_dir.name, run_dir)
    probe.record(f"follower exit {proc.returncode}: {shown(lines[0].replace(str(store), 'STORE'), run_dir)!r}; "
                 "after room and sync: completed, "
                 f"{len(events_of(run_dir))} events stored once")


# --- bad folders among good ones ---------------------------------------------------------------------

def test_corrupt_run_json_among_good(cli, tmp_path, finished_runs, probe):
    """`workbench sync` rebuilding a store from five run folders, one of whose run.json is cut short
    (a disk error, an editor's crash).

    Holds: sync warns in one line naming the bad folder and why, ingests the four good runs (every
    event once), and exits 0."""
    store = tmp_path / "runs.duckdb"
    dirs = copy_runs(finished_runs, tmp_path, 5)
    bad = dirs[2]
    text = (bad / "run.json").read_text(encoding="utf-8")
    (bad / "run.json").write_text(text[: len(text) // 2], encoding="utf-8")
    res = cli("sync", timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    no_traceback(res)
    warned = [ln for ln in (res.stdout + res.stderr).splitlines() if "warning" in ln and bad.name in ln]
    assert len(warned) == 1, res.stdout + res.stderr
    for d in dirs:
        if d != bad:
            assert_every_event_stored_once(store, d.name, d)
    assert sorted(listed(cli)) == sorted(d.name for d in dirs if d != bad)
    probe.record(f"sync exit {res.returncode}; {shown(warned[0], bad)!r}; 4 of 4 good runs stored whole")


# --- runs beside readers and the app ------------------------------------------------------------------

QUERY_LOOP = """
import os, subprocess, sys, time
n = bad = 0
while not os.path.exists(sys.argv[1]):
    for argv in (["query", "select count(*) from steps", "--format", "csv"], ["runs", "--format", "json"]):
        r = subprocess.run([sys.executable, "-m", "workbench", *argv], capture_output=True, text=True)
        n += 1
        if r.returncode != 0 or "error" in r.stderr.lower():
            bad += 1
            print(r.stderr.strip(), file=sys.stderr)
    time.sleep(0.2)
print(n, bad)
"""


def test_runs_beside_readers_and_the_app(cli, cli_env, tmp_path, probe):
    """Two detached runs train while a loop of `workbench query` / `workbench runs` reads the store and
    the app (as `workbench` opens it) shows the runs list, refreshing on its own.

    Holds: no reader sees an error or a lock; the app's list ends showing both runs completed; every
    event is stored once after `sync`."""
    import asyncio

    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.runs import RunsScreen

    store = tmp_path / "runs.duckdb"
    stop = tmp_path / "stop-querying"
    loop = subprocess.Popen([sys.executable, "-c", QUERY_LOOP, str(stop)], env=env_of(cli_env), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        dirs = [start_detached(cli, tmp_path) for _ in range(2)]
        shown: dict[str, str] = {}

        async def watch():
            app = WorkbenchApp(store, follow=True, start_mode="runs")
            async with app.run_test(size=(140, 40)) as pilot:
                deadline = time.monotonic() + 400
                while time.monotonic() < deadline:
                    screen = app.screen
                    if isinstance(screen, RunsScreen) and screen.loaded:
                        table = screen.query_one("#runs-table")
                        shown.clear()
                        for row in table.ordered_rows:
                            # the status, without the warnings badge ("completed ⚠1")
                            shown[row.key.value] = table.get_cell(row.key.value, "status").plain.split()[0]
                        if sorted(shown.values()) == ["completed", "completed"] and all(exited(d) for d in dirs):
                            return
                    await pilot.pause(0.5)

        asyncio.run(watch())
    finally:
        stop.touch()
    out, err = loop.communicate(timeout=120)
    n, bad = map(int, out.split())
    assert n > 0 and bad == 0, err[-3000:]
    assert shown == {d.name: "completed" for d in dirs}, shown
    assert cli("sync").returncode == 0
    for d in dirs:
        assert_every_event_stored_once(store, d.name, d)
    probe.record(f"{n} reads, {bad} errors; the app listed {sorted(shown.values())}; every event stored once")
