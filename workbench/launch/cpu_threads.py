"""How a trainer's CPU kernels use the cores: how many threads, and how their OpenMP threads wait.

torch's CPU kernels run on OpenMP threads (libgomp in the Linux wheels). Between two kernels a
thread that has nothing to do spins for a while before it sleeps; libgomp's default spin is
300,000 turns. On cores nobody else wants, spinning is what makes the many small kernels of a
training step fast: waking a sleeping thread costs tens of microseconds each time, and passive
waiting (OMP_WAIT_POLICY=PASSIVE) made every local CPU run a third slower. On cores other
processes want (a login node, a busy box, five runs started at once by a test suite), the
spinning threads take the time slices the computing ones need: the demo took 377 s instead of
53 s beside two busy processes on 2 cores.

So the supervisor looks at the cores before it starts the trainer: the cores this process may
run on (its CPU affinity, which SLURM, PBS and taskset set) and how busy they are over a short
sample of /proc/stat. The trainer gets a thread per core, split between its ranks, whatever the
load (so that its numbers never depend on it). The cores idle: its OpenMP threads spin briefly
(a tenth of libgomp's default), as fast as the default on a quiet machine and less harmful if
the machine fills later. Other work on them (more than half a core's worth): they wait
passively. A user's own OMP_NUM_THREADS / OMP_WAIT_POLICY / GOMP_SPINCOUNT win; the run log
says what was chosen and why (the trainer logs WORKBENCH_CPU_PLAN at its start).

Measured side by side in benchmarks/bench_throughput.py (quiet and beside two CPU-burning
processes; the throughput rows of benchmarks/RESULTS.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Settings of the user's that decide threads or waiting: any one of them and the plan keeps out.
USER_KEYS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
# The trainer logs this variable's value as its first note (launch and train do not import each other).
PLAN_ENV = "WORKBENCH_CPU_PLAN"
# libgomp's spin before a waiting thread sleeps, where cores are free. The default (300,000)
# holds a core for milliseconds after each parallel region; this holds it for tens of
# microseconds, which covers the gap between two kernels of a step (benchmarks/bench_throughput.py
# measures the choice against the default and against passive waiting).
SPINCOUNT_FREE = 30_000
SAMPLE_S = 0.25  # how long the cores are watched before the trainer starts (a run takes minutes)
BUSY_SHARE = 0.5  # others' work, in cores, from which threads wait passively


@dataclass(frozen=True)
class CpuPlan:
    env: dict[str, str]  # what the trainer's environment gets (nothing where the user chose)
    note: str  # one line for the run log: what was chosen and why


def plan(environ: Mapping[str, str], ranks: int = 1, *, busy: float | None = None,
         cores: int | None = None) -> CpuPlan:
    """The trainer's threads and OpenMP waiting for `ranks` processes on this node. busy / cores
    (for tests): how many of the cores others use, and how many this process may use."""
    mine = [k for k in USER_KEYS if environ.get(k)]
    if mine:
        return CpuPlan({}, "CPU threads: " + ", ".join(f"{k}={environ[k]}" for k in mine) + " kept as set")
    cpus = sorted(os.sched_getaffinity(0)) if cores is None else list(range(cores))
    if busy is None:
        busy = busy_cores(cpus)
    # The thread count never depends on the load: float sums split over another number of threads
    # round differently, and a run's numbers must not depend on what else ran when it started
    # (a resumed run continues bit for bit). torch would start as many; torchrun one per rank.
    threads = max(1, len(cpus) // ranks)
    taken = f"{busy:.1f} of the {len(cpus)} cores this run may use were busy at start"
    if busy < BUSY_SHARE:
        return CpuPlan({"OMP_NUM_THREADS": str(threads), "GOMP_SPINCOUNT": str(SPINCOUNT_FREE)},
                       f"CPU threads: {threads} per rank, OpenMP threads spin {SPINCOUNT_FREE:,} turns before they "
                       f"sleep ({taken})")
    # Cores taken: passive waiting. Beside two busy processes on 2 cores it was 2-3x faster than
    # any spinning (53 / 32 samples/s against 16-34), and as fast as one thread (45 / 45).
    return CpuPlan({"OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"},
                   f"CPU threads: {threads} per rank, OpenMP threads wait passively ({taken}: spinning threads "
                   "would take the time the computing ones need)")


def busy_cores(cpus: list[int], sample_s: float = SAMPLE_S, stat: Path = Path("/proc/stat")) -> float:
    """How many of `cpus` others kept busy over sample_s seconds (0 where /proc/stat is unreadable:
    not Linux, or a sandbox; the plan then treats the cores as free). This process sleeps while
    it samples, so what is counted is other work."""
    try:
        first = _jiffies(stat, cpus)
        time.sleep(sample_s)
        second = _jiffies(stat, cpus)
    except (OSError, ValueError):
        return 0.0
    used = total = 0
    for cpu, (b, t) in second.items():
        b0, t0 = first.get(cpu, (b, t))
        used, total = used + b - b0, total + t - t0
    return len(cpus) * used / total if total > 0 else 0.0


def _jiffies(stat: Path, cpus: list[int]) -> dict[int, tuple[int, int]]:
    """{cpu: (busy jiffies, all jiffies)} of the cpuN lines of /proc/stat for the given cpus."""
    wanted = {f"cpu{c}": c for c in cpus}
    out: dict[int, tuple[int, int]] = {}
    for line in stat.read_text().splitlines():
        name, _, rest = line.partition(" ")
        if name in wanted:
            fields = [int(v) for v in rest.split()]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
            total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
            out[wanted[name]] = (total - idle, total)
    return out
