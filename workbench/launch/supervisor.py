"""`python -m workbench.launch.supervisor RUN_DIR`: what every launcher starts.

It runs the training command (plain python, or accelerate launch for several processes),
passes stop signals on to it, and when it ends writes `exit.json` (return code or signal) so
that a run whose trainer died without an `end` event (SIGKILL, out of memory, a crash in
native code) still gets the right final status, on this machine or a remote one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from workbench import faults, rundir
from workbench.errors import environment_fault
from workbench.launch import cpu_threads
from workbench.launch.argv import free_port, train_argv, world_per_node

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # the trainer's stop signals


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m workbench.launch.supervisor RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(argv[0]).resolve()
    from workbench.recipe import load_recipe

    launch = load_recipe(run_dir / rundir.RECIPE).launch
    node_rank = os.environ.get("SLURM_NODEID")
    argv = train_argv(launch, str(run_dir), sys.executable, port=_port(), node_rank=node_rank,
                      main_addr=os.environ.get("WORKBENCH_MAIN_ADDR"))
    # Threads and OpenMP waiting sized to the cores free now (cpu_threads.py says why); this
    # watches the cores for a quarter of a second before the trainer starts.
    cpu = cpu_threads.plan(os.environ, world_per_node(launch))
    env = {**os.environ, **cpu.env, cpu_threads.PLAN_ENV: cpu.note, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(argv, cwd=run_dir, env=env, stdin=subprocess.DEVNULL)
    if node_rank in (None, "0"):
        write_trainer(run_dir, child.pid)

    def forward(signum, frame):
        # The trainer stops on the first signal and ignores repeats (a scheduler may signal
        # the whole job, reaching it twice); the supervisor itself waits for it to finish.
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            return

    for sig in FORWARDED:
        signal.signal(sig, forward)
    while True:
        try:
            code = child.wait()
            break
        except InterruptedError:
            continue
    record = {"returncode": code, "signal": signal.Signals(-code).name if code < 0 else None,
              "t": time.time(), "host": socket.gethostname()}
    if node_rank in (None, "0"):
        write_exit(run_dir, record)
    return 128 - code if code < 0 else code


def write_exit(run_dir: Path, record: dict) -> None:
    """exit.json, unless the run folder cannot take it (a full disk, a read-only folder): then one
    line in the log says so, and the supervisor still exits as the trainer did. Followers settle the
    run from what the folder holds (its `end` event; without one, the dead job: workbench/launch/reckon.py)."""
    try:
        faults.at("exit_json", path=run_dir / rundir.EXIT)
        rundir.write_exit(run_dir, record)
    except OSError as e:
        cause = environment_fault(e)
        if cause is None:
            raise
        how = f"signal {record['signal']}" if record["signal"] else f"exit code {record['returncode']}"
        line = f"workbench supervisor: cannot record how the trainer ended ({how}): {cause}\n"
        try:
            # Straight to the descriptor: a buffered stderr that fails to flush would fail again at
            # exit and turn the exit status into 120.
            os.write(sys.stderr.fileno(), line.encode(errors="replace"))
        except OSError as log_error:
            if environment_fault(log_error) is None:
                raise
            return  # its log (train.log) is on the same full disk: nowhere is left to say it


def write_trainer(run_dir: Path, pid: int) -> None:
    """trainer.json: the pid of the trainer process (or of `accelerate launch`, its ranks' parent), so that
    a status read tells whether it runs on after its supervisor was killed without reading events.jsonl
    back to its last `start` (0.4 s per 119 MB, per such run, per read: agent.trainer_alive). Where the
    folder cannot take it (full, read-only), reads find that pid in the events as before."""
    try:
        rundir.write_trainer(run_dir, {"pid": pid, "host": socket.gethostname(), "t": time.time()})
    except OSError as e:
        if environment_fault(e) is None:
            raise


def _port() -> int:
    job = os.environ.get("SLURM_JOB_ID") or os.environ.get("PBS_JOBID", "").split(".")[0]
    if job.isdigit():
        return 20000 + int(job) % 20000  # every node of the job derives the same port
    return free_port()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
