"""The local target: the trainer runs as a detached child (its own session), so closing the
terminal does not stop it; `workbench run` follows it and Ctrl-C stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from workbench.store.ingest import read_run_meta, write_run_meta


def train_command(run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "workbench.train", str(run_dir)]


def start(run_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(run_dir / "train.log", "ab") as log:
        proc = subprocess.Popen(train_command(run_dir), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=run_dir, env=env, start_new_session=True)
    meta = read_run_meta(run_dir)
    meta["pid"] = proc.pid
    write_run_meta(run_dir, meta)
    return proc


def pid_alive(pid: int | None, run_dir: Path) -> bool:
    """Is `pid` still the trainer of `run_dir`? (pids are reused; check its command line)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return str(run_dir).encode() in cmdline and b"workbench.train" in cmdline


def interrupt(pid: int) -> None:
    """Ask the trainer to stop: it records `interrupted` and exits."""
    try:
        os.killpg(pid, signal.SIGINT)
    except ProcessLookupError:
        pass
