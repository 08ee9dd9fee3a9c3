"""The job side of a launch: start, submit, state, tail and cancel one run folder.

The CLI calls these functions directly for runs on this machine; for ssh:HOST and
slurm:HOST / pbs:HOST it runs `python -m workbench.launch.agent COMMAND RUN_DIR` on that
host over ssh, with a JSON request on stdin (forwarded environment variables travel there:
never on a command line, never in a file) and a JSON reply line on stdout (`tail` appends
the requested file bytes after it).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from workbench import rundir
from workbench.errors import UserError
from workbench.events import FileMark, changed, last_event
from workbench.launch import batch
from workbench.launch.argv import Launch, job_python, pick_runtime, supervisor_argv

REPLY_MARKER = b"\x1eworkbench-agent\n"  # precedes the reply line: login profiles may print before it
TAIL_LIMIT = 4 << 20  # bytes per tail reply; the follower asks again at once when there is more


def _frozen(run_dir: Path) -> tuple[Launch, str]:
    """The frozen recipe's [launch] values, with paths of this machine, and the recipe's name."""
    from workbench.recipe import load_recipe

    recipe = load_recipe(run_dir / rundir.RECIPE)
    launch = recipe.launch
    # paths of this machine: ~ is its home (a shell would expand it; Popen and quoting do not)
    return replace(launch, python=os.path.expanduser(launch.python),
                   container=os.path.expanduser(launch.container)), recipe.name


def _python(launch) -> str:
    """For batch jobs: the recipe's python once modules / venv / conda / a container set up the
    node; else this interpreter, which has workbench (it is running this code)."""
    return job_python(launch, sys.executable)


def probe(run_dir: Path, model_source: str = "", container: str = "", workdir: str = "~") -> dict[str, Any]:
    """What the machine has; also checks the model source there (a path or cached hub id on that
    machine) and the container image (relative to launch.workdir there), and creates the run
    folder the upload goes to."""
    import shutil
    from importlib.metadata import version

    if model_source:
        from workbench.models.source import check_source

        check_source(model_source)
    image = container_image(container, workdir) if container else ""

    (run_dir / rundir.DATA_DIR).mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"host": socket.gethostname(), "python": sys.version.split()[0],
                            "executable": sys.executable, "workbench": version("workbench"),
                            "run_dir": str(run_dir.resolve()),
                            "tools": {t: bool(shutil.which(t)) for t in ("rsync", "sbatch", "qsub", "apptainer",
                                                                           "singularity")}}
    if image:
        info["container"] = image
    from workbench.telemetry.gpus import memory_totals, open_gpus

    gpus, note = open_gpus(0, 1)
    info["gpus"] = [g.name for g in gpus]
    info["gpu_note"] = note
    info["gpu_memory"] = memory_totals(gpus)  # the GPUs just opened: NVML is asked once
    return info


def container_image(image: str, workdir: str) -> str:
    """launch.container on this machine, as an absolute path that exists: ~ is this machine's home,
    a relative path is relative to launch.workdir (itself relative to the home, as ssh starts there)."""
    path = Path(image).expanduser()
    if not path.is_absolute():
        path = Path(workdir).expanduser() / path
    path = path.absolute()
    if not path.is_file():
        raise UserError(f"launch.container: no such image {path} on {socket.gethostname()}")
    return str(path)


def start(run_dir: Path) -> dict[str, Any]:
    """Start the supervisor detached (own session: closing the terminal or ssh does not stop it).

    The environment is this process's own: over ssh the agent was started after the recipe's
    modules / venv / conda prelude, so this interpreter is the environment's."""
    run_dir = run_dir.resolve()  # the supervisor's command line names it so (pid_alive looks for it)
    launch, _ = _frozen(run_dir)
    python = launch.python if launch.container else sys.executable
    runtime = None
    if launch.container:
        try:
            runtime = pick_runtime(launch)
        except LookupError as e:
            raise UserError(str(e)) from None
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(run_dir / rundir.TRAIN_LOG, "ab") as log:
        proc = subprocess.Popen(supervisor_argv(launch, str(run_dir), python, runtime=runtime), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=run_dir, env=full_env,
                                start_new_session=True)
    job = {"kind": "local", "pid": proc.pid, "host": socket.gethostname(), "submitted_at": time.time()}
    try:
        rundir.write_job(run_dir, job)
    except OSError as e:
        # Untracked, `workbench stop` could never reach it: stop it now, and say why.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise UserError(f"cannot record the started job ({e.strerror}); it was stopped", path=run_dir / rundir.JOB) from None
    return job


