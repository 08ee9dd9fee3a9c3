"""Start-up time: `workbench --help` and `workbench runs` against importing torch + transformers.

Each command runs as a fresh subprocess (`sys.executable -m workbench ...`); `workbench runs`
reads an empty store in a temporary folder (WORKBENCH_STORE). The commands are timed in
interleaved rounds (help, runs, torch, bare python, import duckdb, help, ...) after one warm-up
round, and the median of each is reported with its ratio to `python -c "import torch,
transformers"` and to a bare `python -c pass` measured in the same rounds.

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


def _command(args: list[str], env: dict[str, str], cwd: str):
    def call() -> None:
        p = subprocess.run([sys.executable, *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, check=False)
        if p.returncode != 0:
            last = (p.stderr.strip().splitlines() or [""])[-1]
            raise RuntimeError(f"`python {' '.join(args)}` exited {p.returncode}: {last}")
    return call


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
    return rows


if __name__ == "__main__":
    raise SystemExit(main(run))
