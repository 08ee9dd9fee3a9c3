"""A full disk or an unwritable run folder when `workbench run` starts, and later (issue 25, item 12):
mid-run under a follower, under `sync`, under the supervisor writing exit.json; through the real CLI.

What must hold (the project's issue: "A full disk or unwritable run folder at start gives a clean
error, not a half-created run"):
- exit status 2 and ONE `error:` line on stderr, no traceback;
- no half-created run: every run folder left under runs/ is in the store and recorded `failed`
  (a launch that fails records its run failed, never queued), and no run is left queued / running;
- nothing left running: no supervisor or trainer of the refused run is alive after the CLI returns.

The unwritable cases: `runs` is a regular file (works as any user), `runs` or the store's folder
on a read-only file system (a read-only tmpfs when root, where chmod would not stop writes; chmod
0o500 otherwise). The full-disk cases put the store's folder on a 1 MiB tmpfs filled up to a few
KiB, which needs root and `mount`; they are skipped (with the reason) where that is not possible.
How much room is left decides which write fails first:
- none: the run folder's first file (clean today);
- 16 KiB: the run folder fits, the store does not (a run folder is left behind);
- 16 KiB with the store made beforehand: the store's first commit fails (a traceback);
- 256 KiB: the store fits too, the write after starting the supervisor fails (the run is
  recorded failed while its supervisor and trainer keep running, untracked).
Each case once failed (a folder left behind, a traceback, an untracked trainer); each now holds.

Later faults (the second half of this file) are the user's environment too: one line naming the
path and the cause, exit status 2, never "a bug in workbench" with a traceback; the run recorded with
its real end once the store can be written again; the supervisor exits as its trainer did even when
exit.json cannot be written; temporary files a killed writer left are removed at the next open. A
run folder turns read-only by a read-only bind mount over it (processes keep the files they hold
open, as on a file system remounted read-only under them).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.filesystems import _processes_naming, fill
from tests.integration.runs import (
    assert_every_event_stored_once,
    dead_pid,
    events_of,
    q,
    register,
    wait_for,
    wait_for_step,
    write_run_folder,
)

# --- helpers ------------------------------------------------------------------------------------

def one_error_line(res) -> str:
    out = res.stdout + res.stderr
    assert "Traceback" not in out, res.stderr[-3000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr[-3000:]
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def assert_nothing_left_running(root: Path, grace: float = 3.0) -> None:
    """A refused start stops what it started before returning: allow a few seconds for a process it
    signalled to exit."""
    deadline = time.monotonic() + grace
    while (left := _processes_naming(root)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"still running after the CLI returned with an error: {left}"


def assert_no_half_made_run(store: Path) -> None:
    """Every run folder left is a run the store records as failed; no run is queued or running; and
    the store (when there is one) still opens."""
    runs = store.parent / "runs"
    folders = sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []
    rows: dict[str, str] = {}
    problems: list[str] = []
    if store.is_file():
        import duckdb

        try:
            con = duckdb.connect(str(store), read_only=True)
        except duckdb.Error as e:
            problems.append(f"the store was left unreadable: {str(e).splitlines()[0]}")
        else:
            try:
                rows = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
            except duckdb.CatalogException:
                rows = {}  # created but empty: no schema yet
            finally:
                con.close()
    live = {r: s for r, s in rows.items() if s in ("queued", "running")}
    if live:
        problems.append(f"runs left {live} in the store")
    unrecorded = [f for f in folders if rows.get(f) != "failed"]
    if unrecorded:
        problems.append(f"half-created run folder(s) left in {runs}: "
                        f"{[(f, sorted(x.name for x in (runs / f).iterdir())) for f in unrecorded]}; "
                        f"store rows: {rows}")
    assert not problems, "; ".join(problems)


def run_detached(cli):
    return cli("run", DEMO_RECIPE, "--detach", timeout=180)


def assert_clean_refusal(res, store: Path, *, reason: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout[-2000:], res.stderr[-3000:])
    line = one_error_line(res)
    assert reason in line, line
    assert_nothing_left_running(store.parent)
    assert_no_half_made_run(store)
    return line


# --- file systems -------------------------------------------------------------------------------

def read_only_dir(path: Path, tmpfs) -> Path:
    """An empty folder that refuses writes: a read-only tmpfs when root, else chmod 0o500."""
    if os.geteuid() == 0:
        return tmpfs(path, size="64k", read_only=True)
    path.mkdir(parents=True)
    path.chmod(0o500)
    return path


_HOLD_HOOK = """\
# Written by tests/integration/test_disk_failures.py: holds `python -m workbench.train` for
# WORKBENCH_TEST_HOLD_TRAINER seconds before it imports anything, then chains to any other sitecustomize.
import importlib.machinery, importlib.util, os, sys, time
try:
    with open("/proc/self/cmdline", "rb") as f:
        if b"workbench.train" in f.read():
            time.sleep(float(os.environ.get("WORKBENCH_TEST_HOLD_TRAINER", "0")))
