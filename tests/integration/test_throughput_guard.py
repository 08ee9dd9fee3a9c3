"""A guard against training throughput falling behind a plain script again (issue 26: one setting
made every local CPU run a third slower and nothing noticed). A short form of
benchmarks/bench_throughput.py: workbench in the foreground against the best-practice Trainer
script, on the same rows and batches, interleaved twice, each logging window at its fastest, in one
run. The bound (0.8x) is loose so that a busy machine cannot trip it; the benchmark's own goals
are the tight ones. Skips where the real encoder package or the shared GoEmotions data is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_throughput.py"


def _bench():
    import sys

    sys.path.insert(0, str(BENCH.parent))  # the benchmark imports its neighbour common.py
    spec = importlib.util.spec_from_file_location("bench_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_workbench_trains_at_least_0_8x_as_fast_as_a_plain_script():
    bench = _bench()
    result = bench.guard_ratio()
    if isinstance(result, str):
        pytest.skip(result)
    ratio, measured = result
    assert ratio >= bench.GUARD, f"workbench / plain script {ratio:.2f}x < {bench.GUARD}x: {measured}"
