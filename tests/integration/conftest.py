"""Fixtures for running the real `workbench` CLI as a subprocess against a store in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import workbench
from tests.integration.filesystems import read_only_bind, tmpfs  # noqa: F401 - fixtures of the mount tests


@pytest.fixture
def cli(tmp_path, cli_env):
    """cli(*args, cwd=tmp_path, timeout=60, env=None): `python -m workbench ARGS` with its store in
    tmp_path and the session's model cache (`env`: more variables for this call)."""

    def run(*args, cwd: Path | None = None, timeout: float = 60, env: dict | None = None):
        return workbench(*args, env={**cli_env, **(env or {})}, cwd=cwd or tmp_path, timeout=timeout)

    return run


@pytest.fixture
def cli_env(tmp_path):
    """The environment the `cli` fixture gives the CLI (tests add to it: ssh config, SLURM_CONF)."""
    return {"WORKBENCH_STORE": str(tmp_path / "runs.duckdb"), "HF_HUB_OFFLINE": "1",
            # one model cache for the session (tests/conftest.py): tiny builds are deterministic,
            # keyed by their settings and texts and published atomically, and one takes 5-10 s
            "WORKBENCH_CACHE": os.environ["WORKBENCH_CACHE"], "NO_COLOR": "1", "COLUMNS": "200"}
