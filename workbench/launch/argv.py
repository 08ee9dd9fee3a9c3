"""The command lines a launch runs, built from the recipe's [launch] values.

Everything here returns argv lists; where a shell must see them (ssh, batch scripts) they
are joined with shlex.join / shlex.quote, never formatted in by hand.
"""

from __future__ import annotations

import shlex
import socket
from typing import Any

Launch = dict[str, Any]  # recipe.section("launch")


def world_per_node(launch: Launch) -> int:
    """Training processes per node: one per GPU when several GPUs are asked for, else CPU ranks."""
    return launch["gpus"] if launch["gpus"] > 1 else launch["processes"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_argv(launch: Launch, run_dir: str, python: str, *, port: int | None = None,
               node_rank: str | None = None, main_addr: str | None = None) -> list[str]:
    """`python -m workbench.train RUN_DIR`, or its `accelerate launch` form for several processes.

    node_rank / main_addr are given for multi-node jobs (they may be shell expressions such as
    "$SLURM_NODEID", which the caller leaves unquoted on purpose).
    """
    per_node, nodes = world_per_node(launch), launch["nodes"]
    if per_node == 1 and nodes == 1:
        return [python, "-m", "workbench.train", run_dir]
    argv = [python, "-m", "accelerate.commands.launch",
            # --multi_gpu is what starts N processes; with no GPU they are gloo CPU ranks
            # (`--cpu` would silently start one process).
            "--multi_gpu", "--num_processes", str(per_node * nodes), "--num_machines", str(nodes),
            "--mixed_precision", "no",  # the trainer sets bf16 / fp16 itself from model.precision
            "--dynamo_backend", "no", "--main_process_port", str(port or 29500)]
    if nodes > 1:
        argv += ["--machine_rank", node_rank or "0", "--main_process_ip", main_addr or "127.0.0.1"]
    return argv + ["-m", "workbench.train", run_dir]


def job_python(launch: Launch, own: str) -> str:
    """The interpreter the job runs: the one the recipe names once modules / venv / conda / a
    container set up the environment; else `own`, the interpreter that has workbench here."""
    if launch["container"] or launch["venv"] or launch["conda_env"] or launch["modules"]:
        return launch["python"]
    return own


def supervisor_argv(launch: Launch, run_dir: str, python: str) -> list[str]:
    """The process a launcher starts: the supervisor, inside the container when there is one."""
    argv = [python, "-m", "workbench.launch.supervisor", run_dir]
    if launch["container"]:
        argv = ["apptainer", "exec", "--nv", launch["container"], *argv]
    return argv


def prelude_lines(launch: Launch) -> list[str]:
    """Shell lines that prepare the environment on the machine that trains: modules, venv, conda."""
    lines = [f"module load {shlex.quote(m)}" for m in launch["modules"]]
    if launch["conda_env"]:
        lines.append('eval "$(conda shell.bash hook)"')
        lines.append(f"conda activate {shlex.quote(launch['conda_env'])}")
    if launch["venv"]:
        lines.append(f". {home_path(launch['venv'].rstrip('/') + '/bin/activate')}")
    return lines


def home_path(path: str) -> str:
    """A quoted path for a shell, keeping a leading ~/ meaning the home folder."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)
