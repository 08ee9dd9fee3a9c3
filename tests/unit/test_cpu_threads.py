"""The supervisor's choice of CPU threads and OpenMP waiting (workbench/launch/cpu_threads.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from workbench.launch import cpu_threads


def test_idle_cores_get_a_thread_each_and_a_bounded_spin():
    p = cpu_threads.plan({}, busy=0.1, cores=8)
    assert p.env == {"OMP_NUM_THREADS": "8", "GOMP_SPINCOUNT": str(cpu_threads.SPINCOUNT_FREE)}
    assert "8 per rank" in p.note and "0.1 of the 8 cores" in p.note


def test_busy_cores_make_threads_wait_passively():
    p = cpu_threads.plan({}, busy=1.9, cores=2)
    assert p.env == {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}
    assert "wait passively" in p.note and "1.9 of the 2 cores" in p.note
    assert cpu_threads.plan({}, busy=0.6, cores=2).env["OMP_WAIT_POLICY"] == "PASSIVE"


@pytest.mark.parametrize("busy", [0.0, 0.4, 0.6, 3.0, 5.2, 8.0])
def test_the_thread_count_never_depends_on_the_load(busy):
    """Another thread count rounds float sums differently: a run's numbers (and a resumed run's
    continuation) must not depend on what else ran when it started."""
    assert cpu_threads.plan({}, busy=busy, cores=8).env["OMP_NUM_THREADS"] == "8"
    assert cpu_threads.plan({}, 2, busy=busy, cores=8).env["OMP_NUM_THREADS"] == "4"
    assert cpu_threads.plan({}, 16, busy=busy, cores=8).env["OMP_NUM_THREADS"] == "1"


@pytest.mark.parametrize("key", cpu_threads.USER_KEYS)
def test_a_users_own_setting_wins_and_is_named(key):
    p = cpu_threads.plan({key: "3"}, busy=0.0, cores=8)
    assert p.env == {} and f"{key}=3 kept as set" in p.note


def test_busy_cores_counts_other_processes_work_on_the_cores_this_process_may_use():
    cpus = sorted(os.sched_getaffinity(0))
    code = f"import os\nos.sched_setaffinity(0, {{{cpus[0]}}})\nwhile True: pass"
    burner = subprocess.Popen([sys.executable, "-c", code])
    try:
        # waits for state: the burner has started spinning once its CPU time grows
        while _cpu_seconds(burner.pid) < 0.3:
            pass
        busy = cpu_threads.busy_cores([cpus[0]], sample_s=0.5)
    finally:
        burner.kill()
        burner.wait()
    assert busy > 0.5  # the burner holds that core (its share may drop where the machine is shared)


def test_an_unreadable_proc_stat_counts_the_cores_as_free(tmp_path):
    assert cpu_threads.busy_cores([0], sample_s=0.0, stat=tmp_path / "absent") == 0.0
    (tmp_path / "stat").write_text("cpu0 not numbers\n")
    assert cpu_threads.busy_cores([0], sample_s=0.0, stat=tmp_path / "stat") == 0.0


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
