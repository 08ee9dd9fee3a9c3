"""Commands the app hands to the CLI itself (`python -m workbench ...` in a worker thread): export and
gc read and write many files and open the store in their own way, so they run as their own process,
exactly as a user would type them, and the app shows their one-line result."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CliResult:
    ok: bool
    message: str   # the command's last line of output, or its error line


def run_cli(store: Path, *args: str, timeout: float = 3600) -> CliResult:
    """Run `workbench --store STORE ARGS` and say how it went, in one line (wide output, no colour)."""
    env_cols = {"COLUMNS": "200", "NO_COLOR": "1"}
    import os

    proc = subprocess.run([sys.executable, "-m", "workbench", "--store", str(store), *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **env_cols}, stdin=subprocess.DEVNULL)
    out = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    err = [line.strip() for line in proc.stderr.splitlines() if line.strip().startswith("error:")]
    if proc.returncode == 0:
        return CliResult(True, " ".join(out[-2:]) if out else "done")
    return CliResult(False, err[0].removeprefix("error: ") if err else (proc.stderr.strip().splitlines() or ["failed"])[-1])