except OSError:
    pass
_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _here])
if _spec is not None and _spec.loader is not None:
    _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
"""


@pytest.fixture
def hold_trainer(tmp_path, cli_env):
    """hold_trainer(seconds): every trainer the CLI starts waits that long before doing anything.

    A trainer started on a full disk dies on its first write unless the disk has room again by
    then; whether it does is a race with the test freeing the disk. Holding it decides that race the
    same way on every run: the trainer outlives the CLI, as a slow real start (a big model, a busy
    node) does."""

    def hold(seconds: float) -> None:
        hook = tmp_path / "hold-trainer"
        hook.mkdir(exist_ok=True)
        (hook / "sitecustomize.py").write_text(_HOLD_HOOK, encoding="utf-8")
        cli_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
        cli_env["WORKBENCH_TEST_HOLD_TRAINER"] = str(seconds)

    return hold


@pytest.fixture
def use_store(cli_env):
    """use_store(path): point the CLI's WORKBENCH_STORE at `path`."""

    def point(path: Path) -> Path:
        cli_env["WORKBENCH_STORE"] = str(path)
        return path

    return point


# --- unwritable run folder ----------------------------------------------------------------------

def test_runs_folder_is_a_file(cli, tmp_path):
    (tmp_path / "runs").write_text("not a folder\n", encoding="utf-8")
    store = tmp_path / "runs.duckdb"
    line = assert_clean_refusal(run_detached(cli), store, reason="Not a directory")
    assert str(tmp_path / "runs") in line and "cannot create the run folder" in line
    assert (tmp_path / "runs").read_text(encoding="utf-8") == "not a folder\n"


def test_runs_folder_is_a_file_with_an_existing_store(cli, tmp_path):
    assert cli("runs").returncode == 0  # the store exists, with its schema
    (tmp_path / "runs").write_text("", encoding="utf-8")
    assert_clean_refusal(run_detached(cli), tmp_path / "runs.duckdb", reason="Not a directory")


def test_runs_folder_read_only(cli, tmp_path, tmpfs):
    read_only_dir(tmp_path / "runs", tmpfs)
    res = run_detached(cli)
    line = assert_clean_refusal(res, tmp_path / "runs.duckdb",
                                reason="Read-only file system" if os.geteuid() == 0 else "Permission denied")
    assert "cannot create the run folder" in line
    assert not any((tmp_path / "runs").iterdir())


def test_store_folder_read_only(cli, tmp_path, tmpfs, use_store):
    folder = read_only_dir(tmp_path / "ro", tmpfs)
    store = use_store(folder / "runs.duckdb")
    assert_clean_refusal(run_detached(cli), store,
                         reason="Read-only file system" if os.geteuid() == 0 else "Permission denied")
    assert not any(folder.iterdir())


def test_store_cannot_be_opened(cli, tmp_path, use_store):
    store = use_store(tmp_path / "runs.duckdb")
    store.mkdir()  # a folder where the store file should be
    assert_clean_refusal(run_detached(cli), store, reason="cannot open the store")


# --- full disk ----------------------------------------------------------------------------------

FULL_DISK_CASES = [
    pytest.param(0, False, 0, id="no-room"),
    pytest.param(0, True, 0, id="no-room-existing-store"),
    pytest.param(16, False, 0, id="room-for-run-folder-not-store"),
    pytest.param(16, True, 0, id="existing-store-cannot-commit"),
    pytest.param(256, False, 8, id="room-for-store-not-launch"),
]


