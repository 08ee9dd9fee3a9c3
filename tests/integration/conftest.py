"""Fixtures for running the real `workbench` CLI as a subprocess against a store in tmp_path."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_RECIPE = REPO / "recipes" / "demo" / "encoder_multilabel.toml"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(tmp_path):
    """cli(*args, cwd=tmp_path, timeout=60) -> Result: `python -m workbench ARGS` with its store in tmp_path."""
    env = dict(os.environ)
    env.update(WORKBENCH_STORE=str(tmp_path / "runs.duckdb"), HF_HUB_OFFLINE="1",
               WORKBENCH_CACHE=str(tmp_path / "cache"), NO_COLOR="1", COLUMNS="200")

    def run(*args: str, cwd: Path | None = None, timeout: float = 60) -> Result:
        p = subprocess.run([sys.executable, "-m", "workbench", *map(str, args)], cwd=cwd or tmp_path, env=env,
                           capture_output=True, text=True, timeout=timeout)
        return Result(p.returncode, p.stdout, p.stderr)

    return run
