"""A run's events into one MLflow run: live from the training process, or afterwards.

One translation, two drivers (docs/architecture.md, "MLflow"):
- live: with "mlflow" in `train.report_to`, the trainer (rank 0) opens the MLflow run before the
  model loads (`open_live`) and hands every event it writes to a `LiveSink`, whose thread sends them:
  the training loop never waits on the tracking server;
- afterwards: `workbench export-mlflow RUN...` replays a finished run's events.jsonl through the
  same `Translator` (`replay`).

What an MLflow run holds: params = the frozen recipe (every knob, dotted names) and the parameter
counts; step metrics (train/loss, train/learning_rate, ...); every base / tuned evaluation per split,
aggregated (`tuned/test/f1_micro`) and per label (`tuned/test/f1/toxicity`), epoch evaluations at
their step (`eval/validation/f1_micro`); fairness rows per group column, group and positive class
(`tuned/test/group/race/black/toxic/bpsn_auc`, the table as `fairness/tuned_test.json`); GPU
telemetry under system/; artifacts: the frozen recipe, the adapter, prediction files (the generated
answers), reports (seqeval's), labels.json.
A full fine-tune's model is not sent (gigabytes to a tracking server at the end of a job, unasked):
`workbench export` writes it.

The run is named after the workbench run and tagged `workbench.run_id`, so a second export finds it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import rundir
from workbench.errors import UserError
from workbench.events import Artifact, End, Eval, Event, Model, Start, Step, Summary, Targets, Telemetry, Warnings, parse_event

RUN_TAG = "workbench.run_id"
DB_NAME = "mlflow.db"            # the default store: beside the run folders (runs/mlflow.db)
ARTIFACT_ROOT = "mlartifacts"    # a sqlite store's artifacts: beside its database file
MAX_PARAM = 6000                 # MLflow's limit on a param value (characters)
BATCH_METRICS = 1000             # MLflow's limit on metrics per log_batch call
BATCH_PARAMS = 100
STATUS = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED", "cancelled": "KILLED", "pruned": "KILLED"}
_KEY_CHARS = re.compile(r"[^\w\-. /:]")  # what MLflow allows in a metric / param name


def wanted(values: dict[str, Any]) -> bool:
    return "mlflow" in values["train.report_to"]


@dataclass(frozen=True)
class Target:
    uri: str
    experiment: str
    artifact_location: str | None  # set where workbench chose the store (a sqlite file)


def target_of(values: dict[str, Any], runs_root: Path, uri: str | None = None,
              experiment: str | None = None) -> Target:
    """Where a run goes: `uri` / `experiment` given (export-mlflow's flags), else the recipe's
    train.mlflow_tracking_uri / train.mlflow_experiment, else MLFLOW_TRACKING_URI /
    MLFLOW_EXPERIMENT_NAME, else a sqlite store beside the run folders and the recipe's name."""
    uri = uri or values.get("train.mlflow_tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not uri:
        uri = "sqlite:///" + str((runs_root / DB_NAME).absolute())
    if uri.startswith("sqlite:///") and not uri[len("sqlite:///"):].startswith("/"):
        # relative to whichever process opens it (a trainer's is its run folder): one store per run
        raise UserError(f"MLflow tracking URI {public_uri(uri)}: give the sqlite file's absolute path "
                        "(sqlite:////abs/path/mlflow.db: four slashes)")
    experiment = (experiment or values.get("train.mlflow_experiment") or os.environ.get("MLFLOW_EXPERIMENT_NAME")
                  or values.get("name") or "workbench")
    location = None
    if uri.startswith("sqlite:///"):
        # MLflow would put a new experiment's artifacts under ./mlruns of whichever process made
        # it (the trainer's working folder is its run folder): keep them beside the database.
        db = Path(uri[len("sqlite:///"):])
        location = (db.parent / ARTIFACT_ROOT / _folder_name(experiment)).as_uri()
    return Target(uri, experiment, location)


# A URI inside a message: a scheme, ://, then up to a space or a quote.
_URI_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*")


def public_uri(text: str) -> str:
    """A tracking URI, or a message that quotes some, fit for a file or a table: the whole userinfo
    (user:password@) of each taken out (MLFLOW_TRACKING_URI or --tracking-uri may hold them)."""
    return _URI_IN_TEXT.sub(lambda m: _without_userinfo(m.group()), text)


def _without_userinfo(uri: str) -> str:
    """`uri` without its userinfo. A password may hold '@', '/', '?' or '#' unescaped
    (`user:p@ss@host`, `user:pa/ss@host`), where a URL parser ends the authority early; so when the
    authority holds an '@', or a port that is no number and an '@' follows, everything up to the
    last '@' goes (a path that holds an '@' too loses its start: never a secret shown)."""
    from urllib.parse import urlsplit

    scheme, _, rest = uri.partition("://")
    try:
        netloc = urlsplit(uri).netloc
    except ValueError:  # e.g. an unclosed IPv6 bracket: no authority to tell apart, any '@' ends a userinfo
        return f"{scheme}://{rest.rpartition('@')[2]}"
    after = rest[len(netloc):]
    _, colon, port = netloc.rpartition(":")
    odd_port = bool(colon) and not netloc.endswith("]") and not port.isdigit()
    if "@" in netloc or (odd_port and "@" in after):
        return f"{scheme}://{rest.rpartition('@')[2]}"
    return uri


def first_line(e: BaseException) -> str:
    """An MLflow error in one line, credentials taken out."""
    text = str(e).strip()
    return public_uri(f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__)


def _folder_name(name: str) -> str:
    """An experiment name as one folder name (a Databricks-style /Shared/team stays inside)."""
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "experiment"


def check_installed(where: str = "") -> None:
    """One line when the mlflow package is missing (before any model loads)."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise UserError(f"train.report_to: MLflow logging needs the mlflow package, which is not installed{where} "
                        "(pip install 'workbench[mlflow]', or mlflow-skinny)")


def _client(target: Target):
    """The client, and (a sqlite store) its tables made once: MLflow creates and migrates a new
    database on first use, and several trainers doing that at once (a sweep, a job array) corrupt
    it for good. A lock file beside the database lets one at a time do the first use."""
    from mlflow.tracking import MlflowClient

    if not target.uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri=target.uri)
    import fcntl

    db = Path(target.uri[len("sqlite:///"):])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        client = MlflowClient(tracking_uri=target.uri)
        client.search_experiments(max_results=1)  # the store (made on first use) creates and migrates the tables
    return client


def _experiment_id(client, target: Target) -> str:
    exp = client.get_experiment_by_name(target.experiment)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(target.experiment, artifact_location=target.artifact_location)
    except Exception:  # noqa: BLE001 - another run created it in the meantime (sweeps start several at once)
        exp = client.get_experiment_by_name(target.experiment)
        if exp is None:
            raise
        return exp.experiment_id


def find_run(client, experiment_id: str, run_id: str) -> str | None:
    """The MLflow run already holding workbench run `run_id`, if any."""
    found = client.search_runs([experiment_id], f"tags.`{RUN_TAG}` = '{run_id}'", max_results=1)
    return found[0].info.run_id if found else None


MAX_KEY = 250  # MLflow's limit on a metric name


def _key(*parts: Any) -> str:
    """A metric name from its parts (phase, split, metric, label, ...), each kept apart: a part
    MLflow would refuse or change (a character it lacks, '.' or '..', a trailing '/') is made safe and
    given a short hash of the original, so labels `a,b` and `a+b` stay two metrics."""
    safe = []
    for part in map(str, parts):
        clean = _KEY_CHARS.sub("_", part).replace("/", "_").strip()
        if clean != part or clean in ("", ".", ".."):
            clean = f"{clean.strip('.') or 'x'}:{hashlib.sha1(part.encode()).hexdigest()[:6]}"
        safe.append(clean)
    key = "/".join(safe)
    if len(key) > MAX_KEY:
        key = f"{key[:MAX_KEY - 8]}:{hashlib.sha1(key.encode()).hexdigest()[:6]}"
    return key


def _ms(t: float | None) -> int:
    return int((t if t is not None else time.time()) * 1000)


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def _param_text(v: Any) -> str:
    text = json.dumps(v) if isinstance(v, list | dict) else str(v)
    return text if len(text) <= MAX_PARAM else text[:MAX_PARAM - 1] + "…"


@dataclass
class Batch:
    """What one or more events turn into: MLflow calls to make."""
    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)  # key, value, ms, step
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    files: list[tuple[Path, str | None]] = field(default_factory=list)     # file or folder, artifact path
    dicts: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # JSON artifacts
    status: str | None = None  # an MLflow run status when the run ended

    def empty(self) -> bool:
        return not (self.metrics or self.params or self.tags or self.files or self.dicts or self.status)


class Translator:
    """Events in, MLflow calls out; the same for a live run and a replayed one."""

    def __init__(self, run_dir: Path, *, params: bool = True):
        self.run_dir = run_dir
        self.step = 0  # metrics without a step of their own (telemetry, summary) take the last one
        # the recipe as params with the first start it sees, once: an MLflow run's params may not
        # change (a resumed run continuing its MLflow run has them)
        self.params = params

    def batch(self, events: Iterable[Event]) -> Batch:
        b = Batch()
        for e in events:
            self._one(e, b)
        return b

    def _metric(self, b: Batch, key: str, value: Any, t: float | None, step: int | None = None) -> None:
        """`key`: our own name (safe as it is); labels and groups go through _key."""
        v = _finite(value)
        if v is not None:
            b.metrics.append((key, v, _ms(t), self.step if step is None else int(step)))

    def _one(self, e: Event, b: Batch) -> None:
        if isinstance(e, Telemetry):
            where = f"system/gpu{e.gpu}" if e.gpu is not None else f"system/rank{e.rank or 0}"
            for name, value in (("util", e.util), ("power_w", e.power_w), ("temp_c", e.temp_c), ("cpu_pct", e.cpu_pct)):
                self._metric(b, f"{where}/{name}", value, e.t)
            for name, value in (("mem_used_gib", e.mem_used), ("rss_gib", e.rss_bytes)):
                if value is not None:
                    self._metric(b, f"{where}/{name}", value / 2**30, e.t)
        elif isinstance(e, Step):
            self.step = int(e.step or 0)
            for name, value in (("loss", e.loss), ("learning_rate", e.lr), ("grad_norm", e.grad_norm),
                                ("epoch", e.epoch), ("samples_per_s", e.samples_per_s),
                                ("tokens_per_s", e.tokens_per_s)):
                self._metric(b, f"train/{name}", value, e.t)
        elif isinstance(e, Eval):
            self._eval(e, b)
        elif isinstance(e, Start):
            if self.params:
                b.params.update({k: _param_text(v) for k, v in (e.recipe or {}).items()})
                self.params = False
            b.tags.update({RUN_TAG: str(e.run_id), "workbench.host": str(e.host), "workbench.attempt": str(e.attempt or 1)})
            b.tags.update({f"workbench.version.{k}": str(v) for k, v in (e.versions or {}).items()})
            recipe = self.run_dir / rundir.RECIPE
            if recipe.is_file():
                b.files.append((recipe, None))
        elif isinstance(e, Model):
            b.params.update({"trainable_params": str(e.trainable_params), "total_params": str(e.total_params)})
            if e.quantized:
                b.tags["workbench.quantized"] = str(e.quantized)
        elif isinstance(e, Summary):
            for name in ("train_runtime_s", "train_seconds", "train_samples_per_s", "peak_mem_bytes"):
                self._metric(b, f"summary/{name}", getattr(e, name), e.t)
        elif isinstance(e, Artifact):
            self._artifact(e, b)
        elif isinstance(e, Warnings):
            items = [str(w.get("message", "")) for w in (e.items or []) if isinstance(w, dict)]
            self._metric(b, "warnings", len(items), e.t)
            if items:
                b.tags["workbench.warnings"] = _param_text("\n".join(items))
        elif isinstance(e, Targets):  # eval.targets judged: 1 met, 0 not, per target; the run's tag
            judged = [i for i in (e.items or []) if isinstance(i, dict)]
            for i in judged:
                self._metric(b, f"targets/{_key(str(i.get('metric')))}_met", 1.0 if i.get("met") else 0.0, e.t)
            if judged:
                b.tags["workbench.targets_met"] = str(all(i.get("met") for i in judged)).lower()
        elif isinstance(e, End):
            labels = self.run_dir / rundir.LABELS
            if labels.is_file():
                b.files.append((labels, None))
            if e.error:
                b.tags["workbench.error"] = _param_text(e.error)
            b.status = STATUS.get(e.status, "FAILED")

    def _eval(self, e: Eval, b: Batch) -> None:
        # base and tuned: one point each (at the step they scored); epoch evaluations: a curve
        step = e.step if e.step is not None else self.step
        phase = "eval" if e.phase == "epoch" else e.phase
        for metric, value in (e.aggregates or {}).items():
            self._metric(b, _key(phase, e.split, metric), value, e.t, step)
        for label, metrics in (e.labels or {}).items():
            for metric, value in metrics.items():
                self._metric(b, _key(phase, e.split, metric, label), value, e.t, step)
        for group, row in (e.groups or {}).items():
            for metric in ("fpr", "max_fpr", "flagged", "examples"):
                self._metric(b, _key(phase, e.split, "group", group, metric), row.get(metric), e.t, step)
        # per positive class, group column and group: its rates and bias AUCs (a None AUC logs nothing;
        # fairness/<phase>_<split>.json holds why)
        for positive, report in (e.bias or {}).items():
            for row in (r for r in report.get("groups") or [] if isinstance(r, dict)):
                for metric in ("fpr", "fnr", "flagged", "examples", "subgroup_auc", "bpsn_auc", "bnsp_auc"):
                    self._metric(b, _key(phase, e.split, "group", row.get("group_column"), row.get("group"), positive,
                                         metric), row.get(metric), e.t, step)
        table = e.bias or e.groups
        if table:
            b.dicts.append((table, f"fairness/{_folder_name(f'{e.phase}_{e.split}')}.json"))
        if e.confusion:
            b.dicts.append((e.confusion, f"confusion/{_folder_name(f'{e.phase}_{e.split}')}.json"))

    def _artifact(self, e: Artifact, b: Batch) -> None:
        if not e.path:
            return
        path = Path(e.path)
        if not path.exists():  # a run folder mirrored from another host: the same names, here
            path = self.run_dir / path.name
        if e.kind == "model":
            b.tags["workbench.model"] = "not sent (a full model): `workbench export` writes it"
        elif path.exists():
            b.files.append((path, "adapter" if e.kind == "adapter" else e.kind))


def send(client, mlflow_run: str, b: Batch) -> None:
    """One batch's calls (metrics and params chunked to MLflow's limits)."""
    from mlflow.entities import Metric, Param, RunTag

    metrics = [Metric(k, v, ms, step) for k, v, ms, step in b.metrics]
    params = [Param(k, v) for k, v in b.params.items()]
    tags = [RunTag(k, v) for k, v in b.tags.items()]
    while metrics or params or tags:
        client.log_batch(mlflow_run, metrics=metrics[:BATCH_METRICS], params=params[:BATCH_PARAMS], tags=tags[:BATCH_PARAMS])
        metrics, params, tags = metrics[BATCH_METRICS:], params[BATCH_PARAMS:], tags[BATCH_PARAMS:]
    for data, name in b.dicts:
        client.log_dict(mlflow_run, data, name)
    for path, where in b.files:
        if path.is_dir():
            client.log_artifacts(mlflow_run, str(path), where or path.name)
        else:
            client.log_artifact(mlflow_run, str(path), where)
    if b.status:
        client.set_terminated(mlflow_run, b.status)


def _retrying(call: Callable[[], Any], tries: int = 4) -> Any:
    """A sqlite store locked by another run's writer, a server that blinked: try again, briefly."""
    for i in range(tries):
        try:
            return call()
        except Exception:  # noqa: BLE001 - MLflow raises its own and its transports' errors; the last one propagates
            if i == tries - 1:
                raise
            time.sleep(0.5 * 2**i)
    return None


# --- live: the training process ------------------------------------------------------------------

END = "workbench-sink-end"  # the queue's last item: the run ended (status, error)


class LiveSink:
    """The MLflow run of a training process. `__call__` takes each event as written (any thread);
    a daemon thread sends them in batches. A failure stops the sending, never the training: `close`
    says what happened, and `workbench export-mlflow` can send the run again."""

    def __init__(self, client, mlflow_run: str, run_dir: Path, *, new_run: bool):
        self.client, self.mlflow_run = client, mlflow_run
        self.translator = Translator(run_dir, params=new_run)
        self.error: str | None = None
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._thread = threading.Thread(target=self._send_loop, name="workbench-mlflow", daemon=True)
        self._thread.start()

    def __call__(self, event: dict[str, Any]) -> None:
        if self.error is None:
            self._queue.put(event)

    def _send_loop(self) -> None:
        while True:
            items = [self._queue.get()]
            while True:  # whatever else is waiting goes in the same batch
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            end = next((i for i in items if i.get("type") == END), None)
            live = [parse_event(i) for i in items if i.get("type") not in (END, "end")]
            if end is not None:
                live.append(End(seq=-1, t=time.time(), type="end", extra=None, status=end["status"], error=end["error"]))
            if self.error is None and live:
                try:
                    b = self.translator.batch(live)
                    if not b.empty():
                        _retrying(functools.partial(send, self.client, self.mlflow_run, b))
                except Exception as e:  # noqa: BLE001 - reported by close(); the run goes on without MLflow
                    self.error = first_line(e)
            if end is not None:
                if self.error is not None:
                    self._mark_incomplete(end["status"])
                return

    def _mark_incomplete(self, status: str) -> None:
        """After a failed send: the MLflow run ended (not RUNNING for ever) and marked incomplete."""
        try:
            self.client.set_tag(self.mlflow_run, "workbench.incomplete", self.error or "")
            self.client.set_terminated(self.mlflow_run, STATUS.get(status, "FAILED"))
        except Exception as e:  # noqa: BLE001 - the server is gone: close() reports the first failure
            self.error = f"{self.error}; ending the MLflow run failed too ({first_line(e)})"

    def close(self, status: str, error: str | None, timeout: float) -> str | None:
        """Send what is queued and end the MLflow run with the workbench status, waiting at most
        `timeout` seconds (a hung server must not hold the run's `end`); the failure in one line,
        else None."""
        self._queue.put({"type": END, "status": status, "error": error})
        self._thread.join(timeout)  # a daemon thread: still stuck, it dies with the process
        if self._thread.is_alive():
            return f"MLflow: still sending after {timeout:g} s; the run there may be incomplete"
        return None if self.error is None else f"MLflow: sending stopped ({self.error})"


@dataclass(frozen=True)
class Opened:
    sink: LiveSink
    mlflow_run: str
    experiment_id: str
    uri: str


def open_live(values: dict[str, Any], run_dir: Path, run_id: str, attempt: int,
              prior_run: str | None) -> Opened:
    """The MLflow run of a starting trainer: a new one, or (a resumed run) the earlier attempt's
    when it is still there. Any failure here is the user's to fix before the model loads: one line."""
    check_installed(" where the run trains")
    target = target_of(values, run_dir.parent)
    try:
        client = _client(target)
        experiment_id = _experiment_id(client, target)  # a server's own client retries (MLFLOW_HTTP_REQUEST_*)
        mlflow_run = prior_run if attempt > 1 and prior_run and _exists(client, prior_run) else None
        if mlflow_run is not None:
            client.update_run(mlflow_run, status="RUNNING")
        else:
            mlflow_run = client.create_run(experiment_id, run_name=run_id, tags={RUN_TAG: run_id}).info.run_id
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - an unreachable server, a bad URI: one line before any model loads
        raise UserError(f"train.report_to: cannot open an MLflow run at {public_uri(target.uri)} "
                        f"(experiment {target.experiment!r}): {first_line(e)}") from None
    return Opened(LiveSink(client, mlflow_run, run_dir, new_run=mlflow_run != prior_run), mlflow_run, experiment_id,
                  target.uri)


def _exists(client, mlflow_run: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(mlflow_run).info.lifecycle_stage != "deleted"
    except MlflowException:  # deleted for good, or another store: the resumed run starts a new one
        return False


# --- afterwards: workbench export-mlflow -----------------------------------------------------------

@dataclass(frozen=True)
class Replayed:
    mlflow_run: str
    experiment_id: str
    uri: str
    metrics: int
    files: int
    existed: bool  # the MLflow run was there already: nothing was sent


def replay(run_dir: Path, run_id: str, values: dict[str, Any], status: str, *, uri: str | None = None,
           experiment: str | None = None, again: bool = False) -> Replayed:
    """A finished run's events.jsonl into a new MLflow run (train.log too); with `again` False, a
    run already there (tagged with this run id) is left as it is."""
    from workbench.events import read_events

    target = target_of(values, run_dir.parent, uri, experiment)
    client = _client(target)
    experiment_id = _experiment_id(client, target)
    existing = find_run(client, experiment_id, run_id)
    if existing and not again:
        return Replayed(existing, experiment_id, target.uri, 0, 0, True)
    events = read_events(rundir.events_file(run_dir)).events
    translator = Translator(run_dir)
    b = translator.batch(e for e in events if not isinstance(e, End))
    log = run_dir / rundir.TRAIN_LOG
    if log.is_file():
        b.files.append((log, None))
    last = next((e for e in reversed(events) if isinstance(e, End)), None)
    tail = translator.batch([End(seq=-1, t=last.t if last else time.time(), type="end", extra=None, status=status,
                                 error=last.error if last else None)])
    mlflow_run = client.create_run(experiment_id, run_name=run_id).info.run_id
    try:
        send(client, mlflow_run, b)
        send(client, mlflow_run, tail)
        client.set_tag(mlflow_run, RUN_TAG, run_id)  # last: a half-sent run is not taken for a sent one
    except Exception as e:  # noqa: BLE001 - the server, its artifact store (S3 credentials...): the user's to fix
        problem = first_line(e)
        try:
            client.delete_run(mlflow_run)
        except Exception as gone:  # noqa: BLE001 - the server went away: say both
            problem += f"; the half-sent MLflow run {mlflow_run} is left (deleting it failed: {first_line(gone)})"
        raise UserError(f"MLflow: sending {run_id} to {public_uri(target.uri)} failed: {problem}") from None
    return Replayed(mlflow_run, experiment_id, target.uri, len(b.metrics) + len(tail.metrics),
                    len(b.files) + len(tail.files) + len(b.dicts), False)
