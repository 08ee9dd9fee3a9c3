"""Process lifecycle of a training run: events file, start/end events, signals, exit codes.

`python -m workbench.train RUN_DIR` reads RUN_DIR/recipe.toml (frozen by the launcher),
appends RUN_DIR/events.jsonl, and never opens the store.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import sys
import traceback
from pathlib import Path

from workbench import rundir
from workbench.errors import UserError
from workbench.events import LIMIT_ENV, EventWriter, event_line_limit
from workbench.train.context import Pruned
from workbench.train.resume import earlier_events, plan

EXIT_COMPLETED, EXIT_FAILED, EXIT_INTERRUPTED = rundir.EXIT_COMPLETED, rundir.EXIT_FAILED, rundir.EXIT_INTERRUPTED
EXIT_PRUNED = rundir.EXIT_PRUNED


class Interrupted(BaseException):
    """Raised in the main thread when the process is asked to stop (SIGTERM / SIGINT / SIGHUP)."""


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _raise_interrupted(signum, frame):
    # Schedulers and `workbench stop` may signal the whole process group and the supervisor
    # forwards the same signal: only the first one stops the run, repeats must not tear the unwinding.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signal.Signals(signum).name)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("workbench", "torch", "transformers", "peft", "accelerate", "bitsandbytes"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m workbench.train RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(argv[0]).resolve()
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    events_path = rundir.events_file(run_dir, rank)
    bad_env = _unusable_line_limit()
    try:
        # a resumed run's earlier attempts: what the new start needs of them, read by every rank (in
        # the same folder, they all plan alike and continue from the same checkpoint)
        prior = earlier_events(rundir.events_file(run_dir))
        writer = EventWriter(events_path)
    except OSError as e:
        print(f"error: {events_path}: cannot write events ({e.strerror})", file=sys.stderr)
        return EXIT_FAILED
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_interrupted)

    status, error, code = "failed", None, EXIT_FAILED
    sampler = tracker = None
    try:
        if bad_env is not None:
            raise UserError(bad_env)
        from workbench.recipe import load_recipe
        from workbench.tasks import check_recipe

        recipe = load_recipe(run_dir / rundir.RECIPE)
        check_recipe(recipe)
        run_id = run_dir.name
        resume = plan(run_dir, prior, remove_torn=rank == 0)
        if rank == 0:
            # Names only: forwarded secrets prove they arrived without their values reaching a file.
            forwarded = sorted(n for n in recipe.launch.forward_env if n in os.environ)
            start = writer.emit("start", run_id=run_id, recipe=recipe.values, versions=versions(),
                        host=socket.gethostname(), pid=os.getpid(), world_size=world_size, env_forwarded=forwarded,
                        attempt=resume.attempt, **({"resumed": resume.event()} if resume.attempt > 1 else {}))
            if resume.attempt > 1:
                writer.emit("log", level="info", message=_resume_note(resume))
            tracker = _open_tracker(recipe.values, run_dir, run_id, resume.attempt, prior, writer, start)
            cpu_plan = os.environ.get("WORKBENCH_CPU_PLAN")  # the supervisor's choice of threads (launch/cpu_threads.py)
            if cpu_plan:
                writer.emit("log", level="info", message=cpu_plan)
        del prior  # not held through the run
        sampler = _start_telemetry(writer, recipe.launch.telemetry_interval, rank)

        from workbench.models.load import quiet_transformers
        from workbench.tasks import get_task
        from workbench.train import pipeline
        from workbench.train.context import RunContext

        quiet_transformers()
        ctx = RunContext(run_dir, run_id, recipe, writer, rank=rank, world_size=world_size, resume=resume)
        meta = rundir.read_run_meta(run_dir)
        if meta.get("kind") == "eval":  # `workbench eval`: score a model, train nothing
            pipeline.evaluate_only(ctx, get_task(recipe.values), meta["evaluates"], meta.get("evaluates_dir"))
        else:
            pipeline.run(ctx, get_task(recipe.values))
        status, code = "completed", EXIT_COMPLETED
    except (Interrupted, KeyboardInterrupt) as e:
        status, error, code = "interrupted", f"stopped by {e.args[0] if e.args else 'SIGINT'}", EXIT_INTERRUPTED
    except Pruned as e:  # a tune trial its pruner stopped (train/prune.py): final, not a failure
        status, error, code = "pruned", str(e), EXIT_PRUNED
    except UserError as e:
        error = str(e)
        writer.emit("log", level="error", message=error)
    except Exception as e:  # noqa: BLE001 - any failure must end the run as 'failed' with its traceback logged
        error = f"{type(e).__name__}: {e}"
        writer.emit("log", level="error", message=traceback.format_exc())
        traceback.print_exc()
    finally:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # the end event must not be torn by a second signal
        if sampler is not None:
            sampler.stop()
        if tracker is not None:
            writer.listeners.remove(tracker)
            # bounded: a hung tracking server must not hold the run's `end` (nor a scheduler's kill grace)
            trouble = tracker.close(status, error, timeout=10.0 if status == "interrupted" else 120.0)
            if trouble:
                writer.emit("log", level="warning", message=f"{trouble}; `workbench export-mlflow {run_dir.name} "
                            "--again` sends the whole run from its folder")
        if rank == 0:
            writer.emit("end", status=status, error=error)
        writer.close()
    return code


def _unusable_line_limit() -> str | None:
    """A WORKBENCH_EVENT_LINE_LIMIT that is no size (set where the job runs: a batch job's environment, a
    remote host's profile), as its one line; the variable is then dropped from this process, so that the
    event file is read (with the default limit) and the run records why it stops in its `end`."""
    try:
        event_line_limit()
    except UserError as e:
        os.environ.pop(LIMIT_ENV, None)
        return str(e)
    return None


def _resume_note(resume) -> str:
    where = (f"from {resume.checkpoint.name} (step {resume.step})" if resume.checkpoint
             else "with training from the start (no complete checkpoint)")
    kept = f"; base evaluation kept for {', '.join(resume.base_kept)}" if resume.base_kept else ""
    torn = f"; removed incomplete {', '.join(resume.removed)}" if resume.removed else ""
    return f"resuming (attempt {resume.attempt}) {where}{kept}{torn}"


def _open_tracker(values, run_dir: Path, run_id: str, attempt: int, prior, writer: EventWriter, start: dict):
    """The MLflow run of this run (train.report_to has mlflow), opened before any model loads; it
    then gets every event as written. A resumed run continues the earlier attempt's MLflow run."""
    from workbench.tracking import mlflow_sink

    if not mlflow_sink.wanted(values):
        return None
    earlier = next((e.get("run") for e in reversed(prior) if e.type == "tracking" and e.get("service") == "mlflow"), None)
    opened = mlflow_sink.open_live(values, run_dir, run_id, attempt, earlier)
    opened.sink(start)  # written before the sink existed
    writer.listeners.append(opened.sink)
    where = mlflow_sink.public_uri(opened.uri)
    writer.emit("tracking", service="mlflow", run=opened.mlflow_run, experiment=opened.experiment_id, uri=where)
    writer.emit("log", level="info", message=f"MLflow: run {opened.mlflow_run} in experiment {opened.experiment_id} "
                f"at {where}")
    return opened.sink


def _start_telemetry(writer: EventWriter, interval: float, rank: int):
    if interval <= 0:
        return None
    from workbench.telemetry.sampler import TelemetrySampler

    sampler = TelemetrySampler(writer.emit, interval, rank=rank, local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                               local_world_size=int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    sampler.start()
    writer.emit("log", level="info", message=f"telemetry every {interval:g} s on {sampler.host} rank {rank}: {sampler.note}")
    return sampler
