"""`workbench serve` started for real in a subprocess (a free port, its own state folder), for the tests
of its token and of the app in a browser."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT


@dataclass
class Served:
    url: str  # the printed one, with the token
    port: int
    token: str
    url_file: Path
    pid: int
    stdout_after: str = ""  # what the server printed after its open line, and on stderr: read once it has exited
    stderr: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def serving(env: dict[str, str], *args: str, cwd: Path = ROOT, timeout: float = 60) -> Iterator[Served]:
    """`python -m workbench serve --port 0 ARGS` until its `open: URL` line (waiting on that line; `timeout`
    only bounds a failure); SIGTERM at the end, and the server must then exit 0 and remove its URL file."""
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", "0", *args], cwd=cwd,
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _first_line(proc, timeout)
        m = re.fullmatch(r"open: (http://127\.0\.0\.1:(\d+)/\?token=([\w-]+))\n", line)
        assert m, f"not the open line: {line!r}"
        served = Served(m[1], int(m[2]), m[3], Path(env["XDG_STATE_HOME"]) / "workbench" / "serve" / f"{m[2]}.url",
                        proc.pid)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, f"serve exited {proc.returncode}: {err}"
    assert not served.url_file.exists(), "the URL file outlived the server"
    served.stdout_after, served.stderr = out, err


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while not sel.select(timeout=0.2):
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode} before it listened: {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"serve printed nothing in {timeout:.0f} s"
    line = proc.stdout.readline()
    if not line:  # the server ended without listening
        raise AssertionError(f"serve exited {proc.wait(timeout=60)} before it listened: {proc.stderr.read().strip()}")
    return line
