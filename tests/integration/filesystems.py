"""Mounts for tests of a full disk or a read-only folder (root only; skipped elsewhere with the
reason): a small tmpfs, a read-only bind mount over a folder, and filling a file system. Each
fixture kills the processes naming paths under what it mounted and unmounts it at the end, whatever
the test did. Used by tests/integration/test_disk_failures.py and the fault probes (tests/faults)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest


def _processes_naming(root: Path) -> list[tuple[int, str]]:
    """Processes whose command line names a path under `root` (the supervisor and trainer of a run
    there: their command lines name the run folder). Only this test's CLI starts such processes."""
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in cmd:
            found.append((int(entry.name), cmd.strip()))
    return found


def _kill_processes_naming(root: Path) -> None:
    for pid, _ in _processes_naming(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + 10
    while _processes_naming(root) and time.monotonic() < deadline:
        time.sleep(0.1)


def _umount(path: Path) -> None:
    for _ in range(50):
        if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode == 0:
            return
        _kill_processes_naming(path)
        time.sleep(0.2)
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)  # last resort: detach it


@pytest.fixture
def tmpfs(tmp_path):
    """tmpfs(path, size="1m", read_only=False) -> path: a small tmpfs mounted there for this test
    (root only; skipped where mounting is not possible). Processes naming paths under it are
    killed and it is unmounted at the end, whatever the test did."""
    mounted: list[Path] = []

    def mount(path: Path, *, size: str = "1m", read_only: bool = False) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        path.mkdir(parents=True, exist_ok=True)
        opts = f"size={size}" + (",ro" if read_only else "")
        try:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True,
                               text=True, timeout=30, check=False)
        except (FileNotFoundError, subprocess.TimeoutExpired) as e:
            pytest.skip(f"cannot mount a tmpfs here ({e})")
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {(r.stderr or r.stdout).strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        _kill_processes_naming(path)
        _umount(path)
    _kill_processes_naming(tmp_path)


def fill(fs: Path, leave_kib: int) -> Path:
    """Fill the file system at `fs` with one file, then give back `leave_kib` KiB of it."""
    filler = fs / "filler"
    with open(filler, "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave_kib * 1024))
    return filler


@pytest.fixture
def read_only_bind():
    """read_only_bind(folder): the folder turns read-only (a read-only bind mount over it); root only.
    Unmounted at the end, after the processes naming paths in it are killed."""
    mounted: list[Path] = []

    def bind(folder: Path) -> Path:
        if os.geteuid() != 0:
            pytest.skip("a read-only bind mount needs root")
        for argv in (["mount", "--bind", str(folder), str(folder)], ["mount", "-o", "remount,bind,ro", str(folder)]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
            if r.returncode != 0:
                if mounted or argv[1] == "-o":
                    _umount(folder)
                pytest.skip(f"cannot bind-mount read-only here: {(r.stderr or r.stdout).strip()}")
            if argv[1] == "--bind":
                mounted.append(folder)
        return folder

    yield bind
    for path in reversed(mounted):
        _kill_processes_naming(path)
        _umount(path)
