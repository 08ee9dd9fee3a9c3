"""benchmarks/gpu_check.sh on a machine without a GPU: its CPU steps pass (every demo recipe
valid, a memory estimate) and it stops at the first CUDA step with one line and exit status 3,
leaving its results file. (On a GPU machine it is run by hand: benchmarks/RESULTS.md.)"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_without_a_gpu_it_stops_at_the_first_cuda_step_with_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here: the check would run its GPU steps (run it by hand)")
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True,
                       timeout=540, env={**os.environ, "OUT": str(tmp_path)})
    assert r.returncode == 3, r.stdout + r.stderr
    assert r.stdout.strip().splitlines() == [
        f"gpu_check: stopped at the first CUDA step: no CUDA GPU here (torch {torch.__version__}: "
        "torch.cuda.is_available() is False)"]
    rows = {row["what"]: row for row in json.loads((tmp_path / "gpu_check.json").read_text())["rows"]}
    valid = next(v for k, v in rows.items() if k.endswith("demo recipes validate"))
    assert valid["ok"] is True and valid["value"] == "all valid"
    estimate = rows["memory estimate, 4-bit decoder demo on one GPU"]["value"]
    assert estimate.endswith("parameters train)") and "MiB" in estimate, estimate
