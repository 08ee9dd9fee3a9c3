"""Run every benchmark (benchmarks/bench_*.py, in sorted order) and print one table.

    python benchmarks/run_all.py [--quick | --smoke] [--only NAME ...] [--json FILE]

Each module's `run(size)` returns its rows (see benchmarks/common.py). The table is printed with
the machine, the date and the exact command line, and written the same to benchmarks/RESULTS.md,
below its marker line (MARK): what is above it, the dated figures kept by hand, is kept as it is
(not at --smoke size, whose figures mean nothing, unless --output says where). A module that
raises becomes one row with its error; the others still run, and the exit status is 1.
`--smoke` is what CI runs (tests/integration/test_benchmarks.py): every benchmark, tiny sizes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import ROOT, add_size_arguments, machine, markdown_rows, print_rows, row, size_flag  # noqa: E402

RESULTS = HERE / "RESULTS.md"
# benchmarks/RESULTS.md holds the curated, dated figures above this line and the last run's table below it.
MARK = "<!-- Everything below this line is written by benchmarks/run_all.py; the figures above are kept by hand. -->"


def discover() -> dict[str, Path]:
    """{name: path} of benchmarks/bench_<name>.py, sorted by file name."""
    return {p.stem[len("bench_"):]: p for p in sorted(HERE.glob("bench_*.py"))}


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(module)
    return module


def one_line_error(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def run_one(name: str, path: Path, size: str) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    try:
        rows = list(load(name, path).run(size=size))
        for r in rows:
            if not isinstance(r, dict) or "what" not in r or "value" not in r:
                raise TypeError(f"run() returned a row that is not a dict with 'what' and 'value': {r!r:.120}")
    except (Exception, SystemExit) as e:  # noqa: BLE001 - one module failing must not stop the suite
        traceback.print_exc(file=sys.stderr)
        error = one_line_error(e)[:300]
        rows = [{**row(name, f"bench_{name}.py raised {error}", "error", "runs", False), "error": error}]
    return rows, time.perf_counter() - t0


def write_results(path: Path, run: str) -> None:
    """Write one run's results (`run`, Markdown) to `path`: below MARK when the file has it, keeping
    every byte above it (benchmarks/RESULTS.md: the curated figures), else as a page of its own."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if MARK in text:
        kept = text.split(MARK, 1)[0] + MARK + "\n\n"
        path.write_text(kept + "## The last run of `benchmarks/run_all.py`\n\n" + run, encoding="utf-8")
    else:
        path.write_text("# Benchmark results\n\n" + run, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    found = discover()
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    add_size_arguments(p)
    p.add_argument("--only", action="append", metavar="NAME", default=[],
                   help=f"run only this benchmark (repeatable, or comma-separated): {', '.join(found) or 'none found'}")
    p.add_argument("--output", type=Path, help=f"Markdown file to write (default {RESULTS.name}; none at --smoke)")
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="also write the rows as JSON: {name: {seconds, rows}} per benchmark")
    args = p.parse_args(argv)

    only = [n.strip().removeprefix("bench_").removesuffix(".py") for item in args.only for n in item.split(",")
            if n.strip()]
    unknown = [n for n in only if n not in found]
    if unknown:
        p.error(f"no benchmark named {', '.join(unknown)} (there are: {', '.join(found)})")
    selected = {n: path for n, path in found.items() if not only or n in only}

    command = "python " + " ".join(shlex.quote(a) for a in [
        str(Path(sys.argv[0]).resolve().relative_to(ROOT)) if Path(sys.argv[0]).resolve().is_relative_to(ROOT)
        else sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    where = machine()
    rows: list[dict] = []
    took: dict[str, float] = {}
    each: dict[str, dict] = {}
    for name, path in selected.items():
        print(f"running {path.name}{size_flag(args.size)} ...", file=sys.stderr, flush=True)
        got, took[name] = run_one(name, path, args.size)
        rows += got
        each[name] = {"seconds": round(took[name], 2), "rows": got}
    total = sum(took.values())
    timing = ", ".join(f"{n} {s:.0f} s" for n, s in took.items())
    missed = sum(1 for r in rows if r.get("ok") is False)
    met = sum(1 for r in rows if r.get("ok") is True)
    errors = [name for name, got in each.items() if any("error" in r for r in got["rows"])]
    verdict = f"goals: {met} met, {missed} missed" + (" (not judged at smoke size)" if args.size == "smoke" else "")
    verdict += f"; raised: {', '.join(errors)}" if errors else ""

    print_rows(rows, title=f"benchmarks — {command}",
               caption=f"{where}\n{started}; {total:.0f} s in all ({timing}); {verdict}")
    if args.json:
        args.json.write_text(json.dumps(each, indent=1, default=str), encoding="utf-8")
    output = args.output or (RESULTS if args.size != "smoke" else None)
    if output is None:
        return 1 if errors else 0
    write_results(output, (
        f"Command: `{command}`  \n"
        f"Machine: {where}  \n"
        f"Date: {started}; {total:.0f} s in all ({timing})  \n"
        f"Result: {verdict}\n\n"
        "Every figure is the median of repeats measured in this one process run; ratios compare\n"
        "things timed side by side in it. Regenerate with the command above.\n\n"
        + markdown_rows(rows) + "\n"))
    print(f"wrote {output}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
