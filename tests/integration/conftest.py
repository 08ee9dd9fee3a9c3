"""Fixtures for running the real `workbench` CLI as a subprocess against a store in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import workbench


@pytest.fixture
def cli(tmp_path, cli_env):
    """cli(*args, cwd=tmp_path, timeout=60): `python -m workbench ARGS` with its store and cache in tmp_path."""

    def run(*args, cwd: Path | None = None, timeout: float = 60):
        return workbench(*args, env=cli_env, cwd=cwd or tmp_path, timeout=timeout)

    return run


def _missing_binaries(names) -> list[str]:
    from tests.integration.daemons import _find_binary

    return [n for n in names if _find_binary(n) is None]


@pytest.fixture(scope="session")
def slurm():
    """A real one-node SLURM cluster (munge, slurmctld, slurmd) for the whole session."""
    from tests.integration.daemons import DaemonError, SlurmCluster

    missing = _missing_binaries(("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "qsub"))
    if missing or os.geteuid() != 0:
        pytest.skip(f"a SLURM test cluster needs root and Debian's slurm-wlm, munge, slurm-wlm-torque "
                    f"(missing: {', '.join(missing) or 'root'})")
    cluster = SlurmCluster(partitions=("debug", "gpu"))
    try:
        cluster.start()
    except DaemonError as e:
        cluster.close()
        raise AssertionError(f"the test SLURM cluster did not start: {e}") from None
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def sshd(slurm):
    """A real OpenSSH server on 127.0.0.1 (key auth, verified host key); sessions see SLURM_CONF
    as on a cluster login node."""
    from tests.integration.daemons import DaemonError, SSHServer

    missing = _missing_binaries(("sshd", "ssh", "ssh-keygen", "sftp"))
    if missing:
        pytest.skip(f"an ssh test server needs Debian's openssh-server (missing: {', '.join(missing)})")
    server = SSHServer(env=slurm.env)
    try:
        server.start()
    except DaemonError as e:
        server.close()
        raise AssertionError(f"the test ssh server did not start: {e}") from None
    yield server
    server.close()


@pytest.fixture
def cli_env(tmp_path):
    """The environment the `cli` fixture gives the CLI (tests add to it: ssh config, SLURM_CONF)."""
    return {"WORKBENCH_STORE": str(tmp_path / "runs.duckdb"), "HF_HUB_OFFLINE": "1",
            "WORKBENCH_CACHE": str(tmp_path / "cache"), "NO_COLOR": "1", "COLUMNS": "200"}