@pytest.mark.parametrize("leave_kib, store_first, hold_s", FULL_DISK_CASES)
def test_full_disk(cli, tmp_path, tmpfs, use_store, hold_trainer, leave_kib, store_first, hold_s):
    fs = tmpfs(tmp_path / "small", size="1m")
    store = use_store(fs / "runs.duckdb")
    if hold_s:
        hold_trainer(hold_s)  # a trainer started despite the error must not die of the full disk by chance
    if store_first:
        res = cli("runs")
        assert res.returncode == 0 and store.exists(), res.stderr
    filler = fill(fs, leave_kib)
    res = run_detached(cli)
    filler.unlink()  # room again, so what was left behind can be read
    assert_clean_refusal(res, store, reason="No space left on device")



# --- later: a full disk or a read-only run folder while runs go on (issue 25, item 12) -------------

RUN_ID = "demo-20260101-120000-dd01"
NO_SPACE = "No space left on device"
READ_ONLY = "Read-only file system"


@pytest.fixture
def store_on_small_disk(tmp_path, tmpfs, use_store):
    """(file system, store): the store on a 16 MiB tmpfs (a run's store takes a few: DuckDB grows its file by
    256 KiB blocks), its run folders (runs/) on the ordinary disk."""
    fs = tmpfs(tmp_path / "small", size="16m")
    store = use_store(fs / "runs.duckdb")
    (tmp_path / "folders").mkdir()
    (fs / "runs").symlink_to(tmp_path / "folders")
    return fs, store


def test_sync_on_a_full_store_disk_says_so_in_one_line_and_records_everything_once_there_is_room(
        cli, tmp_path, store_on_small_disk):
    fs, store = store_on_small_disk
    assert cli("runs").returncode == 0  # the store exists
    run_dir = write_run_folder(tmp_path / "folders", RUN_ID, steps=3000)
    filler = fill(fs, 16)
    res = cli("sync")
    assert res.returncode == 2, (res.stdout[-2000:], res.stderr[-3000:])
    line = one_error_line(res)
    assert str(store) in line and NO_SPACE in line, line
    filler.unlink()
    res = cli("sync")
    assert res.returncode == 0, res.stderr
    assert q(store, "SELECT status FROM runs") == [("completed",)]
    assert_every_event_stored_once(store, RUN_ID, run_dir)


@pytest.mark.parametrize("lock_left", [True, False], ids=["follow-lock-left", "no-follow-lock"])
@pytest.mark.parametrize("command", ["sync", "attach"])
def test_a_read_only_run_folder_is_still_settled(cli, tmp_path, read_only_bind, command, lock_left):
    """A run killed by SIGKILL, its folder now read-only (with or without the lock file an earlier
    follower made): `sync` and `attach` settle it from what the folder holds."""
    store = tmp_path / "runs.duckdb"
    gone = dead_pid()
    run_dir = write_run_folder(tmp_path / "runs", RUN_ID, end=None, pid=gone,
                               job={"kind": "local", "pid": gone, "host": "testhost"},
                               exit_record={"returncode": -9, "signal": "SIGKILL"})
    if lock_left:
        (run_dir / ".follow.lock").touch()
    (run_dir / "exit.json.tmp").write_text("{", encoding="utf-8")  # a leftover it cannot remove here
    os.utime(run_dir / "exit.json.tmp", (time.time() - 600, time.time() - 600))
    register(store, run_dir)
    read_only_bind(run_dir)
    res = cli(command, RUN_ID) if command == "attach" else cli(command)
    out = res.stdout + res.stderr
    assert "Traceback" not in out and "a bug in workbench" not in out, out[-3000:]
    assert res.returncode == (1 if command == "attach" else 0), out[-3000:]  # attach: the run failed
    status, error = q(store, "SELECT status, error FROM runs")[0]
    assert status == "failed" and "SIGKILL" in error
    assert_every_event_stored_once(store, RUN_ID, run_dir)


LONG = ("--set", "train.epochs=200", "--set", "train.logging_steps=1")


