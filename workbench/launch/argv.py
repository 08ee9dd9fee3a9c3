"""The command lines a launch runs, built from the recipe's [launch] values.

Everything here returns argv lists; where a shell must see them (ssh, batch scripts) they
are joined with shlex.join / shlex.quote, never formatted in by hand.
"""

from __future__ import annotations

import shlex
import socket

from workbench.recipe.sections import Launch  # a recipe's [launch] section: recipe.launch


def world_per_node(launch: Launch) -> int:
    """Training processes per node: one per GPU when several GPUs are asked for, else CPU ranks."""
    return launch.gpus if launch.gpus > 1 else launch.processes


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
    per_node, nodes = world_per_node(launch), launch.nodes
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
    if launch.container or launch.venv or launch.conda_env or launch.modules:
        return launch.python
    return own


# In a batch script the node decides between apptainer and singularity (launch.container_runtime =
# "auto"): the script's prelude sets this variable (container_lines), the command line reads it.
RUNTIME_VAR = "WORKBENCH_CONTAINER_RUNTIME"


def supervisor_argv(launch: Launch, run_dir: str, python: str, runtime: str | None = None) -> list[str]:
    """The process a launcher starts: the supervisor, inside the container when there is one.
    `runtime`: the program that runs the container (default: launch.container_runtime, where it is
    not "auto"; batch scripts pass "$WORKBENCH_CONTAINER_RUNTIME")."""
    argv = [python, "-m", "workbench.launch.supervisor", run_dir]
    if launch.container:
        program = runtime or (launch.container_runtime if launch.container_runtime != "auto" else "apptainer")
        binds = [a for b in launch.container_binds or [] for a in ("--bind", b)]
        argv = [program, "exec", "--nv", *binds, launch.container, *argv]
    return argv


def container_lines(launch: Launch) -> list[str]:
    """Shell lines that pick the container runtime on the node (or check the one asked for)."""
    if not launch.container:
        return []
    wanted = launch.container_runtime
    choices = ("apptainer", "singularity") if wanted == "auto" else (wanted,)
    tests = "; el".join(f"if command -v {c} >/dev/null 2>&1; then {RUNTIME_VAR}={c}" for c in choices)
    need = " or ".join(choices)
    return [f'{tests}; else echo "workbench: launch.container needs {need} on this node; it has none on PATH" >&2; '
            "exit 127; fi"]


def pick_runtime(launch: Launch) -> str:
    """The container runtime on this machine (for a process started without a shell): the one asked
    for, or with "auto" apptainer, else singularity; raises LookupError naming what is missing."""
    import shutil

    wanted = launch.container_runtime
    choices = ("apptainer", "singularity") if wanted == "auto" else (wanted,)
    for c in choices:
        if shutil.which(c):
            return c
    raise LookupError(f"launch.container needs {' or '.join(choices)} on this machine; it has none on PATH")


def prelude_lines(launch: Launch) -> list[str]:
    """Shell lines that prepare the environment on the machine that trains: modules, venv, conda."""
    lines = [f"module load {shlex.quote(m)}" for m in launch.modules]
    if launch.conda_env:
        lines.append('eval "$(conda shell.bash hook)"')
        lines.append(f"conda activate {shlex.quote(launch.conda_env)}")
    if launch.venv:
        lines.append(f". {home_path(launch.venv.rstrip('/') + '/bin/activate')}")
    return lines


def home_path(path: str) -> str:
    """A quoted path for a shell, keeping a leading ~/ meaning the home folder."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)
