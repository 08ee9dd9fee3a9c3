"""The quick tier: `scripts/test --quick` (or `pytest --quick`), for the edit-test loop; CI runs everything.

Declared here once, read by tests/conftest.py when --quick is given:

- every unit test (tests/unit/);
- every SVG snapshot of the app (the tests that take the `snap_compare` fixture, wherever they are);
- the few tests named in TESTS: the demo end to end through the real CLI, trainer and store, and the
  tracking package's own checks.

The selection must import every workbench subpackage from at least one of its test files (`uncovered`),
and every name in TESTS must still name a test: a `--quick` run that would leave a package out, or a
renamed test behind, stops with one line saying which (tests/integration/test_quick_tier.py checks both
in the default run, so CI notices too).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = ("tests/unit/",)
FIXTURES = ("snap_compare",)
TESTS = (
    # the README's demo through `workbench run` (the model trains 20 epochs), and the store it fills
    "tests/integration/test_demo_end_to_end.py::test_demo_completes_and_tuned_beats_base",
    "tests/integration/test_demo_end_to_end.py::test_events_are_ingested_once_and_match_the_file",
    # workbench/tracking: credentials never leave the tracking URI
    "tests/integration/test_mlflow.py::test_credentials_never_reach_a_file",
    "tests/integration/test_mlflow.py::test_the_whole_userinfo_is_dropped",
)


def selected(nodeid: str, fixturenames: Iterable[str]) -> bool:
    """Whether the test with this pytest node id (relative to the repository) is in the quick tier."""
    return (nodeid.startswith(PATHS) or any(f in FIXTURES for f in fixturenames)
            or any(nodeid == t or nodeid.startswith(t + "[") for t in TESTS))


def unmatched(nodeids: Iterable[str]) -> list[str]:
    """The names in TESTS that no collected test has (renamed or moved away)."""
    ids = list(nodeids)
    return [t for t in TESTS if not any(n == t or n.startswith(t + "[") for n in ids)]


def packages() -> list[str]:
    """workbench's subpackages (folders with an __init__.py), e.g. 'store', 'tui'."""
    return sorted(p.parent.name for p in (ROOT / "workbench").glob("*/__init__.py"))


def imported_packages(test_file: Path) -> set[str]:
    """The workbench subpackages a test file imports (anywhere in it, `import` or `from ... import`)."""
    found = set()
    for node in ast.walk(ast.parse(test_file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]  # from workbench import store
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "workbench" and len(parts) > 1:
                found.add(parts[1])
    return found


def uncovered(test_files: Iterable[Path]) -> list[str]:
    """workbench's subpackages that none of these test files imports."""
    seen: set[str] = set()
    for f in set(test_files):
        seen |= imported_packages(f)
    return [p for p in packages() if p not in seen]
