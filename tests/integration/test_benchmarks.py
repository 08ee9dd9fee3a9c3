"""Every benchmark runs: `python benchmarks/run_all.py --smoke` (tiny sizes, one repeat) in the default
test run, so a benchmark the code has moved away from fails CI instead of waiting for someone to run it
(bench_store.py raised for days after the store's schema moved). The benchmarks are found as run_all.py
finds them (benchmarks/bench_*.py): a new one is covered without a line here. Figures and goals are not
judged at smoke size; a benchmark whose data (../shared/datasets) or model package is absent reports
skip rows, and its test skips with that reason."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from run_all import discover  # noqa: E402 - the benchmarks' own runner, beside common.py

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
BENCHMARKS = sorted(discover())


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """{name: {"seconds": s, "rows": [...]}} of one `run_all.py --smoke` over every benchmark, and its output."""
    out = tmp_path_factory.mktemp("bench") / "rows.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--smoke", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1700)
    assert out.exists(), f"run_all.py exited {proc.returncode} without results:\n{proc.stderr[-5000:]}"
    return json.loads(out.read_text()), proc


def test_every_benchmark_is_found_and_run_all_exits_0_only_when_none_raised(smoke):
    results, proc = smoke
    assert BENCHMARKS and sorted(results) == BENCHMARKS
    raised = [name for name, r in results.items() if any("error" in row for row in r["rows"])]
    assert proc.returncode == (1 if raised else 0), proc.stderr[-3000:]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_at_smoke_size(smoke, name):
    results, proc = smoke
    rows = results[name]["rows"]
    errors = [row["error"] for row in rows if "error" in row]
    assert not errors, f"bench_{name}.py raised: {errors[0]}\n{proc.stderr[-5000:]}"
    assert rows and all(row.get("what") and row.get("value") not in (None, "") for row in rows), rows
    skipped = [row["what"] for row in rows if row["what"].startswith("skipped:")]
    if skipped and len(skipped) == len(rows):
        pytest.skip(f"bench_{name}.py {skipped[0]}")
