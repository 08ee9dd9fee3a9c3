"""From a validated recipe to a submitted run: create the run folder, register it, upload it
(remote targets), start or submit it. And the other way: cancel a run wherever it is."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from workbench import faults, rundir
from workbench.errors import UserError
from workbench.events import event_line_limit
from workbench.launch import batch
from workbench.launch.argv import job_python, supervisor_argv, train_argv
from workbench.launch.hosts import HostUnreachable, SshHost, host_for, host_of_run
from workbench.launch.run_folder import create_run, record_job_meta, request_stop
from workbench.launch.run_folder import update_meta as _update_meta
from workbench.launch.targets import Target, parse_target
from workbench.recipe import Recipe
from workbench.recipe.schema import KNOBS
from workbench.rundir import read_run_meta, write_run_meta
from workbench.store.db import StoreError, connect, runs_root
from workbench.store.write import mark_ended, record_job, register_run, reopen_for_resume

DATA_KNOBS = [k.name for k in KNOBS if k.kind == "path" and k.section == "data"]


def dry_run(recipe: Recipe, store: Path) -> str:
    """The exact command or batch script a launch would run; nothing is created or submitted."""
    target = recipe.launch.target
    launch = recipe.launch
    run_id = "<run_id>"
    if target.host is not None:
        host = SshHost(target.host, launch)
        job_dir = host.job_dir(Path(run_id))
        python = launch.python  # the remote agent's interpreter
        files = ", ".join([rundir.RECIPE, rundir.RUN_META, *[f"{rundir.DATA_DIR}/{Path(recipe[k]).name}" for k in DATA_KNOBS
                                                        if recipe[k]]])
        verb, extra = ("submit", (target.scheduler,)) if target.scheduler else ("start", ())
        head = [f"# upload to {target.host}:{job_dir}/ with rsync (sftp where rsync is missing): {files}",
                f"# then, over ssh: {host.remote_command(verb, job_dir, *extra)}"]
    else:
        import sys

        job_dir, python = str(runs_root(store) / run_id), sys.executable
        head = []
    head = memory_note(recipe, target) + head  # first: what the dialog's preview shows without scrolling
    python = job_python(launch, python)
    train = shlex.join(train_argv(launch, job_dir, python))
    if target.scheduler:
        script = batch.render(target.scheduler, launch, job_dir, run_id, python, recipe.name)
        return "\n".join(head + [f"# {batch.SCRIPT[target.scheduler]}, submitted with: "
                                 f"{shlex.join(batch.submit_argv(target.scheduler))}", script.rstrip(),
                                 f"# the supervisor then runs the trainer: {train}"])
    sup = supervisor_argv(launch, job_dir, python)
    return "\n".join(head + [f"# detached in {job_dir}, output to {rundir.TRAIN_LOG}:", shlex.join(sup),
                             "# which runs the trainer:", train])


def memory_note(recipe: Recipe, target: Target, gpu_memory: list[int] | None = None) -> list[str]:
    """`# `-lines: the GPU memory one training process will need (workbench/models/memory.py),
    against the GPUs of this machine (NVML) for a local target, or `gpu_memory` when known."""
    from workbench.models.memory import estimate_lines
    from workbench.tasks import get_task, task_class

    where = target.host or "this machine"
    if gpu_memory is None and not target.remote:
        from workbench.telemetry.gpus import memory_totals

        gpu_memory = memory_totals()
    head = task_class(recipe.task).model_head(recipe.view)

    def tiny_texts() -> list[str]:  # what training trains a tiny model's tokenizer on (train/pipeline.py)
        task = get_task(recipe.values)
        return task.tokenizer_texts(task.load_splits().train)

    try:
        lines = estimate_lines(recipe.view, causal=head.causal, num_labels=head.num_labels, gpu_memory=gpu_memory,
                               where=where, tiny_texts=tiny_texts)
    except UserError as e:  # the app's preview of a recipe whose data a tiny model cannot be built from
        lines = [f"GPU memory: not estimated ({str(e).splitlines()[0]})"]
    except (ValueError, KeyError, OSError, ImportError) as e:  # a config transformers cannot build here
        lines = [f"GPU memory: not estimated ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"]
    return [f"# {line}" for line in lines]


def upload_files(recipe: Recipe, run_dir: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """Files a remote run needs, and the recipe values that point at their uploaded copies."""
    files: dict[str, Path] = {rundir.RUN_META: run_dir / rundir.RUN_META}
    changes: dict[str, str] = {}
    used: set[str] = set()
    for name in DATA_KNOBS:
        if not recipe[name]:
            continue
        src = Path(recipe[name])
        rel = f"{rundir.DATA_DIR}/{_safe_name(src.name, used)}"
        files[rel] = src
        changes[name] = rel  # relative to the uploaded recipe.toml, so valid wherever it lands
    return files, changes


def _safe_name(name: str, used: set[str]) -> str:
    import re

    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).lstrip(".") or "data"
    base, n = safe, 1
    while safe in used:
        n += 1
        safe = f"{n}-{base}"
    used.add(safe)
    return safe


def launch(recipe: Recipe, store: Path, *, command: str = "", on_step=None, meta: dict[str, Any] | None = None) -> Path:
    """Create, register and start (or submit) a run. Returns its local run folder. `meta`: more
    run.json fields (an evaluation run's kind and the model it evaluates).

    A launch that fails leaves the run recorded as failed with the reason, never as queued.
    """
    return launch_many([recipe], store, command=command, on_step=on_step, meta=meta)[0]


def launch_many(recipes: list[Recipe], store: Path, *, command: str = "", on_step=None,
                meta: dict[str, Any] | None = None) -> list[Path]:
    """Several runs of one target; on SLURM, several runs are one job array (`--array=0-N`)."""
    say = on_step or (lambda msg: None)
    check_follow_env()  # before any run folder exists: a refusal leaves nothing behind
    for recipe in recipes:
        batch.check_forward_env(recipe)
    target = recipes[0].launch.target
    settings = recipes[0].launch
    host = host_for(target, settings)
    if target.kind == "local" and settings.gpus > 0:
        _check_local_gpus(settings.gpus)
    if settings.nodes > 1 and target.kind != "slurm":
        raise UserError(f"launch.nodes = {settings.nodes} needs a slurm target (multi-node runs start one "
                        f"process per node with srun); {target} runs on one machine")
    run_dirs: list[Path] = []
    for recipe in recipes:
        run_dir = create_run(recipe, runs_root(store), target=str(target), command=command, meta=meta)
        try:
            with connect(store) as con:
                register_run(con, run_dir)
        except (UserError, OSError, StoreError) as e:
            # Not in the store, so not a run: no folder may stay behind (nor the ones before it).
            for d in [*run_dirs, run_dir]:
                shutil.rmtree(d, ignore_errors=True)
            if isinstance(e, UserError):
                raise
            raise UserError(f"cannot record the run in the store: {str(e).splitlines()[0]}", path=store) from None
        run_dirs.append(run_dir)
    submitted: set[Path] = set()
    try:
        job_dirs = [_place(recipe, run_dir, host, target, settings, say) for recipe, run_dir in zip(recipes, run_dirs)]
        if target.scheduler == "slurm" and len(job_dirs) > 1:
            jobs = host.submit_array(job_dirs)
        else:
            jobs = [host.submit(d, target.scheduler) if target.scheduler else host.start(d) for d in job_dirs[:1]]
        for i, run_dir in enumerate(run_dirs):
            if i >= len(jobs):  # one at a time, each recorded as soon as it is submitted
                jobs.append(host.submit(job_dirs[i], target.scheduler) if target.scheduler else host.start(job_dirs[i]))
            _record_job(store, run_dir, job_dirs[i], jobs[i])
            submitted.add(run_dir)
    except BaseException as e:
        # Whatever stopped the launch (the scheduler, the network, Ctrl-C, a bug), runs not
        # submitted are recorded failed with the reason; submitted ones stay tracked. Only a
        # refusal (bad input, the scheduler said no, a host down) is the user's: anything else is
        # a bug, kept with its traceback in each run's log and raised as it is (exit status 1).
        # (a full disk, a scheduler command that hangs: the machine's, not a bug)
        bug = not isinstance(e, (UserError, HostUnreachable, KeyboardInterrupt, OSError, subprocess.TimeoutExpired))
        reason = str(e) if isinstance(e, (UserError, HostUnreachable)) else (
            "interrupted (Ctrl-C)" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}")
        if bug:
            _log_traceback([d for d in run_dirs if d not in submitted], e)
        try:
            with connect(store) as con:
                for run_dir in run_dirs:
                    if run_dir not in submitted:
                        mark_ended(con, run_dir.name, "failed", f"launch failed: {reason}", time.time())
        except (UserError, OSError, StoreError) as store_error:
            reason += f" (and the store could not record it: {str(store_error).splitlines()[0]})"
        if isinstance(e, KeyboardInterrupt) or bug:
            raise
        raise UserError(reason) from None
    return run_dirs


def check_follow_env() -> None:
    """The environment a run is followed in, checked before a run starts or is followed (run, eval,
    resume, attach): a WORKBENCH_EVENT_LINE_LIMIT that is no size is refused in one line (UserError)
    rather than found by the follower once the run is going (it stopped there, leaving the run
    unfollowed)."""
    event_line_limit()


def _log_traceback(run_dirs: list[Path], e: BaseException) -> None:
    """A bug's traceback, appended to the log of each run it stopped; the exception says where."""
    import traceback

    text = "workbench: the launch failed with a bug (please report it with this log):\n" + "".join(
        traceback.format_exception(e))
    for run_dir in run_dirs:
        try:
            with open(run_dir / rundir.TRAIN_LOG, "a", encoding="utf-8") as f:
                f.write(text)
        except OSError:
            continue
    if run_dirs:
        e.add_note(f"traceback in {run_dirs[0] / rundir.TRAIN_LOG}")


def _record_job(store: Path, run_dir: Path, job_dir: str, job: dict[str, Any]) -> None:
    record_job_meta(run_dir, job_dir, job)
    with connect(store) as con:
        record_job(con, run_dir.name, job.get("pid"), job.get("job_id"))


def _place(recipe: Recipe, run_dir: Path, host, target: Target, settings, say) -> str:
    faults.at("launch")  # the reliability tests' deliberate bug (WORKBENCH_RAISE_AT=launch)
    """The run folder where the job will run: this one, or its uploaded copy on the remote host."""
    job_dir = host.job_dir(run_dir)
    if not target.remote:
        return job_dir
    say(f"checking {target.host}")
    info = host.probe(job_dir, str(recipe.model.source))
    _check_remote(info, settings, target)
    if info.get("gpu_memory") and target.kind == "ssh":
        for line in memory_note(recipe, target, info["gpu_memory"]):
            if line.startswith("# warning"):
                say(line[2:])
    job_dir = info["run_dir"]
    files, changes = upload_files(recipe, run_dir)
    if info.get("container"):
        changes["launch.container"] = info["container"]  # the image there, checked by the probe
    _write_remote_recipe(recipe, run_dir, changes)
    files[rundir.RECIPE] = run_dir / "remote" / rundir.RECIPE
    say(f"uploading {len(files)} files to {target.host}:{job_dir}")
    tool = host.upload(files, job_dir, info["tools"].get("rsync", False))
    _update_meta(run_dir, job_dir=job_dir, job_host=info["host"], upload=tool,
                 remote_versions={"python": info["python"], "workbench": info["workbench"]})
    return job_dir


def _check_local_gpus(wanted: int) -> None:
    from workbench.telemetry.gpus import open_gpus

    gpus, note = open_gpus(0, 1)
    if len(gpus) < wanted:
        raise UserError(f"launch.gpus = {wanted}, but this machine shows {len(gpus)} GPU(s) ({note}); "
                        "--processes N runs N CPU ranks instead")


def _check_remote(info: dict[str, Any], launch, target: Target) -> None:
    from workbench import __version__

    if info["workbench"].split(".")[:2] != __version__.split(".")[:2]:
        raise UserError(f"{target.host} has workbench {info['workbench']}, this machine {__version__}: "
                        f"install the same version there ({info['executable']} -m pip install ...)")
    if target.kind == "ssh" and launch.gpus > len(info["gpus"]):
        raise UserError(f"{target.host} shows {len(info['gpus'])} GPU(s) ({info['gpu_note']}), the recipe asks for "
                        f"launch.gpus = {launch.gpus}")
    if target.scheduler:
        tool = "sbatch" if target.scheduler == "slurm" else "qsub"
        if not info["tools"].get(tool):
            raise UserError(f"{target.host} has no {tool}: is it a {target.scheduler.upper()} login node?")


def _write_remote_recipe(recipe: Recipe, run_dir: Path, changes: dict[str, str]) -> None:
    from workbench.recipe import write_frozen

    (run_dir / "remote").mkdir(exist_ok=True)
    write_frozen(recipe.with_values(changes), run_dir / "remote" / rundir.RECIPE,
                 f"Frozen recipe of run {run_dir.name}, as uploaded: data paths point at the uploaded copies.")


def cancel(run_dir: Path, *, sig: str = "SIGTERM", requested: bool = True) -> dict[str, Any]:
    """Stop a run wherever it runs. `requested`: a user's stop, so it ends as cancelled."""
    if requested:
        request_stop(run_dir)
    host, job_dir = host_of_run(run_dir)
    return host.cancel(job_dir, sig)


RESUMABLE = ("failed", "interrupted", "cancelled")


def resume(store: Path, run_dir: Path, status: str) -> dict[str, Any]:
    """Start an ended run again where it stopped, on the host and target it ran on. The store's
    row goes back to queued (its end and error cleared) until the new attempt's start event."""
    check_follow_env()
    if status not in RESUMABLE:
        raise UserError(f"run {run_dir.name} is {status}: only a failed, interrupted or cancelled run can be resumed"
                        + (" (`workbench stop` it first)" if status in ("queued", "running") else ""))
    from workbench.launch.follow import follow_lock

    meta = read_run_meta(run_dir)
    target = parse_target(meta.get("target", "local"))
    host, job_dir = host_of_run(run_dir)
    # Under the follow lock: a writer that reckoned the run over (launch/reckon.py `record`) settles it
    # only under this lock, after asking for its job's state again; it then sees the new job.
    with follow_lock(run_dir, mirrors=host.remote):
        with connect(store) as con:
            reopen_for_resume(con, run_dir.name)
        try:
            job = host.resume(job_dir, target.scheduler or "")
        except (UserError, HostUnreachable, OSError) as e:
            with connect(store) as con:  # nothing started: the run ends as it was, with the reason
                mark_ended(con, run_dir.name, status, f"resume failed: {e}", time.time())
            raise UserError(f"cannot resume {run_dir.name}: {e}") from None
        resumes = [*meta.get("resumes", []), {"t": time.time(), "previous_status": status}]
        fields = {k: v for k, v in meta.items() if k != "stop_requested_at"}  # a new attempt, not the stopped one
        write_run_meta(run_dir, {**fields, "resumes": resumes, "pid": job.get("pid"), "job_id": job.get("job_id")})
        with connect(store) as con:
            record_job(con, run_dir.name, job.get("pid"), job.get("job_id"))
    return job
