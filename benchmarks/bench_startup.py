"""Start-up time: `workbench --help` and `workbench runs` against importing torch + transformers;
and the interactive commands on the demo: `run --dry-run`, the app's launch preview, `predict --text`.

Each command runs as a fresh subprocess (`sys.executable -m workbench ...`); `workbench runs`
reads an empty store in a temporary folder (WORKBENCH_STORE). The commands are timed in
interleaved rounds (help, runs, torch, bare python, import duckdb, help, ...) after one warm-up
round, and the median of each is reported with its ratio to `python -c "import torch,
transformers"` and to a bare `python -c pass` measured in the same rounds.

The demo's rows use one demo run trained first (one step, no base evaluation: predict's time does
not depend on training) with a cache of their own (WORKBENCH_CACHE): `run --dry-run` of the demo
recipe, the launch preview as the app's dialog renders it (launcher.dry_run of the loaded recipe,
in a fresh process: an upper bound of the app's, whose process is already started), opened first
(an empty estimate cache beside the built tiny model: the meta model is built) and again (the
estimate read back from the cache), and `predict RUN --text` of one sentence.

    python benchmarks/bench_startup.py [--quick | --smoke]     # --smoke: one round, no warm-up
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, by_size, fmt_seconds, main, row, side_by_side

NAME = "startup"
GOAL_S = 0.3
DEMO = ROOT / "recipes" / "demo" / "encoder_multilabel.toml"
DRY_RUN_GOAL_S = 3.0
PREVIEW_GOAL_S = 1.5
PREDICT_GOAL_S = 8.0
# the app's launch dialog: workbench/tui/screens/launch.py renders its preview so
PREVIEW = ("import sys\nfrom pathlib import Path\nfrom workbench.launch.launcher import dry_run\n"
           "from workbench.recipe import load_recipe\ndry_run(load_recipe(Path(sys.argv[1]), []), Path(sys.argv[2]))\n")


def _command(args: list[str], env: dict[str, str], cwd: str):
    def call() -> None:
        p = subprocess.run([sys.executable, *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, check=False)
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or [""])[-1]
            raise RuntimeError(f"`python {' '.join(args)}` exited {p.returncode}: {last}")
    return call


def _first_open(env: dict[str, str], tmp: str, store: str):
    """The preview opened with an empty estimate cache (a new one each time) beside the built tiny model."""
    def call() -> None:
        cache = Path(tempfile.mkdtemp(prefix="cache-", dir=tmp))
        (cache / "tiny").symlink_to(Path(env["WORKBENCH_CACHE"]) / "tiny", target_is_directory=True)
        _command(["-c", PREVIEW, str(DEMO), store], dict(env, WORKBENCH_CACHE=str(cache)), tmp)()
    return call


def demo_rows(size: str) -> list[dict]:
    """run --dry-run, the launch preview (first and second open) and predict --text on the demo."""
    import duckdb

    repeat = by_size(size, 5, 3, 1)
    with tempfile.TemporaryDirectory(prefix="wb-bench-demo-") as tmp:
        store = str(Path(tmp) / "runs.duckdb")
        env = dict(os.environ, WORKBENCH_STORE=store, WORKBENCH_CACHE=str(Path(tmp) / "cache"), COLUMNS="100",
                   HF_HUB_OFFLINE="1",
                   PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
        _command(["-m", "workbench", "run", str(DEMO), "--quiet", "--set", "train.max_steps=1",
                  "--set", "eval.base=false"], env, tmp)()
        con = duckdb.connect(store, read_only=True)
        (run_id,), = con.execute("SELECT run_id FROM runs").fetchall()
        con.close()
        cmds = {
            "dry": _command(["-m", "workbench", "run", str(DEMO), "--dry-run"], env, tmp),
            "first": _first_open(env, tmp, store),
            "preview": _command(["-c", PREVIEW, str(DEMO), store], env, tmp),  # the dry run cached the estimate
            "predict": _command(["-m", "workbench", "predict", run_id, "--text", "the soup was cold and the waiter rude"],
                                env, tmp),
        }
        t = side_by_side(cmds, repeat, warmup=size != "smoke")
    n = f"median of {repeat}"
    return [
        row(NAME, f"demo `run --dry-run`, estimate cached ({n})", fmt_seconds(t["dry"]), f"<= {DRY_RUN_GOAL_S:g} s",
            t["dry"] <= DRY_RUN_GOAL_S),
        row(NAME, f"launch preview of the demo, first open: meta model built ({n})", fmt_seconds(t["first"])),
        row(NAME, f"launch preview of the demo, opened again: estimate from the cache ({n})",
            fmt_seconds(t["preview"]), f"<= {PREVIEW_GOAL_S:g} s", t["preview"] <= PREVIEW_GOAL_S),
        row(NAME, f"`predict RUN --text` of one sentence on the demo run ({n})", fmt_seconds(t["predict"]),
            f"<= {PREDICT_GOAL_S:g} s", t["predict"] <= PREDICT_GOAL_S),
    ]


def run(size: str = "full") -> list[dict]:
    repeat = by_size(size, 5, 3, 1)
    with tempfile.TemporaryDirectory(prefix="wb-bench-startup-") as tmp:
        env = dict(os.environ, WORKBENCH_STORE=str(Path(tmp) / "runs.duckdb"), COLUMNS="100",
                   PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
        cmds = {
            "help": _command(["-m", "workbench", "--help"], env, tmp),
            "runs": _command(["-m", "workbench", "runs"], env, tmp),  # the warm-up round creates the empty store
            "torch": _command(["-c", "import torch, transformers"], env, tmp),
            "python": _command(["-c", "pass"], env, tmp),
            "duckdb": _command(["-c", "import duckdb"], env, tmp),
        }
        t = side_by_side(cmds, repeat, warmup=size != "smoke")
    n = f"median of {repeat}"
    rows = [
        row(NAME, f"`workbench --help` wall time ({n})", fmt_seconds(t["help"]), f"<= {GOAL_S} s",
            t["help"] <= GOAL_S),
        row(NAME, f"`workbench runs`, empty store ({n})", fmt_seconds(t["runs"]), f"<= {GOAL_S} s",
            t["runs"] <= GOAL_S),
        row(NAME, f"`python -c \"import torch, transformers\"` ({n})", fmt_seconds(t["torch"])),
        row(NAME, f"bare `python -c pass` ({n})", fmt_seconds(t["python"])),
        row(NAME, f"`python -c \"import duckdb\"` ({n}; `workbench runs` needs it)", fmt_seconds(t["duckdb"])),
    ]
    for key, label in (("help", "`workbench --help`"), ("runs", "`workbench runs`")):
        rows.append(row(NAME, f"{label} / import torch + transformers", f"{t[key] / t['torch']:.2f}×"))
    for key, label in (("help", "`workbench --help`"), ("runs", "`workbench runs`")):
        rows.append(row(NAME, f"{label} / bare python", f"{t[key] / t['python']:.1f}×"))
    return rows + demo_rows(size)


if __name__ == "__main__":
    raise SystemExit(main(run))
