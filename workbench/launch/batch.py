"""Batch scripts for SLURM and PBS, and what their schedulers say about a job.

Scripts are rendered on the machine that submits (the agent), so paths in them are that
machine's. Directive values were held to scheduler-name patterns by the recipe schema; every
path and command in the script body is shell-quoted.

Every option is a directive in the script (#SBATCH / #PBS), none on sbatch's or qsub's command
line, so `sbatch job.sbatch` / `qsub job.pbs` by hand in the run folder submits the same job again.

A job's environment is one workbench chose: the recipe's non-secret launch.forward_env names that
are set when it is submitted (their values taken from the submitting environment), never a login
shell's whole environment, and never a secret: schedulers keep a job's variables on disk
(slurmctld's state folder; SLURM accounting with AccountingStoreFlags=job_env; a PBS server's job
files) and show them (`sacct --env-vars`, `qstat -f`). The script, a login shell, starts from the
user's login environment on the node; its prelude (modules, conda, venv) builds the rest.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workbench import rundir
from workbench.errors import UserError
from workbench.launch.argv import RUNTIME_VAR, Launch, container_lines, prelude_lines, supervisor_argv
from workbench.recipe import Recipe

SCRIPT = {"slurm": "job.sbatch", "pbs": "job.pbs"}

# Scheduler states, reduced to what a run's status needs.
QUEUED, RUNNING, DONE, GONE, UNKNOWN = "queued", "running", "ended", "gone", "unknown"
SLURM_STATES = {
    "PENDING": QUEUED, "CONFIGURING": RUNNING, "RUNNING": RUNNING, "COMPLETING": RUNNING, "SUSPENDED": RUNNING,
    "REQUEUED": QUEUED, "REQUEUE_HOLD": QUEUED, "REQUEUE_FED": QUEUED, "RESIZING": RUNNING, "STOPPED": RUNNING,
    "SIGNALING": RUNNING, "STAGE_OUT": RUNNING,
}
PBS_STATES = {"Q": QUEUED, "H": QUEUED, "W": QUEUED, "T": QUEUED, "S": RUNNING, "R": RUNNING, "E": RUNNING,
              "B": RUNNING, "X": DONE, "F": DONE, "C": DONE}


@dataclass
class JobState:
    state: str                   # queued | running | ended | gone
    raw: str = ""                # the scheduler's own word (CANCELLED, TIMEOUT, F, ...), or why it is unknown
    exit_code: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "scheduler_state": self.raw, "scheduler_exit": self.exit_code}


def _body(launch: Launch, run_dir: str | list[str], python: str) -> list[str]:
    """Script body: go to the run folder (an array task picks its own), set up the environment,
    hand over to the supervisor."""
    lines = ["set -eo pipefail"]
    if isinstance(run_dir, list):  # a job array: one run folder per task
        lines.append("RUN_DIRS=(" + " ".join(shlex.quote(d) for d in run_dir) + ")")
        lines.append('RUN_DIR="${RUN_DIRS[$SLURM_ARRAY_TASK_ID]}"')
        where = '"$RUN_DIR"'
    else:
        where = shlex.quote(run_dir)
    lines += [f"cd {where}", f"exec >>{rundir.TRAIN_LOG} 2>&1  # the supervisor's and the trainer's output, beside events.jsonl"]
    lines += prelude_lines(launch)
    lines += container_lines(launch)
    argv = supervisor_argv(launch, "RUN_DIR", python, runtime=f"${RUNTIME_VAR}" if launch.container else None)
    sup = shlex.join(argv[:-1]) + " " + where  # the folder last: quoted, or the array's "$RUN_DIR"
    sup = sup.replace(shlex.quote(f"${RUNTIME_VAR}"), f'"${RUNTIME_VAR}"')  # the variable, expanded by the shell
    if launch.nodes > 1:
        lines.append('WORKBENCH_MAIN_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)')
        lines.append("export WORKBENCH_MAIN_ADDR")
        # one supervisor per node; each starts accelerate launch with its $SLURM_NODEID
        cpus = f" --cpus-per-task={launch.cpus}" if launch.cpus else ""  # srun no longer inherits it (22.05+)
        # sbatch's --export (NONE, or a few names) reaches srun as SLURM_EXPORT_ENV: the steps would
        # start without what the prelude set up (PATH, the venv). They take the script's environment.
        lines.append("export SLURM_EXPORT_ENV=ALL")
        return lines + [f"exec srun --nodes={launch.nodes} --ntasks-per-node=1{cpus} --kill-on-bad-exit=1 {sup}"]
    return lines + [f"exec {sup}"]


# A login shell: the job starts from the user's login environment on the node (PATH, the `module`
# function, conda, a container runtime put on PATH by /etc/profile.d), as after `ssh NODE`, whatever the
# scheduler passed. sbatch's --export=NAMES loads it too (SLURM_GET_USER_ENV=1), --export=NONE does
# not (bash's default PATH only); PBS starts jobs as login shells. So every batch job starts alike.
SHEBANG = "#!/bin/bash -l"


def render_slurm(launch: Launch, run_dir: str | list[str], run_id: str, python: str, recipe_name: str = "") -> str:
    array = isinstance(run_dir, list)
    d = [f"--job-name={job_name(launch, 'slurm', recipe_name or run_id)}", f"--output={log_file(launch, 'slurm', array)}",
         f"--export={','.join(forwarded_names(launch)) or 'NONE'}", f"--nodes={launch.nodes}", "--ntasks-per-node=1"]
    if array:
        d.append(f"--array=0-{len(run_dir) - 1}")
    if launch.gpus:
        d.append(f"--gpus-per-node={launch.gpus}")
    for key, opt in (("cpus", "--cpus-per-task"), ("mem", "--mem"), ("time", "--time"), ("partition", "--partition"),
                     ("account", "--account"), ("qos", "--qos")):
        if getattr(launch, key):
            d.append(f"{opt}={getattr(launch, key)}")
    head = [SHEBANG, f"# workbench run {run_id}: submitted with `{shlex.join(submit_argv('slurm'))}` "
                             "in this folder (again by hand: the same job)"]
    return "\n".join(head + [f"#SBATCH {x}" for x in d] + _body(launch, run_dir, python)) + "\n"


def pbs_directives(launch: Launch, run_id: str, recipe_name: str = "") -> list[str]:
    """#PBS options, the source project's: -N name, -P project, -q queue, -l select=...:ngpus=N, -l walltime=..., -j oe.

    In the script only, never on qsub's command line, so `qsub job.pbs` by hand submits the same
    job. They also suit Torque-style qsub wrappers over SLURM, which hand the script to sbatch:
    sbatch reads #PBS lines itself and refuses an option it lacks (-P: so it is written only when
    launch.project is set). select and walltime on two -l lines: sbatch misreads
    `select=1,walltime=..` (`"1,walltime=00" is not a valid node count`); PBS adds -l lines up.
    """
    select = f"select={launch.nodes}"
    if launch.cpus:
        select += f":ncpus={launch.cpus}"
    if launch.gpus:
        select += f":ngpus={launch.gpus}"
    if launch.mem:
        mem = launch.mem.lower()
        select += f":mem={mem if mem.endswith('b') else mem + ('b' if mem[-1].isalpha() else 'mb')}"
    opts = [f"-N {job_name(launch, 'pbs', recipe_name or run_id)}", "-j oe", f"-o {log_file(launch, 'pbs')}",
            f"-l {select}"]
    if launch.walltime:
        opts.append(f"-l walltime={launch.walltime}")
    # Not -V: a PBS server keeps a job's variables and `qstat -f` shows them, to other users too.
    # Names only: qsub takes each value from its own environment (PBS Pro, Torque, sbatch alike).
    passed = forwarded_names(launch)
    if passed:
        opts.append(f"-v {','.join(passed)}")
    if launch.project:
        opts.append(f"-P {launch.project}")
    if launch.queue:
        opts.append(f"-q {launch.queue}")
    return opts


SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")


def is_secret(name: str) -> bool:
    return any(w in name.upper() for w in SECRET_WORDS)


def check_forward_env(recipe: Recipe) -> None:
    """A recipe that lists a secret in launch.forward_env for a SLURM / PBS target is refused: sbatch
    and qsub never carry secrets (a scheduler keeps a job's variables on disk and shows them). The
    default list's secrets, not asked for by name, are left out of batch jobs without a word."""
    scheduler = recipe.launch.target.scheduler
    if not scheduler or "launch.forward_env" not in recipe.explicit:
        return
    secrets = [n for n in recipe.launch.forward_env if is_secret(n)]
    if secrets:
        them = "them" if len(secrets) > 1 else "it"
        raise UserError(f"launch.forward_env lists {', '.join(secrets)}: {scheduler} jobs never get secrets (the "
                        f"scheduler keeps a job's variables on disk); remove {them}. A job that needs a hub token "
                        "reads HF_HOME's token file (~/.cache/huggingface/token) on the cluster's shared home: write "
                        "it with `hf auth login` there", path=recipe.path, line=recipe.line_of("launch.forward_env"))


# Where things are, as the submitting machine's shell says (a login node shares its file systems
# with the nodes): the hub cache the preflight checked the model in, workbench's cache, the MLflow
# store. Taken from the submitting environment whether or not forward_env lists them: without them
# a job started from --export=NONE looks in ~/.cache and logs to runs/mlflow.db. For slurm:HOST and
# pbs:HOST the submitting environment is the login node's own (the agent's login shell).
LOCATIONS = ("HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "WORKBENCH_CACHE",
             "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")


def forwarded_names(launch: Launch, environ: Mapping[str, str] | None = None) -> list[str]:
    """The names a batch job gets (values from the submitting environment): the non-secret
    launch.forward_env names set there, and the LOCATIONS set there."""
    from workbench.tracking.mlflow_sink import public_uri

    env = os.environ if environ is None else environ
    names = [n for n in launch.forward_env if not is_secret(n) and n in env]
    # (a URI with user:password@ in it is a secret too: left where it is)
    return names + [n for n in LOCATIONS if n in env and n not in names and public_uri(env[n]) == env[n]]


def submission_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment sbatch / qsub run in: this one without secrets. SLURM_* variables reach the
    job whatever --export says, and a qsub wrapper over sbatch keeps sbatch's export-everything
    default when the script names no variable: a secret that is not there cannot travel. Without
    SBATCH_EXPORT too, which would override the script's --export."""
    env = os.environ if environ is None else environ
    return {k: v for k, v in env.items() if not is_secret(k) and k != "SBATCH_EXPORT"}


def job_name(launch: Launch, scheduler: str, recipe_name: str) -> str:
    """launch.job_name (held to a safe pattern by the schema), else the recipe's name made safe:
    letters, digits, _ . - only, starting with a letter; for PBS at most 15 characters (the
    limit of older PBS and Torque servers)."""
    if launch.job_name:
        return launch.job_name
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", recipe_name).strip("_.-") or "workbench"
    if not name[0].isalpha():
        name = "wb-" + name
    return name[:15] if scheduler == "pbs" else name[:100]


def log_file(launch: Launch, scheduler: str, array: bool = False) -> str:
    """The scheduler's own output file (the run's output goes to train.log): launch.log_file or the default."""
    if launch.log_file:
        return launch.log_file
    if scheduler == "pbs":
        return "pbs.out"
    return "slurm-%A_%a.out" if array else "slurm-%j.out"


def render_pbs(launch: Launch, run_dir: str, run_id: str, python: str, recipe_name: str = "") -> str:
    head = [SHEBANG, f"# workbench run {run_id}: submitted with `{shlex.join(submit_argv('pbs'))}` "
                             "in this folder (again by hand: the same job)"]
    directives = [f"#PBS {x}" for x in pbs_directives(launch, run_id, recipe_name)]
    return "\n".join(head + directives + _body(launch, run_dir, python)) + "\n"


def render(scheduler: str, launch: Launch, run_dir: str, run_id: str, python: str, recipe_name: str = "") -> str:
    return (render_slurm if scheduler == "slurm" else render_pbs)(launch, run_dir, run_id, python, recipe_name)


def submit_argv(scheduler: str) -> list[str]:
    """The submission, in the run folder: every option is in the script."""
    return ["sbatch", "--parsable", SCRIPT["slurm"]] if scheduler == "slurm" else ["qsub", SCRIPT["pbs"]]


def parse_job_id(scheduler: str, out: str) -> str:
    text = out.strip().splitlines()[-1].strip() if out.strip() else ""
    if scheduler == "slurm":
        text = text.split(";")[0]  # "<id>;<cluster>" on federated clusters
    if not re.fullmatch(r"[0-9]+(\[\])?(\.[A-Za-z0-9_.-]+)?", text):
        raise ValueError(f"unexpected {'sbatch' if scheduler == 'slurm' else 'qsub'} output: {out.strip()[:200]!r}")
    return text


def cancel_argv(scheduler: str, job_id: str) -> list[str]:
    return ["scancel", job_id] if scheduler == "slurm" else ["qdel", job_id]


def _run(argv: list[str], env=None, timeout: float = 60) -> subprocess.CompletedProcess | None:
    """A scheduler query; None when the command is missing or hangs (the state is then unknown)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _says_unknown_job(p: subprocess.CompletedProcess | None) -> bool:
    return p is not None and re.search(r"invalid job id|unknown job id", p.stdout + p.stderr, re.I) is not None


def slurm_state(job_id: str, env=None) -> JobState:
    """scontrol while slurmctld remembers the job (cheap, always there); then sacct (accounting
    on, job aged out); then squeue. GONE only when each says the job id is unknown: a slurmctld
    that times out is UNKNOWN, and the follower asks again later."""
    p = _run(["scontrol", "show", "job", "-o", job_id], env)
    found = re.search(r"\bJobState=(\S+)", p.stdout) if p is not None and p.returncode == 0 else None
    if p is not None and found is not None:
        exit_code = re.search(r"\bExitCode=(\S+)", p.stdout)
        return _slurm(found.group(1), exit_code.group(1) if exit_code else "")
    if not _says_unknown_job(p):
        return JobState(UNKNOWN, detail(p))
    a = _run(["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "State,ExitCode"], env)
    line = a.stdout.strip().splitlines()[0] if a is not None and a.returncode == 0 and a.stdout.strip() else ""
    if line:
        raw, _, code = line.partition("|")
        return _slurm(raw.split()[0], code)
    q = _run(["squeue", "-h", "-j", job_id, "-t", "all", "-o", "%T"], env)
    if q is not None and q.returncode == 0 and q.stdout.strip():
        return _slurm(q.stdout.split()[0], "")
    return JobState(GONE)  # finished longer ago than MinJobAge, with no accounting: only exit.json can tell


def detail(p: subprocess.CompletedProcess | None) -> str:
    if p is None:
        return "scheduler command missing or not answering"
    return (p.stderr.strip() or p.stdout.strip() or f"exit status {p.returncode}").splitlines()[-1]


def _slurm(raw: str, code: str) -> JobState:
    raw = raw.rstrip("+")  # "CANCELLED+" in sacct
    exit_code = int(code.split(":")[0]) if code.split(":")[0].isdigit() else None
    return JobState(SLURM_STATES.get(raw, DONE), raw, exit_code)


def pbs_state(job_id: str, env=None) -> JobState:
    """`qstat -x -f` (PBS Pro keeps finished jobs), else `qstat -f`. GONE only for an unknown id
    (PBS: "Unknown Job Id"; Torque-style wrappers: exit status 153 and no output)."""
    unknown = True
    for argv in (["qstat", "-x", "-f", job_id], ["qstat", "-f", job_id]):
        p = _run(argv, env)
        m = re.search(r"job_state\s*=\s*(\S+)", p.stdout) if p is not None else None
        if p is not None and p.returncode == 0 and m:
            code = re.search(r"Exit_status\s*=\s*(-?\d+)", p.stdout)
            raw = m.group(1)
            exit_code = int(code.group(1)) if code else None
            if exit_code == -29:  # PBS Pro: JOB_EXEC_KILL_WALLTIME
                raw = "TIMEOUT"
            return JobState(PBS_STATES.get(m.group(1), RUNNING), raw, exit_code)
        unknown = unknown and p is not None and (_says_unknown_job(p) or (p.returncode == 153 and not p.stdout.strip())
                                                 or "-x" in argv)
    return JobState(GONE) if unknown else JobState(UNKNOWN, "qstat is not answering")


def job_state(scheduler: str, job_id: str, env=None) -> JobState:
    return (slurm_state if scheduler == "slurm" else pbs_state)(job_id, env)


def job_states(scheduler: str, job_ids: list[str], env=None, timeout: float = 60) -> dict[str, JobState]:
    """The state of many jobs in one query (two at most), for status reads of many runs: never one
    call per job. Every id asked for gets a state: GONE for one the scheduler no longer knows,
    UNKNOWN (with the reason) when the scheduler does not answer."""
    ids = list(dict.fromkeys(job_ids))
    if not ids:
        return {}
    return (_slurm_states if scheduler == "slurm" else _pbs_states)(ids, env, timeout)


def _slurm_states(ids: list[str], env, timeout: float) -> dict[str, JobState]:
    # squeue knows every job slurmctld still holds (ended ones for MinJobAge); -r lists an array's
    # tasks one per line as <id>_<index>. A single unknown id fails the whole call ("Invalid job id
    # specified"), a list of several never does: a lone id is asked twice.
    asked = ids if len(ids) > 1 else ids * 2
    q = _run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(asked), "-o", "%i|%T"], env, timeout)
    if q is None or (q.returncode != 0 and not _says_unknown_job(q)):
        return {i: JobState(UNKNOWN, detail(q)) for i in ids}
    out: dict[str, JobState] = {}
    for line in q.stdout.splitlines():
        job_id, _, raw = line.strip().partition("|")
        if job_id in ids and raw:
            out[job_id] = _slurm(raw, "")
    missing = [i for i in ids if i not in out]
    if missing:  # ended before MinJobAge: accounting may remember them (an error when it is off)
        a = _run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,ExitCode", "-j", ",".join(missing)], env, timeout)
        for line in a.stdout.splitlines() if a is not None and a.returncode == 0 else []:
            job_id, _, rest = line.strip().partition("|")
            raw, _, code = rest.partition("|")
            if job_id in missing and raw:
                out[job_id] = _slurm(raw.split()[0], code)
    return {i: out.get(i, JobState(GONE)) for i in ids}


def _pbs_states(ids: list[str], env, timeout: float) -> dict[str, JobState]:
    # As pbs_state, for many ids at once: `qstat -x -f` (PBS Pro keeps ended jobs), then `qstat -f`
    # for those it did not show; each prints one "Job Id:" block per job it knows.
    out: dict[str, JobState] = {}
    answered = False
    for flags in (["-x", "-f"], ["-f"]):
        missing = [i for i in ids if i not in out]
        if not missing:
            break
        p = _run(["qstat", *flags, *missing], env, timeout)
        if p is None:
            continue
        short = {i.split(".")[0]: i for i in missing}
        for block in re.split(r"^Job Id:\s*", p.stdout, flags=re.M)[1:]:
            job_id = short.get(block.split(None, 1)[0].split(".")[0]) if block.strip() else None
            m = re.search(r"job_state\s*=\s*(\S+)", block)
            if job_id is None or m is None:
                continue
            code = re.search(r"Exit_status\s*=\s*(-?\d+)", block)
            exit_code = int(code.group(1)) if code else None
            raw = "TIMEOUT" if exit_code == -29 else m.group(1)  # PBS Pro: JOB_EXEC_KILL_WALLTIME
            out[job_id] = JobState(PBS_STATES.get(m.group(1), RUNNING), raw, exit_code)
        if "-x" not in flags:
            answered = p.returncode == 0 or _says_unknown_job(p) or (p.returncode == 153 and not p.stdout.strip())
    if all(i in out for i in ids):
        return out
    return {i: out.get(i, JobState(GONE) if answered else JobState(UNKNOWN, "qstat is not answering")) for i in ids}