def submit(run_dir: Path, scheduler: str) -> dict[str, Any]:
    """Write the batch script into the run folder and submit it from there."""
    launch, name = _frozen(run_dir)
    script = batch.render(scheduler, launch, str(run_dir.resolve()), run_dir.name, _python(launch), name)
    (run_dir / batch.SCRIPT[scheduler]).write_text(script, encoding="utf-8")
    job_id = _sbatch(run_dir, batch.submit_argv(scheduler), scheduler)
    job = {"kind": scheduler, "job_id": job_id, "host": socket.gethostname(), "submitted_at": time.time()}
    rundir.write_job(run_dir, job)
    return job


def _sbatch(run_dir: Path, argv: list[str], scheduler: str) -> str:
    """Run sbatch / qsub in the run folder; the job id, or the scheduler's complaint as a UserError.
    Their environment has no secrets (batch.submission_env): what the job gets is the script's choice."""
    try:
        p = subprocess.run(argv, cwd=run_dir, capture_output=True, text=True, env=batch.submission_env(),
                           timeout=120)
    except FileNotFoundError:
        raise UserError(f"{argv[0]} not found on {socket.gethostname()}: is this a {scheduler.upper()} login node?") from None
    if p.returncode != 0:
        # (Torque-style qsub wrappers print sbatch's complaint on stdout)
        lines = [x.strip(" '") for x in (p.stderr + "\n" + p.stdout).splitlines() if "error" in x.lower()]
        msg = lines[-1] if lines else (p.stderr.strip() or p.stdout.strip() or f"exit status {p.returncode}").splitlines()[-1]
        raise UserError(f"{argv[0]} refused the job: {msg}")
    try:
        return batch.parse_job_id(scheduler, p.stdout)
    except ValueError as e:
        raise UserError(str(e)) from None


def submit_array(run_dirs: list[Path]) -> list[dict[str, Any]]:
    """Several run folders (a seed sweep) as one SLURM job array; the script lives in the first."""
    run_dirs = [d.resolve() for d in run_dirs]
    head = run_dirs[0]
    launch, name = _frozen(head)
    script = batch.render_slurm(launch, [str(d) for d in run_dirs], head.name, _python(launch), name)
    (head / batch.SCRIPT["slurm"]).write_text(script, encoding="utf-8")
    job_id = _sbatch(head, batch.submit_argv("slurm"), "slurm")
    jobs = []
    for i, d in enumerate(run_dirs):  # each task is addressed as <id>_<index> by scontrol / scancel
        job = {"kind": "slurm", "job_id": f"{job_id}_{i}", "host": socket.gethostname(), "submitted_at": time.time()}
        rundir.write_job(d, job)
        jobs.append(job)
    return jobs


def resume(run_dir: Path, scheduler: str = "") -> dict[str, Any]:
    """Start an ended run's folder again (`workbench resume`): the same supervisor, or a new batch
    job. The trainer sees the earlier attempt's events and checkpoints and continues from them."""
    run_dir = run_dir.resolve()
    current = state(run_dir)
    if current.get("note"):
        raise UserError(f"cannot tell whether the run's job is over: {current['note']}")
    if current["state"] not in (batch.DONE, batch.GONE):
        raise UserError(f"the run's job is still {current['state']} on {socket.gethostname()}: stop it first")
    exit_file = run_dir / rundir.EXIT
    if exit_file.exists():
        exit_file.replace(run_dir / rundir.EXIT_PREVIOUS)  # the new attempt writes its own
    (run_dir / rundir.TRAINER).unlink(missing_ok=True)  # and its supervisor its trainer's pid
    return submit(run_dir, scheduler) if scheduler else start(run_dir)


