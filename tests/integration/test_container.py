"""A run inside a real container (launch.container), with apptainer or singularity, whichever this
machine has. Debian 12 packages neither and PyPI has none, so on CI this test skips and says so;
the scripts each runtime gets are rendered and run by bash in tests/unit/test_launch.py.

The image must hold Python with workbench's dependencies (torch, transformers, peft); give it with
WORKBENCH_TEST_CONTAINER_IMAGE=/path/to/image.sif. The repository is bound into the container and
put first on PYTHONPATH, so the image needs no workbench of its own."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import DEMO_RECIPE, ROOT, workbench
from tests.integration.runs import events_of, q

pytestmark = pytest.mark.slow

RUNTIME = shutil.which("apptainer") or shutil.which("singularity")
IMAGE = os.environ.get("WORKBENCH_TEST_CONTAINER_IMAGE", "")


@pytest.mark.skipif(not IMAGE, reason="WORKBENCH_TEST_CONTAINER_IMAGE is not set (an image with Python, torch, "
                    "transformers and peft)")
@pytest.mark.skipif(RUNTIME is None, reason="no container runtime here: neither apptainer nor singularity is on PATH "
                    "(Debian 12 packages neither; install one to run this test)")
def test_a_run_trains_inside_the_container(tmp_path):
    store = tmp_path / "runs.duckdb"
    # APPTAINER_NAME / SINGULARITY_NAME exist only inside a container: the trainer's start event lists
    # the forward_env names it found set, so it says where it ran
    proc = workbench("run", DEMO_RECIPE, "--quiet", "--set", "train.max_steps=4", "--container", IMAGE,
                     "--container-binds", f"{ROOT}:{ROOT}", "--forward-env", "APPTAINER_NAME,SINGULARITY_NAME",
                     store=store, env={"PYTHONPATH": str(ROOT)}, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir, status), = q(store, "SELECT run_dir, status FROM runs")
    assert status == "completed"
    start = next(e for e in events_of(run_dir) if e["type"] == "start")
    assert set(start["env_forwarded"]) & {"APPTAINER_NAME", "SINGULARITY_NAME"}, start["env_forwarded"]
