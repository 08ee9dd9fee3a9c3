"""The GPU check (run through benchmarks/gpu_check.sh, which installs the wheels first).

CPU steps, anywhere: the versions in use, every demo recipe valid, the memory estimate of the
4-bit decoder demo. Then, on a CUDA GPU only:

(a) the encoder recipe on the real all-MiniLM-L6-v2 at bf16: samples/s against the best-practice
    plain script (benchmarks/bench_throughput.py, its quick plan) and the model FLOPs utilisation
    of that throughput (4 x frozen + 6 x trained parameters FLOPs per token, against the GPU's
    dense bf16 peak);
(b) the 4-bit decoder classification demo with train.optimizer = "auto" (paged 8-bit AdamW on
    CUDA): completed, the optimizer that ran, the peak memory CUDA allocated against the estimate,
    and NVML telemetry rows in the store (gpu, util, mem_used, power_w);
(c) the NER demo in 4 bits with packing on and off (benchmarks/bench_packing.py).

One results file ($OUT/gpu_check.json, or ./gpu_check.json), one table. Without a GPU: the CPU
steps, then one line saying where it stopped, exit status 3.

    bash benchmarks/gpu_check.sh [--budget SECONDS]
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, print_rows, row

NAME = "gpu check"
DEMOS = sorted((ROOT / "recipes" / "demo").glob("*.toml"))
DECODER = ROOT / "recipes" / "demo" / "decoder_classification.toml"
# Dense bf16 tensor-core peaks (FLOP/s) by the name NVML / torch report.
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "A10": 125e12,
             "RTX 4090": 165e12, "RTX 3090": 71e12, "V100": 125e12, "T4": 65e12}
STOPPED = 3


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=480.0, help="seconds for the GPU steps in all (default 480)")
    args = p.parse_args()
    out_dir = Path(os.environ.get("OUT") or ".")
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": _machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                     "rows": []}
    rows = results["rows"]
    code = 0
    try:
        rows += cpu_steps()
        import torch

        if not torch.cuda.is_available():
            line = ("gpu_check: stopped at the first CUDA step: no CUDA GPU here "
                    f"(torch {torch.__version__}: torch.cuda.is_available() is False)")
            rows.append(row(NAME, line, "stopped"))
            print(line)
            code = STOPPED
        else:
            deadline = time.monotonic() + args.budget
            gpu = torch.cuda.get_device_name(0)
            results["gpu"] = gpu
            for step in (encoder_step, decoder_step, packing_step):
                if time.monotonic() > deadline:
                    rows.append(row(NAME, f"{step.__name__}: skipped, the {args.budget:.0f} s budget is spent", "—"))
                    continue
                rows += step(gpu)
    finally:
        (out_dir / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str), "utf-8")
    if code != STOPPED:
        print_rows(rows, title=f"gpu_check.py — {results.get('gpu', 'no GPU')}",
                   caption=f"{results['machine']}; results in {out_dir / 'gpu_check.json'}")
    return code


def cpu_steps() -> list[dict]:
    import bitsandbytes
    import peft
    import torch
    import transformers

    rows = [row(NAME, "versions", f"torch {torch.__version__}, transformers {transformers.__version__}, "
                                  f"peft {peft.__version__}, bitsandbytes {bitsandbytes.__version__}")]
    bad = []
    for recipe in DEMOS:
        r = _workbench("validate", str(recipe), timeout=300)
        if r.returncode != 0:
            bad.append(f"{recipe.name}: {(r.stderr or r.stdout).strip().splitlines()[-1]}")
    rows.append(row(NAME, f"the {len(DEMOS)} demo recipes validate", "; ".join(bad) or "all valid",
                    "all valid", not bad))
    rows.append(row(NAME, "memory estimate, 4-bit decoder demo on one GPU", _estimate(DECODER)))
    return rows


def encoder_step(gpu: str) -> list[dict]:
    import bench_throughput

    got = bench_throughput.run(size="quick")
    rows = [dict(r, benchmark=f"{NAME} (a)") for r in got]
    wb = next((r for r in got if r["what"].startswith("workbench run")), None)
    peak = next((v for k, v in PEAK_BF16.items() if k in gpu), None)
    if wb is not None and peak is not None:
        sps = float(str(wb["value"]).split()[0])
        tokens = _mean_tokens(got)
        frozen, trained = 22.7e6, 0.45e6  # all-MiniLM-L6-v2; LoRA r=16 on q/k/v plus the 28-label head
        flops = sps * tokens * (4 * frozen + 6 * trained)
        rows.append(row(f"{NAME} (a)", f"model FLOPs utilisation at {sps:.0f} samples/s x {tokens:.0f} tokens "
                                       f"(a 22.7M-parameter encoder cannot fill a {gpu})",
                        f"{100 * flops / peak:.2f} % of {peak / 1e12:.0f} TFLOP/s"))
    return rows


def decoder_step(gpu: str) -> list[dict]:
    import duckdb

    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        store = Path(tmp) / "runs.duckdb"
        t0 = time.perf_counter()
        r = _workbench("--store", str(store), "run", str(DECODER), "--quiet", "--set", "seeds=[]",
                       "--set", "train.optimizer=auto", "--set", "launch.gpus=1", "--telemetry-interval", "0.5",
                       timeout=600)
        took = time.perf_counter() - t0
        if r.returncode != 0:
            return [row(f"{NAME} (b)", "4-bit decoder demo, paged 8-bit AdamW", "failed: " +
                        (r.stderr or r.stdout).strip().splitlines()[-1], "completed", False)]
        with duckdb.connect(str(store), read_only=True) as con:
            status, optimizer, peak, quantized = con.execute(
                "SELECT status, optimizer, peak_mem_bytes, quantized FROM runs").fetchone()
            n, util, mem, power = con.execute(
                "SELECT count(*), max(util), max(mem_used), max(power_w) FROM telemetry WHERE gpu IS NOT NULL"
            ).fetchone()
    estimate = _estimate(DECODER)
    return [
        row(f"{NAME} (b)", f"4-bit decoder demo ({quantized}), train.optimizer auto: status, optimizer, {took:.0f} s",
            f"{status}, {optimizer}", "completed, paged_adamw_8bit",
            status == "completed" and optimizer == "paged_adamw_8bit"),
        row(f"{NAME} (b)", "peak CUDA memory allocated vs the estimate", f"{(peak or 0) / 2**20:.0f} MiB vs {estimate}"),
        row(f"{NAME} (b)", "NVML telemetry rows in the store (gpu not null; max util, mem_used, power_w)",
            f"{n} rows; {util}%, {(mem or 0) / 2**20:.0f} MiB, {power} W", "> 0 rows, all three read",
            bool(n) and None not in (util, mem, power)),
    ]


def packing_step(gpu: str) -> list[dict]:
    try:
        import bench_packing
    except ImportError:
        return [row(f"{NAME} (c)", "packing benchmark", "skipped: benchmarks/bench_packing.py is missing")]
    return [dict(r, benchmark=f"{NAME} (c)") for r in bench_packing.run(size="quick")]


def _estimate(recipe: Path) -> str:
    r = _workbench("run", str(recipe), "--set", "seeds=[]", "--dry-run", timeout=300)
    lines = [ln[2:] for ln in r.stdout.splitlines() if ln.startswith("# GPU memory")]
    return lines[0].split(": ", 1)[1] if lines else "no estimate: " + (r.stderr or r.stdout).strip()[-200:]


def _mean_tokens(rows: list[dict]) -> float:
    for r in rows:
        what = str(r["what"])
        if "tokens per example" in what:
            return float(what.split("mean ")[1].split()[0])
    return 0.0


def _workbench(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def _machine() -> str:
    return f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}"


if __name__ == "__main__":
    sys.exit(main())