def pid_alive(pid: int | None, run_dir: Path, program: bytes = b"workbench.launch.supervisor") -> bool:
    """Is `pid` still the supervisor (or `program`) of `run_dir`? (pids are reused: check its command line)."""
    if not pid:
        return False
    if not Path("/proc/self").exists():  # no /proc (macOS): signal 0 says whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()  # empty for a zombie: it has ended
    except OSError:
        return False
    return str(run_dir.resolve()).encode() in cmdline and program in cmdline


def trainer_alive(run_dir: Path) -> bool:
    """Is the trainer of the run's latest attempt still running? Its supervisor may be gone (killed by
    hand) while it trains on and writes events. Its pid is in trainer.json, which the supervisor writes
    when it starts it; for a run without one (started by an older workbench, or in a folder that could
    not take it), in its last `start` event, found by reading events.jsonl backwards (the whole file of
    a long run: 0.4 s per 119 MB)."""
    pid = (rundir.read_trainer(run_dir) or {}).get("pid")
    if pid is None:
        start = last_event(rundir.events_file(run_dir), ("start",))
        pid = start.get("pid") if start is not None else None
    return isinstance(pid, int) and pid_alive(pid, run_dir, b"workbench.train")


def state(run_dir: Path, scheduler: Mapping[str, batch.JobState] | None = None) -> dict[str, Any]:
    """queued | running | ended | gone, with the exit record and the scheduler's word when there is one.
    `scheduler`: the states of batch jobs already asked for (`states`), by job id. Unknown, with a `note`
    naming the file, when a file it stands on cannot be read (`unreadable`)."""
    try:
        return _state(run_dir, scheduler)
    except OSError as e:
        return unreadable(run_dir, e)


def unreadable(run_dir: Path, e: OSError) -> dict[str, Any]:
    """The state of a run whose folder cannot be read (a folder or a link loop where a file should be, a
    permission taken away): unknown, so nothing settles it, with a note naming the file and why."""
    return {"state": batch.UNKNOWN, "exit": None, "job": {}, "end": None,
            "note": f"{e.filename or run_dir}: cannot be read ({e.strerror or e})"}


def _state(run_dir: Path, scheduler: Mapping[str, batch.JobState] | None) -> dict[str, Any]:
    job = rundir.read_job(run_dir) or {}
    exit_rec = rundir.read_exit(run_dir)
    out: dict[str, Any] = {"state": batch.GONE, "exit": exit_rec, "job": job}
    kind = job.get("kind")
    if kind in ("slurm", "pbs"):
        known = scheduler.get(job["job_id"]) if scheduler is not None else None
        js = known if known is not None else batch.job_state(kind, job["job_id"])
        out.update(js.as_dict())
        # Ended only once the scheduler says so: its final word (CANCELLED, TIMEOUT) may come
        # after the supervisor has already written exit.json. A job it no longer knows is over.
        if js.state == batch.GONE and exit_rec is not None:
            out["state"] = batch.DONE
    elif kind == "local":
        # The supervisor, or without its exit record the trainer it started (a supervisor killed
        # on its own leaves the trainer training).
        alive = pid_alive(job.get("pid"), run_dir) or (exit_rec is None and trainer_alive(run_dir))
        out["state"] = batch.RUNNING if alive else (batch.DONE if exit_rec is not None else batch.GONE)
    elif exit_rec is not None:
        out["state"] = batch.DONE
    elif time.time() - ((rundir.read_json(run_dir / rundir.RUN_META) or {}).get("created_at") or 0) < 600:
        out["state"] = batch.UNKNOWN  # being submitted right now (no job.json yet)
    return out


