"""A wheel that works: built from this checkout, installed non-editable into a fresh virtual
environment, it runs the shipped demo by name from an empty folder and copies its recipes out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _run(argv: list, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _clean_copy(dest: Path) -> Path:
    """The files git would commit (tracked and new, minus ignored ones), copied as they are now (links kept):
    building in the checkout would reuse its build/ folder, whose stale modules a wheel would carry along."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = ROOT / rel
        if not os.path.lexists(src):  # deleted in the working tree, not yet in git
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel, follow_symlinks=False)
    return dest


def _site_dirs() -> list[str]:
    """This interpreter's package folders (site-packages, dist-packages), in its import order: a
    virtual environment's own (a newcomer's .venv) or the base interpreter's, as the case may be."""
    return [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """(venv python, venv workbench script, the wheel) with workbench installed from a wheel of this checkout.
    torch and the rest come from the interpreter running the tests (no network in tests): its package
    folders are added to the venv by a .pth file, after the venv's own. Not --system-site-packages:
    that shows the *base* interpreter's packages, which a virtual environment's are not among."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = _clean_copy(tmp / "source")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist",
                  source], cwd=tmp)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("workbench-*.whl")
    made = _run([sys.executable, "-m", "venv", tmp / "venv"], cwd=tmp)
    assert made.returncode == 0, made.stderr
    python, script = tmp / "venv" / "bin" / "python", tmp / "venv" / "bin" / "workbench"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp).stdout.strip()
    # addsitedir, not a bare path: the folders' own .pth files are read too, as in the interpreter running the tests
    (Path(purelib) / "_test_interpreter_packages.pth").write_text(
        "".join(f"import site; site.addsitedir({d!r})\n" for d in _site_dirs()), encoding="utf-8")
    # --force-reinstall: the machine's editable install must not stand in for the wheel
    inst = _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--force-reinstall", wheel], cwd=tmp)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return python, script, wheel


def test_wheel_holds_the_recipes_and_demo_data_and_no_test_tools(venv):
    _, _, wheel = venv
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.split("shipped_recipes/", 1)[1] for n in names if "/shipped_recipes/" in n}
    in_repo = {p.relative_to(ROOT / "recipes").as_posix() for p in (ROOT / "recipes").rglob("*") if p.is_file()}
    assert shipped == in_repo
    assert not [n for n in names if n.startswith("tools/") or "synthetic" in n or n.startswith("tests/")]


def test_installed_wheel_runs_the_shipped_demo_by_name_from_an_empty_folder(venv, tmp_path):
    python, script, _ = venv
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WORKBENCH_STORE", "WORKBENCH_RECIPES")}
    where = _run([python, "-c", "import workbench; print(workbench.__file__)"], cwd=tmp_path, env=env)
    assert str(Path(python).parents[1]) in where.stdout, where.stdout + where.stderr  # the venv's copy, not the repo
    # its dependencies are the ones of the interpreter running the tests, whether that is a virtual environment
    # (a newcomer's) or the base interpreter (the base one's site-packages lacked rich in a newcomer's .venv)
    import rich
    import torch

    deps = _run([python, "-c", "import rich, torch; print(rich.__file__); print(torch.__file__)"], cwd=tmp_path, env=env)
    assert deps.stdout.split() == [rich.__file__, torch.__file__], deps.stdout + deps.stderr

    # by name, from an empty folder; 2 of its 20 epochs keep it short (the demo's metrics are not the point here)
    store = tmp_path / "store" / "runs.duckdb"
    r = _run([script, "--store", store, "run", "demo/encoder_multilabel", "--quiet", "--set", "train.epochs=2"],
             cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "completed" in r.stdout
    for label in ("advertisement", "irrelevant_content", "non_visitor_rant", "toxicity"):  # the per-label table
        assert label in r.stdout, r.stdout[-3000:]
    (run_dir,) = (store.parent / "runs").iterdir()
    ends = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if '"end"' in line]
    assert ends[-1]["status"] == "completed"
    listed = _run([script, "--store", store, "runs", "--format", "json"], cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert [row["status"] for row in json.loads(listed.stdout)] == ["completed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]  # nothing else written into the folder

    r = _run([script, "init"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "workbench run recipes/demo/encoder_multilabel.toml" in r.stdout  # the next command to run
    assert (tmp_path / "recipes" / "demo" / "data" / "reviews.csv").read_bytes() == \
        (ROOT / "recipes" / "demo" / "data" / "reviews.csv").read_bytes()
    again = _run([script, "init"], cwd=tmp_path, env=env)
    assert again.returncode == 2 and "--force" in again.stderr and "Traceback" not in again.stderr
    demos = sorted(p.relative_to(tmp_path) for p in (tmp_path / "recipes" / "demo").glob("*.toml"))
    v = _run([script, "validate", *demos], cwd=tmp_path, env=env)
    assert v.returncode == 0, v.stdout + v.stderr
    assert v.stdout.count("ok  ") == len(demos) == 5