def test_a_follower_whose_store_disk_fills_says_so_and_the_run_is_recorded_whole_later(
        cli, cli_env, tmp_path, store_on_small_disk):
    """The store's disk fills while `workbench run` follows: the follower stops in one line (exit 2);
    the run, on another disk, goes on; once there is room `attach` records every event of it."""
    fs, store = store_on_small_disk
    env = {**os.environ, **cli_env}
    follower = subprocess.Popen([sys.executable, "-m", "workbench", "run", str(DEMO_RECIPE), "--quiet",
                                 "--set", "train.epochs=8", "--set", "train.logging_steps=1"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_dir = wait_for(lambda: next(iter((tmp_path / "folders").glob("*/events.jsonl")), None), 120,
                           "the run folder").parent
        wait_for_step(run_dir)
        filler = fill(fs, 0)
        out, err = follower.communicate(timeout=300)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    res = subprocess.CompletedProcess(follower.args, follower.returncode, out, err)
    assert res.returncode == 2, (out[-2000:], err[-3000:])
    line = one_error_line(res)
    assert str(store) in line and NO_SPACE in line and run_dir.name in line, line
    filler.unlink()
    att = cli("attach", run_dir.name, timeout=400)
    assert att.returncode == 0, att.stdout[-2000:] + att.stderr[-3000:]
    assert q(store, "SELECT status FROM runs") == [("completed",)]
    assert_every_event_stored_once(store, run_dir.name, run_dir)


def test_a_run_folder_turning_read_only_mid_run_ends_the_run_failed_with_the_reason(
        cli_env, tmp_path, read_only_bind):
    """The trainer's next checkpoint cannot be written: it ends failed saying why; the supervisor
    cannot write exit.json and says so in one line; the follower records it all, no traceback."""
    store = tmp_path / "runs.duckdb"
    env = {**os.environ, **cli_env}
    follower = subprocess.Popen([sys.executable, "-m", "workbench", "run", str(DEMO_RECIPE), "--quiet", *LONG],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run_dir = wait_for(lambda: next(iter((tmp_path / "runs").glob("*/events.jsonl")), None), 120,
                           "the run folder").parent
        wait_for_step(run_dir)
        read_only_bind(run_dir)
        out, err = follower.communicate(timeout=300)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert "Traceback" not in out + err and "a bug in workbench" not in out + err, err[-3000:]
    assert follower.returncode == 1, (out[-2000:], err[-3000:])  # the run failed
    status, error = q(store, "SELECT status, error FROM runs")[0]
    assert status == "failed" and READ_ONLY in error, error
    assert not (run_dir / "exit.json").exists()
    log = (run_dir / "train.log").read_text(encoding="utf-8", errors="replace")
    assert "workbench supervisor: cannot record how the trainer ended (exit code 1)" in log and READ_ONLY in log
    assert_every_event_stored_once(store, run_dir.name, run_dir)


@pytest.mark.parametrize("log_on_the_full_disk", [False, True], ids=["log-elsewhere", "log-on-the-full-disk"])
def test_the_supervisor_exits_as_its_trainer_did_when_exit_json_cannot_be_written(tmp_path, tmpfs, log_on_the_full_disk):
    """The run folder's disk full when the trainer is killed: the supervisor says so in one line (when
    its log has room) and exits as the trainer did (128 + SIGKILL), leaving no half-written exit.json."""
    from workbench.launch.run_folder import create_run
    from workbench.recipe import load_recipe

    fs = tmpfs(tmp_path / "small", size="4m")
    # no telemetry: once held, the trainer writes nothing, so the full disk cannot end it first
    run_dir = create_run(load_recipe(DEMO_RECIPE, ["launch.telemetry_interval=0"]), fs / "runs")
    log = (run_dir if log_on_the_full_disk else tmp_path) / "train.log"  # a detached run's log is in its folder
    env = {**os.environ, "WORKBENCH_HOLD_AT": "load", "HF_HUB_OFFLINE": "1"}
    with open(log, "ab") as out:
        sup = subprocess.Popen([sys.executable, "-m", "workbench.launch.supervisor", str(run_dir)], cwd=run_dir,
                               env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "held at load" in log.read_text(errors="replace"), 300, "the trainer to hold")
        start = next(e for e in events_of(run_dir) if e["type"] == "start")
        filler = fill(fs, 0)
        if log_on_the_full_disk:  # and the log's own last page: not a byte more fits anywhere
            with open(log, "ab", buffering=0) as f:
                for size in (4096, 1):
                    try:
                        while True:
                            f.write(b"." * size)
                    except OSError as e:
                        assert e.errno == errno.ENOSPC, e
        os.kill(start["pid"], signal.SIGKILL)
        sup.wait(timeout=120)
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
    text = log.read_text(errors="replace")
    assert sup.returncode == 128 + signal.SIGKILL, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    said = f"cannot record how the trainer ended (signal SIGKILL): {run_dir / 'exit.json'}: {NO_SPACE}" in text
    assert said != log_on_the_full_disk, text[-3000:]  # said, where its log had room
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith("exit.json")) == []
    filler.unlink()


def test_a_run_whose_exit_json_could_not_be_written_is_settled_from_its_end_event(cli, tmp_path):
    """The trainer ended well, the disk filled before exit.json (WORKBENCH_ENOSPC_AT=exit_json: a moment
    no real disk can be filled at): the follower settles it completed from its `end` event."""
    res = cli("run", DEMO_RECIPE, "--quiet", "--set", "train.epochs=2", "--set", "data.max_rows=300",
              env={"WORKBENCH_ENOSPC_AT": "exit_json"}, timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    run_dir = next((tmp_path / "runs").iterdir())
    assert not (run_dir / "exit.json").exists()
    log = (run_dir / "train.log").read_text(encoding="utf-8")
    assert "cannot record how the trainer ended (exit code 0)" in log and NO_SPACE in log and "Traceback" not in log
    assert q(tmp_path / "runs.duckdb", "SELECT status, error FROM runs") == [("completed", None)]


def test_leftovers_of_killed_writers_are_removed_at_the_next_open_and_only_theirs(cli, tmp_path):
    """A store creation and JSON writes killed halfway leave temporary files: the next open removes
    those whose writer is gone (its pid ended, and a minute has passed), never a live process's."""
    old = time.time() - 120
    gone, me = dead_pid(), os.getpid()
    folders = tmp_path / "runs"
    run_dir = write_run_folder(folders, RUN_ID)
    left = {f".runs.duckdb.{gone}.77.new": True, f".runs.duckdb.{gone}.77.new.wal": True,
            f".runs.duckdb.{me}.78.new": False}
    in_run = {"exit.json.tmp": True, f"run.json.{gone}.tmp": True, f"annotations.json.{me}.tmp": False}
    for name in left:
        (tmp_path / name).write_bytes(b"half")
        os.utime(tmp_path / name, (old, old))
    for name in in_run:
        (run_dir / name).write_text("{", encoding="utf-8")
        os.utime(run_dir / name, (old, old))
    fresh = tmp_path / f".runs.duckdb.{gone}.79.new"  # its writer may be on another machine: a minute first
    fresh.write_bytes(b"half")
    assert cli("sync").returncode == 0
    assert {n: not (tmp_path / n).exists() for n in left} == left
    assert {n: not (run_dir / n).exists() for n in in_run} == in_run
    assert fresh.exists()


def test_an_event_file_deleted_in_a_read_only_folder_is_said_once_and_writing_goes_on(tmp_path, read_only_bind,
                                                                                     monkeypatch):
    """events.jsonl deleted, then its folder turned read-only: the trainer's writer cannot put the stream
    back; it says so once, in the stream, and writes on to the file it holds (read at its end by the
    exit code, docs/architecture.md "Run status")."""
    import json as _json

    from workbench import events as events_module
    from workbench.events import EventWriter

    monkeypatch.setattr(events_module, "FOLDER_CHECK_S", 0.0)  # the folder checked at every event, not every 0.5 s
    folder = tmp_path / "run"
    folder.mkdir()
    path = folder / "events.jsonl"
    with EventWriter(path) as w:
        w.emit("step", step=0)
        path.unlink()
        read_only_bind(folder)
        w.emit("step", step=1)
        w.emit("step", step=2)
        fd = w._f.fileno()
        written = os.pread(fd, 1 << 16, 0).decode().splitlines()
    assert not path.exists()
    assert [_json.loads(line)["type"] for line in written] == ["step", "log", "step", "step"]  # one note
    assert "could not be written back (Read-only file system)" in _json.loads(written[1])["message"]