def states(run_dirs: list[Path], timeout: float = 60) -> list[dict[str, Any]]:
    """`state` of many run folders, each with `end`: the run's last event when it is an `end` not
    necessarily ingested anywhere yet ({status, error, t}), else None. Each scheduler is asked once
    for all of its jobs (batch.job_states), within `timeout` seconds."""
    jobs: dict[str, list[str]] = {}
    for d in run_dirs:
        job = rundir.read_job(d) or {}
        if job.get("kind") in ("slurm", "pbs") and job.get("job_id"):
            jobs.setdefault(job["kind"], []).append(job["job_id"])
    known: dict[str, batch.JobState] = {}
    for kind, ids in jobs.items():
        known.update(batch.job_states(kind, ids, timeout=timeout))
    out = []
    for d in run_dirs:
        try:  # per run: one folder that cannot be read leaves the others' states to tell
            end = last_event(rundir.events_file(d))
        except OSError as e:
            out.append(unreadable(d, e))
            continue
        out.append({**state(d, known), "end": {"status": end.get("status"), "error": end.get("error"), "t": end.t}
                    if end is not None and end.type == "end" else None})
    return out


def tail(run_dir: Path, offsets: dict[str, int], limit: int = TAIL_LIMIT,
         marks: Mapping[str, Mapping[str, str | None]] | None = None) -> tuple[dict[str, Any], bytes]:
    """State first, then the bytes of each event file / log from the given offsets.

    The order matters: a job seen ended before its files are read has nothing left to write,
    so a reply with state 'ended' and no file cut short is the complete record.

    `marks`: per file, the fingerprints of the follower's copy ({"head", "tail"}: `events.file_mark`
    at its offset). A file whose bytes there are not those (truncated and written past the copy's
    end, replaced) is sent from 0, which starts the copy over (`follow.mirror`); a file shorter than
    the offset too. A follower that sends no marks (an older workbench) gets the size check alone.
    """
    files: list[dict[str, Any]] = []
    head: dict[str, Any] = {"state": state(run_dir), "files": files, "complete": True}
    names = rundir.followed_names(run_dir)
    chunks: list[bytes] = []
    budget = limit
    for name in names:
        try:
            f = open(run_dir / name, "rb")
        except FileNotFoundError:
            continue
        with f:
            # fstat of an open file: on NFS, open() revalidates what a bare stat() may serve stale
            size = os.fstat(f.fileno()).st_size
            start_at = int(offsets.get(name, 0))
            mark = (marks or {}).get(name) or {}
            # two reads of 256 bytes: the copy's fingerprints against this file's bytes at the same places
            restarted = changed(f.fileno(), size, FileMark(start_at, 0, mark.get("head"), mark.get("tail")))
            if restarted is not None:
                start_at = 0  # not the file the copy was made of: mirror it again from the start
            want = min(size - start_at, budget)
            if want < size - start_at:
                head["complete"] = False
            f.seek(start_at)
            data = f.read(want) if want > 0 else b""
        budget -= len(data)
        head["files"].append({"name": name, "offset": start_at, "length": len(data), "size": size,
                              **({"restarted": restarted} if restarted is not None else {})})
        chunks.append(data)
    return head, b"".join(chunks)


