"""The quick tier's own checks (tests/quick_tier.py): a tier that would leave a workbench package
untested, or name a test that was renamed away, is caught."""

from __future__ import annotations

from pathlib import Path

from tests import quick_tier

ROOT = Path(__file__).resolve().parents[2]


def test_the_subpackages_are_read_from_the_package_itself():
    found = quick_tier.packages()
    assert {"store", "tui", "train", "tracking", "actions", "cli"} <= set(found)
    assert all((ROOT / "workbench" / p / "__init__.py").is_file() for p in found)


def test_a_package_no_test_file_imports_is_named(tmp_path):
    a = tmp_path / "test_a.py"
    a.write_text("import workbench.store.db\nfrom workbench.tui import app\n"
                 "def test_x():\n    from workbench import events, recipe\n", encoding="utf-8")
    assert quick_tier.imported_packages(a) == {"store", "tui", "events", "recipe"}
    left = quick_tier.uncovered([a])
    assert "tracking" in left and "train" in left and "store" not in left and "recipe" not in left


def test_without_the_mlflow_checks_the_tier_would_leave_the_tracking_package_out():
    files = [*sorted((ROOT / "tests" / "unit").glob("test_*.py")), *sorted((ROOT / "tests" / "tui").glob("test_*.py")),
             *(ROOT / t.split("::")[0] for t in quick_tier.TESTS if "mlflow" not in t)]
    assert "tracking" in quick_tier.uncovered(files)
    assert quick_tier.uncovered([*files, ROOT / "tests" / "integration" / "test_mlflow.py"]) == []


def test_a_named_test_that_is_gone_is_reported_and_parametrized_ones_count():
    name = quick_tier.TESTS[-1]
    ids = [t for t in quick_tier.TESTS if t != name] + [f"{name}[case-1]"]
    assert quick_tier.unmatched(ids) == []
    assert quick_tier.unmatched(ids[:-1]) == [name]
    assert quick_tier.selected(f"{name}[case-1]", []) and not quick_tier.selected(name + "_other", [])
    assert quick_tier.selected("tests/tui/test_x.py::T::test_y", ["snap_compare", "tmp_path"])
    assert not quick_tier.selected("tests/tui/test_x.py::T::test_y", ["tmp_path"])
