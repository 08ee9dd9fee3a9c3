"""Make docs/reliability.md from a run of the fault probes (tests/faults/test_faults.py).

    python -m tests.faults.page [--runs N] [--burners K] [PYTEST ARGS...]

Runs the probes N times in a row (default 1), with K CPU-burning processes beside them (default 0:
the issue's bar is three runs beside two), and writes the page: the machine, the date, the commit,
each run's result and time, and one row per probe with what was done, what must hold, what it
measured in the last run and what the same fault did before issue 25. The page lists every probe;
tests/unit/test_reliability_page.py fails when a probe has no row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reliability.md"
PROBES = Path(__file__).resolve().parent / "test_faults.py"

# What each fault did on main before issue 25 (as found and reported there), by probe.
BEFORE = {
    "test_trainer_killed": "a detached run read `queued` / `running` in `runs`, `show` (\"the run is still going\") "
                           "and the app until someone ran `sync`",
    "test_supervisor_and_trainer_killed": "read `queued` until `sync`",
    "test_follower_killed": "read `running` until someone followed it or ran `sync`",
    "test_sync_killed": "(held: ingestion is one transaction per run folder)",
    "test_events_truncated_mid_run": "ingestion resumed at its stored byte offset past the new end: 22 of 48 steps "
                                     "in the file never reached the store, `sync` said \"0 new events\"",
    "test_events_replaced_mid_run": "the replaced file's events were never read (the offset was past them); no word",
    "test_events_removed_mid_run": "the follower froze 60 s without a word, then \"exited with code 0 without an end "
                                   "event\" though the adapter and predictions existed",
    "test_run_folder_read_only_mid_run": "the follower's traceback on `.follow.lock`, the supervisor crashed writing "
                                         "exit.json",
    "test_store_disk_full_mid_run": "\"a bug in workbench: TransactionException … No space left on device\" with a "
                                    "traceback, exit 1; the run stayed `running`",
    "test_corrupt_run_json_among_good": "\"a bug in workbench: JSONDecodeError\", exit 1, 0 of the good runs ingested",
    "test_runs_beside_readers_and_the_app": "(held)",
}


def probe_names() -> list[str]:
    """The probe tests of tests/faults/test_faults.py, in file order (by their source: no import)."""
    import ast

    tree = ast.parse(PROBES.read_text(encoding="utf-8"))
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]


def burn() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--burners", type=int, default=0)
    args, pytest_args = p.parse_known_args(argv)
    burners = [burn() for _ in range(args.burners)]
    results: list[tuple[int, float]] = []
    rows: list[dict] = []
    try:
        for _ in range(args.runs):
            with tempfile.NamedTemporaryFile("r", suffix=".jsonl", delete=False) as out:
                env = {**os.environ, "WORKBENCH_PROBES_OUT": out.name}
                t0 = time.monotonic()
                code = subprocess.call([sys.executable, "-m", "pytest", str(PROBES.parent), "-p", "no:cacheprovider",
                                        "-q", *pytest_args], cwd=ROOT, env=env)
                results.append((code, time.monotonic() - t0))
                rows = [json.loads(line) for line in Path(out.name).read_text(encoding="utf-8").splitlines() if line]
            os.unlink(out.name)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    PAGE.write_text(render(rows, results, args.burners, commit), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}: {len(rows)} rows, runs {[c for c, _ in results]}")
    return max((c for c, _ in results), default=0)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def render(rows: list[dict], results: list[tuple[int, float]], burners: int, commit: str) -> str:
    runs = ", ".join(f"{'passed' if c == 0 else f'FAILED (exit {c})'} in {t / 60:.1f} min" for c, t in results)
    lines = [
        "# Reliability: the fault probes",
        "",
        "What was done to the system to find where the record lost runs or misreported them, and what it does",
        "now. Each row is a probe in `tests/faults/test_faults.py` (part of the default test run), which breaks",
        "something for real — a SIGKILL, a file changed under a reader, a read-only folder, a full disk — through",
        "the real CLI and a real store, and asserts that every event in the run folders is in the store after",
        "`workbench sync`, that the status every reader shows is true without `sync`, and that exit codes are",
        "the documented ones (0, 1 for a failed run or a bug, 2 for bad input or the machine's faults).",
        "",
        "Made by `python -m tests.faults.page --runs 3 --burners 2` (three runs in a row beside two",
        "CPU-burning processes); regenerate it after changing a probe.",
        "",
        f"- date: {date.today().isoformat()}, commit {commit}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{burners} CPU-burning processes beside the probes",
        f"- runs: {runs}",
        "",
        "| probe | what was done | what must hold | measured (last run) | held | before issue 25 |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        base = r["test"].split("[")[0]
        lines.append(f"| `{r['probe']}` | {_cell(r['done'])} | {_cell(r['holds'])} | {_cell(r['measured'])} | "
                     f"{'yes' if r['passed'] else '**no**'} | {_cell(BEFORE.get(base, ''))} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