def cancel(run_dir: Path, sig: str = "SIGTERM") -> dict[str, Any]:
    """Stop the run: `sig` to a local job's process group, scancel / qdel for batch jobs (SIGKILL: forced)."""
    job = rundir.read_job(run_dir) or {}
    kind = job.get("kind")
    force = sig == "SIGKILL"
    if kind == "local":
        if not pid_alive(job.get("pid"), run_dir):
            return {"signalled": False, "detail": "the process had already ended"}
        # The supervisor leads its own session: its group holds the trainer and every rank.
        try:
            os.killpg(job["pid"], signal.Signals[sig])
        except ProcessLookupError:
            return {"signalled": False, "detail": "the process had already ended"}
        return {"signalled": True, "detail": f"{sig} to process group {job['pid']} on {job.get('host')}"}
    if kind in ("slurm", "pbs"):
        argv = batch.cancel_argv(kind, job["job_id"])
        if force and kind == "slurm":
            argv = ["scancel", "--signal=KILL", "--full", job["job_id"]]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            msg = (p.stderr.strip() or p.stdout.strip()).splitlines()[-1:] or [f"exit status {p.returncode}"]
            return {"signalled": False, "detail": f"{argv[0]}: {msg[0]}"}
        return {"signalled": True, "detail": shlex.join(argv)}
    return {"signalled": False, "detail": "the run was never started (no job.json)"}


def stop_within(run_dir: Path, grace_s: float, *, forced: Callable[[], bool] = lambda: False,
                poll_s: float = 0.2) -> bool:
    """Stop a local run with a bound: SIGTERM to its process group, wait up to `grace_s` for it to end (less
    once `forced()` says so: a second Ctrl-C), then SIGKILL to the group. True when it had to be killed."""
    cancel(run_dir, "SIGTERM")
    deadline = time.monotonic() + grace_s
    while state(run_dir)["state"] == batch.RUNNING:
        if forced() or time.monotonic() >= deadline:
            cancel(run_dir, "SIGKILL")
            return True
        time.sleep(poll_s)
    return False


def main(argv: list[str]) -> int:
    """Remote entry point. Replies with one JSON line; errors as {"error": ...} and exit status 2."""
    out = sys.stdout.buffer
    try:
        if len(argv) < 2:
            raise UserError("usage: python -m workbench.launch.agent "
                            "probe|start|submit|resume|state|states|tail|cancel RUN_DIR [ARG]")
        command, run_dir = argv[0], Path(argv[1]).expanduser()
        raw = sys.stdin.read() if not sys.stdin.isatty() else ""
        request = json.loads(raw) if raw.strip() else {}
        # Forwarded variables (secrets included) live only in this process's environment and
        # its children's: the trainer, scontrol; sbatch / qsub get them without the secrets, and
        # the job only the names its script lists (batch.forwarded_names).
        os.environ.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
        if command == "probe":
            reply, data = probe(run_dir, str(request.get("model_source") or ""), str(request.get("container") or ""),
                                str(request.get("workdir") or "~")), b""
        elif command == "start":
            reply, data = start(run_dir.resolve()), b""
        elif command == "submit":
            reply, data = submit(run_dir.resolve(), argv[2]), b""
        elif command == "submit_array":
            reply, data = {"jobs": submit_array([Path(d).expanduser() for d in request["run_dirs"]])}, b""
        elif command == "resume":
            reply, data = resume(run_dir, argv[2] if len(argv) > 2 else ""), b""
        elif command == "state":
            reply, data = state(run_dir.resolve()), b""
        elif command == "states":
            dirs = [Path(d).expanduser().resolve() for d in request.get("run_dirs") or []]
            reply, data = {"states": states(dirs, float(request.get("timeout") or 60))}, b""
        elif command == "tail":
            reply, data = tail(run_dir.resolve(), request.get("offsets") or {}, int(request.get("limit") or TAIL_LIMIT),
                               request.get("marks"))
        elif command == "cancel":
            reply, data = cancel(run_dir.resolve(), str(request.get("signal") or "SIGTERM")), b""
        else:
            raise UserError(f"unknown agent command {command!r}")
    except UserError as e:
        out.write(REPLY_MARKER + json.dumps({"error": str(e)}).encode() + b"\n")
        out.flush()
        return 2
    out.write(REPLY_MARKER + json.dumps(reply).encode() + b"\n" + data)
    out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
