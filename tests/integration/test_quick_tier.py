"""`scripts/test --quick`, as the README gives it: the quick tier of tests/quick_tier.py, collected from
the whole suite, which checks on the way that the tier still covers every workbench package."""

from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path

from tests import quick_tier
from tests.conftest import ROOT


def takes_snap_compare(path: Path) -> bool:
    """Whether a test file has a test function with a `snap_compare` parameter (an app snapshot)."""
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(a.arg == "snap_compare" for a in n.args.args)
               for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))


def test_scripts_test_quick_runs_the_unit_tests_the_apps_snapshots_and_the_demo_only():
    proc = subprocess.run([str(ROOT / "scripts" / "test"), "--quick", "--collect-only", "-q"], cwd=ROOT,
                          capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    files = {i.split("::")[0] for i in ids}
    # every unit test file, every file with snapshots of the app, the named tests, nothing else
    units = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests" / "unit").glob("test_*.py")}
    snapshots = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py") if takes_snap_compare(p)}
    named = {t.split("::")[0] for t in quick_tier.TESTS}
    assert files == units | snapshots | named
    assert not quick_tier.unmatched(ids)
    tui = [i for i in ids if i.startswith("tests/tui/")]
    assert tui and all("snapshot" in i for i in tui), tui
    assert quick_tier.uncovered(ROOT / f for f in files) == []
    selected, total = map(int, re.search(r"(\d+)/(\d+) tests collected", proc.stdout).groups())
    assert selected == len(ids) < total
    # neither the Debian packages nor the linters: the quick tier needs neither
    assert "Contracts:" not in proc.stdout + proc.stderr and "installing" not in proc.stdout
