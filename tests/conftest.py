"""Every test runs offline, with the session's model cache and its own store (never the user's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_RECIPE = ROOT / "recipes" / "demo" / "encoder_multilabel.toml"
DEMO_CSV = ROOT / "recipes" / "demo" / "data" / "reviews.csv"


def copy_encoder_demo(dest: Path) -> Path:
    """recipes/demo/encoder_multilabel.toml with its data folder, copied into dest (the other demo
    recipes left out, so a recipe list holds just this one)."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "recipes" / "demo" / "data", dest / "data", ignore=shutil.ignore_patterns("hate", "ner",
                                                                                                    "products",
                                                                                                    "sentiment"))
    shutil.copy(DEMO_RECIPE, dest / DEMO_RECIPE.name)
    return dest / DEMO_RECIPE.name


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true",
                     help="the quick tier only (tests/quick_tier.py): unit tests, the app's snapshots, the demo end to end")


@pytest.hookimpl(tryfirst=True)  # before -k / -m narrow the items: the check below sees the whole tier
def pytest_collection_modifyitems(config, items):
    """--quick: keep the quick tier's tests; with the whole suite collected (no paths given), first
    check that the tier still covers every package and names no test that is gone."""
    if not config.getoption("--quick"):
        return
    from tests import quick_tier

    rel = {item: Path(item.path).relative_to(ROOT).as_posix() + item.nodeid[item.nodeid.index("::"):]
           for item in items}  # node ids from the repository root, wherever pytest was started
    keep = [item for item in items if quick_tier.selected(rel[item], item.fixturenames)]
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        gone = quick_tier.unmatched(rel[item] for item in keep)
        left_out = quick_tier.uncovered(Path(item.path) for item in keep)
        if gone or left_out:
            raise pytest.UsageError("the quick tier (tests/quick_tier.py) " + "; ".join(
                ([f"names tests that are not there: {', '.join(gone)}"] if gone else [])
                + ([f"imports no test of workbench.{', workbench.'.join(left_out)}"] if left_out else [])))
    kept = set(keep)
    config.hook.pytest_deselected(items=[item for item in items if item not in kept])
    items[:] = keep


@pytest.fixture(scope="session", autouse=True)
def offline_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("workbench-cache")
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "WORKBENCH_CACHE", "WORKBENCH_STORE")}
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["WORKBENCH_CACHE"] = str(cache)
    os.environ["WORKBENCH_STORE"] = str(tmp_path_factory.mktemp("default-store") / "runs.duckdb")
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def workbench(*args, store: Path | None = None, timeout: float = 600, check: bool = False,
              env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (returncode, stdout, stderr)."""
    e = {**os.environ, "COLUMNS": "120", **(env or {})}
    if store is not None:
        e["WORKBENCH_STORE"] = str(store)
    proc = subprocess.run([sys.executable, "-m", "workbench", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=e, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"workbench {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


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


def _ssh_server(env: dict[str, str] | None = None, alias: str = "wbtest"):
    from tests.integration.daemons import DaemonError, SSHServer

    missing = _missing_binaries(("sshd", "ssh", "ssh-keygen", "sftp"))
    if missing:
        pytest.skip(f"an ssh test server needs Debian's openssh-server (missing: {', '.join(missing)})")
    server = SSHServer(env=env, alias=alias)
    try:
        server.start()
    except DaemonError as e:
        server.close()
        raise AssertionError(f"the test ssh server did not start: {e}") from None
    return server


@pytest.fixture(scope="session")
def sshd():
    """A real OpenSSH server on 127.0.0.1 (key auth, verified host key), run as the current user:
    no root needed, and no SLURM (see `login_node`)."""
    server = _ssh_server()
    yield server
    server.close()


@pytest.fixture(scope="session")
def login_node(slurm):
    """Another OpenSSH server whose sessions see SLURM_CONF, as on a cluster's login node."""
    server = _ssh_server(slurm.env, alias="wblogin")
    yield server
    server.close()
