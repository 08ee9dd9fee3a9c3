"""The event-file contract: `runs/<run_id>/events.jsonl`.

One JSON object per line, flushed per line, appended by the training process (rank 0).
Every event: {"seq": n, "t": unix_seconds, "type": ...}; seq strictly increasing from 0.

Types and their fields (docs/architecture.md, "Event file contract"; the store's ingestion reads exactly these):
  start       run_id, recipe (flat resolved values), versions, host, pid, world_size, attempt (1, +1 per
              resume), resumed (on a resumed start: step, checkpoint, base_kept)
  model       trainable_params, total_params, source, resolved_path, method
  step        step, max_steps, epoch, loss, lr, grad_norm, samples_per_s, tokens_per_s
  eval        phase (base|epoch|tuned|prior), split, step, epoch, labels {label: {metric: value}}, aggregates {metric: value}
  telemetry   host, rank, gpu, util, mem_used, mem_total, power_w, temp_c | host, rank, cpu_pct, rss_bytes
  checkpoint  step, path
  summary     train_runtime_s (trainer.train() wall time), train_seconds (training steps only),
              train_samples_per_s (over train_seconds), trainer_samples_per_s (the Trainer's own figure,
              evaluation and checkpoint saves included), train_steps, peak_mem_bytes, peak_mem_kind, optimizer
  artifact    kind, path, (extra fields)
  log         level, message, phase (optional: the stage the run enters, e.g. "base eval")
  warnings    items [{code, message}]: the guardrails after the tuned evaluation (workbench/metrics/
              guardrails.py), empty when none fired
  tracking    service (mlflow), run, experiment, uri: the experiment tracker's run this run logs to
  targets     items [{metric, split, target, value, met}]: eval.targets judged on the tuned model at the end
              (test split when there is one, else validation; value null: the evaluation lacks the metric)
  end         status (completed|failed|interrupted), error

Readers tolerate a torn last line (a write in progress, or a process killed mid-write): it is
left unread until it is completed. A garbage line elsewhere is skipped with a warning naming
the file and line. Readers hold a few MiB of the file at once, whatever its size (`read_events`
in batches); a line over WORKBENCH_EVENT_LINE_LIMIT (64 MiB) is never read: an error `log`
event with its seq, naming the file and line, stands in its place.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, TypeGuard

import orjson

# The run statuses, listed here once (the store, `runs --status`, reckon, the app's colours and MLflow's export
# import them). An `end` event says one of END_STATUSES: `pruned` is a `workbench tune` trial its pruner
# stopped (train/prune.py); a run is also `cancelled` by a stop or its scheduler (launch/follow.py), and
# `queued` / `running` until one of them.
UNFINISHED_STATUSES = ("queued", "running")
END_STATUSES = ("completed", "failed", "interrupted", "pruned")
FINAL_STATUSES = (*END_STATUSES, "cancelled")
RUN_STATUSES = (*UNFINISHED_STATUSES, *FINAL_STATUSES)


# The writer looks at most this often (seconds) whether the folder's events.jsonl is still the file it
# writes (one stat of the path: a few microseconds, which a writer of thousands of events a second
# would pay at each), and always before `end` and at close. Events written in between are in the file
# it holds open, which a restore copies whole.
FOLDER_CHECK_S = 0.5


class EventWriter:
    """Append-only, line-flushed, thread-safe writer (the telemetry sampler writes from a thread).

    The file is the run's record: when the folder's events.jsonl is no longer the file written (deleted,
    moved away, a hard-linked backup kept and the name removed, or replaced: a cleanup script, an rsync
    or a restore renamed over it), the writer notices (`_keep_in_folder`: the path's device and inode
    against the open file's) and puts its whole stream back under the name, from the file it still
    holds open; a file found in its place is kept beside it (`events.jsonl.displaced-T`, made unique).
    A warning `log` event says so. Where that cannot be done (a read-only folder, a full disk, a stale
    NFS handle) it writes on to the file it holds, and says so once; a check that cannot be made at all
    is passed over."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seq = _next_seq(self.path)
        # Called with each event as written, under the writer's lock (so in file order): they must
        # return at once (the MLflow sink only queues it for its own thread).
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        # Line-buffered text file: each write of a full line reaches the OS at once. Opened to read too:
        # a file deleted under the writer is written back from it (`_restore`).
        self._f = open(self.path, "a+", encoding="utf-8", buffering=1)
        self._id = _file_id(os.fstat(self._f.fileno()))  # what the folder's name must lead to
        self._checked = time.monotonic()  # when the folder was last looked at
        self._lost = False  # the folder's file is gone and could not be put back: not tried again

    def emit(self, type: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            self._say(self._keep_in_folder(force=type == "end"))
            return self._write({"seq": self._seq, "t": time.time(), "type": type, **fields})

    def _say(self, note: str | None) -> None:
        if note is not None:
            self._write({"seq": self._seq, "t": time.time(), "type": "log", "level": "warning", "message": note})

    def _write(self, event: dict[str, Any]) -> dict[str, Any]:
        line = json.dumps(event, default=_jsonable, separators=(",", ":"))
        self._f.write(line + "\n")
        self._f.flush()
        self._seq += 1
        for listener in self.listeners:
            listener(event)
        return event

    def _keep_in_folder(self, *, force: bool = False) -> str | None:
        """When the folder's name no longer leads to the file written, the stream put back under it;
        what to say. Looked at once per FOLDER_CHECK_S at most, unless `force`."""
        now = time.monotonic()
        if self._lost or (not force and now - self._checked < FOLDER_CHECK_S):
            return None
        self._checked = now
        try:
            if _file_id(os.stat(self.path)) == self._id:
                return None
        except FileNotFoundError:
            pass  # deleted, or moved away
        except OSError:
            return None  # cannot tell now (a stale NFS handle, the folder's path changed): looked at again later
        try:
            displaced = self._restore()
        except OSError as e:
            self._lost = True
            return (f"{self.path.name} was deleted or replaced while the run went on, and could not be written "
                    f"back ({e.strerror or e}): what follows reaches no reader until the run ends")
        kept = f"; the file found in its place is kept as {displaced.name}" if displaced else ""
        return (f"{self.path.name} was deleted or replaced while the run went on: its whole stream (seq 0 to "
                f"{self._seq - 1}) was written back from the trainer's open file{kept}")

    def _restore(self) -> Path | None:
        """The stream so far, copied from the open file into the folder under its name; the path a file
        found there was moved to, if any."""
        self._f.flush()
        fd = self._f.fileno()
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as out:
                offset = 0
                while chunk := os.pread(fd, 1 << 20, offset):
                    out.write(chunk)
                    offset += len(chunk)
            displaced = None
            if self.path.exists():
                displaced = self._displaced_path()
                os.replace(self.path, displaced)
            os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)
        old, self._f = self._f, open(self.path, "a+", encoding="utf-8", buffering=1)
        self._id = _file_id(os.fstat(self._f.fileno()))
        old.close()
        return displaced

    def _displaced_path(self) -> Path:
        """events.jsonl.displaced-T (T: unix seconds), or -T-2, -T-3...: a second file found in its
        place within the same second keeps the first."""
        base = f"{self.path.name}.displaced-{time.time():.0f}"
        path, n = self.path.with_name(base), 1
        while path.exists():
            n += 1
            path = self.path.with_name(f"{base}-{n}")
        return path

    def close(self) -> None:
        with self._lock:
            if not self._f.closed:
                self._say(self._keep_in_folder(force=True))  # what was written since the last look
                self._f.flush()
                os.fsync(self._f.fileno())
                self._f.close()

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _file_id(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _jsonable(o: Any) -> Any:
    # numpy / torch scalars and paths
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _next_seq(path: Path) -> int:
    """Continue numbering after the last complete event of an existing file (resumed runs)."""
    if not path.exists():
        return 0
    read, last = ReadResult([], 0, 0, more=True), -1
    while read.more:  # in batches: only the last seq is kept
        read = read_events(path, read.offset, read.line, max_bytes=CHUNK_BYTES)
        last = read.events[-1].seq if read.events else last
    if path.stat().st_size > read.offset:
        # A torn last line from a killed writer: terminate it so the next event starts clean.
        with open(path, "ab") as f:
            f.write(b"\n")
    return last + 1


# --- typed events: one class per type, built once per line by read_events --------------------------
# Consumers (the ingester, the live watch, the CLI's live progress, followers) read attributes.
# `extra` keeps what a line holds beyond its type's fields (an artifact's rows, bytes, split...), so
# nothing is lost. The readers of event files check each field's shape (`SHAPES`: a number, a string,
# a table of metrics) in the line's constructor; values are not ranged (an event file is read 100,000
# lines a second): consumers convert what they store (store/ingest.py `_num`, `_int`).

@dataclass(slots=True, eq=False)
class Event:
    seq: int
    t: float | None
    type: str
    extra: dict[str, Any] | None  # the line's fields its type does not name; None: there are none
    NAMES: ClassVar[tuple[str, ...]] = ()  # the subclass's own fields, in order
    DEFAULTS: ClassVar[tuple[Any, ...]] = ()  # their values when a line lacks them
    KNOWN: ClassVar[frozenset[str]] = frozenset(("seq", "t", "type"))  # the line keys that are fields

    def get(self, key: str, default: Any = None) -> Any:
        """A field by name (for code that reads an event generically, as a dict): a named field
        reads as its attribute (its default when the line lacks it), any other from `extra`."""
        if key in self.KNOWN:
            return getattr(self, key)
        return self.extra.get(key, default) if self.extra else default

    def __getitem__(self, key: str) -> Any:
        if key in self.KNOWN:
            return getattr(self, key)
        if self.extra is None:
            raise KeyError(key)
        return self.extra[key]


@dataclass(slots=True, eq=False)
class Start(Event):
    run_id: str | None = None
    recipe: dict[str, Any] | None = None
    versions: dict[str, str] | None = None
    host: str | None = None
    pid: int | None = None
    world_size: int | None = None
    env_forwarded: list[str] | None = None
    attempt: int | None = None
    resumed: dict[str, Any] | None = None   # on a resumed start: step, checkpoint, base_kept


@dataclass(slots=True, eq=False)
class Model(Event):
    source: str | None = None
    resolved_path: str | None = None
    method: str | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    new_modules: list[str] | None = None
    quantized: str | None = None


@dataclass(slots=True, eq=False)
class Step(Event):
    step: int | None = None
    max_steps: int | None = None
    epoch: float | None = None
    loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    samples_per_s: float | None = None
    tokens_per_s: float | None = None


@dataclass(slots=True, eq=False)
class Eval(Event):
    phase: str | None = None                # base | epoch | tuned | prior (the label prior: no model)
    split: str = "validation"
    step: int | None = None
    epoch: float | None = None
    labels: dict[str, dict[str, Any]] | None = None
    aggregates: dict[str, Any] | None = None
    groups: dict[str, dict[str, Any]] | None = None   # fairness of runs before schema 10: FPR per target group
    # fairness: per positive class, metrics/bias.py's report (group rows with FPR / FNR and bias AUCs)
    bias: dict[str, dict[str, Any]] | None = None
    confusion: dict[str, dict[str, int]] | None = None  # single-label: {gold: {predicted: count}}


@dataclass(slots=True, eq=False)
class Telemetry(Event):
    host: str | None = None
    rank: int | None = None
    gpu: int | None = None                  # None: the host's CPU / memory of this rank
    util: float | None = None
    mem_used: int | None = None
    mem_total: int | None = None
    power_w: float | None = None
    temp_c: float | None = None
    cpu_pct: float | None = None
    rss_bytes: int | None = None


@dataclass(slots=True, eq=False)
class Checkpoint(Event):
    step: int | None = None
    path: str | None = None


@dataclass(slots=True, eq=False)
class Summary(Event):
    train_runtime_s: float | None = None
    train_seconds: float | None = None
    train_samples_per_s: float | None = None
    trainer_samples_per_s: float | None = None
    train_steps: int | None = None
    peak_mem_bytes: int | None = None
    peak_mem_kind: str | None = None
    optimizer: str | None = None


@dataclass(slots=True, eq=False)
class Artifact(Event):
    kind: str | None = None                 # adapter | model | predictions | report | labels
    path: str | None = None                 # extra: split, phase, rows, bytes, ...


@dataclass(slots=True, eq=False)
class Log(Event):
    level: str = "info"
    message: str = ""
    phase: str | None = None                # the stage the run enters, when it says so


@dataclass(slots=True, eq=False)
class Warnings(Event):
    items: list[dict[str, str]] | None = None   # [{code, message}]


@dataclass(slots=True, eq=False)
class Tracking(Event):
    service: str | None = None              # mlflow
    run: str | None = None                  # the service's run id
    experiment: str | None = None
    uri: str | None = None                  # the tracking URI, credentials removed


@dataclass(slots=True, eq=False)
class Targets(Event):
    items: list[dict[str, Any]] | None = None   # [{metric, split, target, value, met}] (workbench/metrics/targets.py)


@dataclass(slots=True, eq=False)
class End(Event):
    status: str = "failed"
    error: str | None = None


TYPES: dict[str, type[Event]] = {"start": Start, "model": Model, "step": Step, "eval": Eval, "telemetry": Telemetry,
                                 "checkpoint": Checkpoint, "summary": Summary, "artifact": Artifact, "log": Log,
                                 "warnings": Warnings, "tracking": Tracking, "targets": Targets, "end": End}
for _cls in TYPES.values():
    _cls.NAMES = tuple(f.name for f in fields(_cls)[4:])
    _cls.DEFAULTS = tuple(f.default for f in fields(_cls)[4:])
    _cls.KNOWN = Event.KNOWN | set(_cls.NAMES)


def parse_event(d: dict[str, Any], *, checked: bool = False) -> Event:
    """The typed event of one decoded line (an unknown type stays a plain Event): a field the line
    lacks takes its class default, a key its type does not name goes to `extra`. `checked` (the
    readers of event files): its fields are checked against `SHAPES` ("what each field holds" below:
    a number or string of another kind reads as null, an unknown end status as failed; an event that
    cannot be taken raises Misfit).

    This is the ingester's hot path. A writer emits the same keys in the same order for every line
    of a kind, so each such layout gets a constructor of its own, made once (`_constructor`):
    a line then costs one dictionary lookup and one call, with no lookups of absent keys, and its
    fields' shapes checked in one expression. Measured (callgrind, benchmarks/bench_store.py's run
    folders, whole ingest_run): 55.5k instructions an event, against 49.4k when events were plain
    dicts and 59k through __init__ and `map(d.get, ...)`; the shape check added 4.1k a line of
    telemetry or steps to read_events (26.4k to 30.5k)."""
    return _parse(d, checked)


def _parse(d: dict[str, Any], checked: bool) -> Event:
    layout = (d["type"], *d)
    make = _CONSTRUCTORS.get(layout)
    if make is None:
        cls = TYPES.get(d["type"], Event)
        if len(_CONSTRUCTORS) >= MAX_LAYOUTS or len(d) > MAX_LAYOUT_KEYS:
            return _parse_generic(cls, d, checked)  # a file of ever new keys: stay correct, cache nothing
        make = _CONSTRUCTORS[layout] = _constructor(cls, layout[1:])
    return make(d, checked)


_CONSTRUCTORS: dict[tuple[str, ...], Callable[[dict[str, Any], bool], Event]] = {}  # (type, *keys) -> maker
MAX_LAYOUTS = 1024      # the trainer and sampler write a few dozen
MAX_LAYOUT_KEYS = 64    # the widest contract line has 17 keys


def _constructor(cls: type[Event], keys: tuple[str, ...]) -> Callable[[dict[str, Any], bool], Event]:
    """The constructor for lines of `cls` with exactly `keys`, in that order. Its source reads each
    present key once, checks the fields' shapes in one expression (`_misfit` says which one is wrong,
    when one is), and sets each absent field to its default (the way dataclasses build their
    __init__); keys are JSON strings, written with repr, so a line's content is never code."""
    present = set(keys)
    extra = [key for key in keys if key not in cls.KNOWN]
    local = {name: f"v_{i}" for i, name in enumerate(("t", *cls.NAMES)) if name in present}
    values = {"seq": "d['seq']", "t": local.get("t", "None"), "type": "d['type']",
              "extra": "{" + ", ".join(f"{key!r}: d[{key!r}]" for key in extra) + "}" if extra else "None"}
    values.update((name, local.get(name, f"default_{i}")) for i, name in enumerate(cls.NAMES))
    checks = [f"({local['t']} is None or (type({local['t']}) in number and 0 <= {local['t']} < time_end))"
              ] if "t" in local else []
    tests: dict[str, Any] = {"number": _NUMBER, "time_end": TIME_END}
    for name, shape in SHAPES.get(cls, {}).items():
        if name in local:
            tests[f"shape_{name}"] = shape.test
            checks.append(f"type({local[name]}) in shape_{name}" if isinstance(shape.test, frozenset)
                          else f"shape_{name}({local[name]})")
    fetch = "".join(f"    {var} = d[{name!r}]\n" for name, var in local.items())
    check = f"    if checked and not ({' and '.join(checks)}):\n        return misfit(cls, d)\n" if checks else ""
    # Slots set one by one, not through __init__ (which only sets them): one frame a line, not two.
    body = "".join(f"    e.{name} = {value}\n" for name, value in values.items())
    # the tests bound as the maker's defaults: locals, not globals, for the ~0.3 us the check costs a line
    bound = "".join(f", {name}={name}" for name in tests)
    source = f"def make(d, checked{bound}):\n{fetch}{check}    e = new(cls)\n{body}    return e\n"
    namespace: dict[str, Any] = {"cls": cls, "new": object.__new__, "misfit": _misfit, **tests,
                                 **{f"default_{i}": v for i, v in enumerate(cls.DEFAULTS)}}
    exec(source, namespace)
    return namespace["make"]


def _parse_generic(cls: type[Event], d: dict[str, Any], checked: bool = False) -> Event:
    """What `_constructor`'s makers do, for a layout that is not cached."""
    if checked and _misfits(cls, d):
        return _misfit(cls, d)
    extra = {key: value for key, value in d.items() if key not in cls.KNOWN} or None
    return cls(d["seq"], d.get("t"), d["type"], extra, *map(d.get, cls.NAMES, cls.DEFAULTS))


# --- what each field holds ----------------------------------------------------------------------
# Every reader takes an event's fields as its type says (the store's columns, the live progress's
# numbers, a label's metrics), so the readers of event files check each line's fields (`SHAPES`):
# - a number or a string field holding something else (a string where a number goes, a list where a
#   string goes) reads as null: the event is taken, the value is not (as the store took it before);
# - a time that is no time, or an object, list or table of another shape (a metric table that is a
#   number, groups that are a list) leaves nothing to take: the event is not taken, and an error `log`
#   event naming its file, line and field takes its place (`_parse_lines`), as for a line over the
#   limit; the rest of the file is read;
# - an `end` whose status is none of END_STATUSES reads as failed, its error saying what it said.
# Numbers are not ranged here: the store takes one its column cannot hold as NULL (store/rows.py).

class Misfit(ValueError):
    """A decoded event line that cannot be taken: which field, what it holds, what it should."""


@dataclass(frozen=True)
class Shape:
    what: str  # as a message says it: "a number"
    test: frozenset[type] | Callable[[Any], bool]  # the types it may be (null: always), or a test
    scalar: bool = False  # a value of another kind reads as null; else the event is not taken


def _table(v: Any) -> bool:
    return v is None or (type(v) is dict and all(type(row) is dict for row in v.values()))


def _resumed(v: Any) -> bool:
    return v is None or (type(v) is dict and type(v.get("step")) in _NUMBER and type(v.get("base_kept")) in _LIST)


# Unix seconds a date can be made of (datetime: years 1970 to 9999)
TIME_END = 253402300800
SEQ_END = 1 << 63  # a seq is below it: the store's BIGINT
_NUMBER: frozenset[type] = frozenset((int, float, type(None)))
_LIST: frozenset[type] = frozenset((list, type(None)))
_TEXT: frozenset[type] = frozenset((str, type(None)))
_OBJECT: frozenset[type] = frozenset((dict, type(None)))


def _time_fits(t: Any) -> bool:
    return t is None or (type(t) in _NUMBER and 0 <= t < TIME_END)


NUMBER = Shape("a number", _NUMBER, scalar=True)
TEXT = Shape("a string", _TEXT, scalar=True)
OBJECT = Shape("an object", _OBJECT)
LIST = Shape("a list", _LIST)
TABLE = Shape("an object of objects ({row: {column: value}})", _table)
RESUMED = Shape('an object with a number "step" and a list "base_kept"', _resumed)
STATUS = Shape(", ".join(END_STATUSES), END_STATUSES.__contains__)
TIME = Shape(f"unix seconds (a number from 0 to {TIME_END - 1})", _time_fits)

SHAPES: dict[type[Event], dict[str, Shape]] = {
    Start: {"run_id": TEXT, "recipe": OBJECT, "versions": OBJECT, "host": TEXT, "pid": NUMBER, "world_size": NUMBER,
            "env_forwarded": LIST, "attempt": NUMBER, "resumed": RESUMED},
    Model: {"source": TEXT, "resolved_path": TEXT, "method": TEXT, "trainable_params": NUMBER,
            "total_params": NUMBER, "new_modules": LIST, "quantized": TEXT},
    Step: dict.fromkeys(Step.NAMES, NUMBER),
    Eval: {"phase": TEXT, "split": TEXT, "step": NUMBER, "epoch": NUMBER, "labels": TABLE, "aggregates": OBJECT,
           "groups": TABLE, "confusion": TABLE, "bias": TABLE},
    Telemetry: {**dict.fromkeys(Telemetry.NAMES, NUMBER), "host": TEXT},
    Checkpoint: {"step": NUMBER, "path": TEXT},
    Summary: {**dict.fromkeys(Summary.NAMES, NUMBER), "peak_mem_kind": TEXT, "optimizer": TEXT},
    Artifact: {"kind": TEXT, "path": TEXT},
    Log: {"level": TEXT, "message": TEXT, "phase": TEXT},
    Warnings: {"items": LIST},
    Tracking: dict.fromkeys(Tracking.NAMES, TEXT),
    Targets: {"items": LIST},
    End: {"status": STATUS, "error": TEXT},
}


def _fits(shape: Shape, v: Any) -> bool:
    return type(v) in shape.test if isinstance(shape.test, frozenset) else shape.test(v)


def _misfits(cls: type[Event], d: dict[str, Any]) -> list[tuple[str, Shape]]:
    """(field, its shape) for each field of `d` that does not hold what it should."""
    shapes = {"t": TIME, **SHAPES.get(cls, {})}
    return [(name, shape) for name, shape in shapes.items() if name in d and not _fits(shape, d[name])]


def _misfit(cls: type[Event], d: dict[str, Any]) -> Event:
    """The slow path of a line whose shape check failed: its number and string fields of another kind
    read as null, an `end`'s unknown status as failed (its error says what it said); any other field
    that does not fit raises Misfit, naming it."""
    wrong = _misfits(cls, d)
    for name, shape in wrong:
        if not shape.scalar and shape is not STATUS:
            raise Misfit(f"{name} is {_shown(d[name])}, expected {shape.what}")
    fixed = {**d, **{name: None for name, shape in wrong if shape.scalar}}
    if any(shape is STATUS for _, shape in wrong):
        said = f"its end event said status {_shown(d['status'])}, none of {STATUS.what}"
        fixed.update(status="failed", error=f"{said}: {fixed['error']}" if fixed.get("error") else said)
    return _parse_generic(cls, fixed)


def _shown(v: Any) -> str:
    """A field's value as a message shows it: JSON, cut at 60 characters."""
    text = json.dumps(v, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def stand_in(e: Event) -> TypeGuard[Log]:
    """An error `log` event a reader put in place of a line it did not take (over the limit, or a field
    that does not hold what its type says)."""
    return isinstance(e, Log) and e.extra is not None and ("skipped_bytes" in e.extra or "misfit" in e.extra)


def log_event(message: str, level: str = "info") -> Log:
    """A log event made by a reader, not read from a file (e.g. a follower's own notice); seq -1."""
    return Log(-1, time.time(), "log", None, level, message)


@dataclass
class ReadResult:
    events: list[Event]
    offset: int  # byte offset just after the last complete line read
    line: int  # number of complete lines read so far (from the start of the file)
    warnings: list[str] = field(default_factory=list)
    more: bool = False  # stopped at `max_bytes` with complete lines left to read: call again from `offset`


# Lines are read in chunks of this many bytes: what a reader holds at once beside the events it
# returns, whatever the file's size (a tail of 2 GB read at once, then split, held it three times).
CHUNK_BYTES = 4 << 20
# The longest event line read (WORKBENCH_EVENT_LINE_LIMIT overrides it): a longer one is skipped, in
# its place an error `log` event naming the file and line, so a run is never lost to one huge
# event. Decoded, a line of numbers takes ~10x its bytes as Python objects; the trainer's largest
# lines (an evaluation of 10,000 classes) are ~1 MB.
EVENT_LINE_LIMIT = 64 << 20
LIMIT_ENV = "WORKBENCH_EVENT_LINE_LIMIT"
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", re.IGNORECASE)
# seq, t and type in the head of a line over the limit (the writer puts them first)
_HEAD = {"seq": re.compile(rb'"seq":\s*(\d+)'), "t": re.compile(rb'"t":\s*(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)'),
         "type": re.compile(rb'"type":\s*"(\w+)"')}


def event_line_limit() -> int:
    """Bytes of the longest event line read: WORKBENCH_EVENT_LINE_LIMIT (e.g. 64M, 1G, 500000), else
    EVENT_LINE_LIMIT."""
    text = os.environ.get(LIMIT_ENV, "")
    if not text.strip():
        return EVENT_LINE_LIMIT
    m = _SIZE.fullmatch(text)
    if m is None or float(m.group(1)) < 1:
        from workbench.errors import UserError

        raise UserError(f"{LIMIT_ENV}={text!r}: expected a size in bytes such as 64M, 1G or 500000")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " "))


def size_text(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def read_events(path: str | Path, offset: int = 0, line: int = 0, *, max_bytes: int | None = None) -> ReadResult:
    """Read complete event lines from byte `offset` on; `line` is the count of lines before it.

    With `max_bytes`, stop after about that many bytes of lines (`more`: lines may be left):
    callers that store or show events as they go (ingestion, followers) read a file of any size in
    batches of bounded memory. A line over the limit (`event_line_limit`) is never held in memory:
    it reads as an error `log` event with its seq and a message naming the file and line (a warning
    when its head names no seq)."""
    path = Path(path)
    try:
        f = open(path, "rb", buffering=0)
    except FileNotFoundError:
        return ReadResult([], offset, line)
    with f:
        return _read_open(f, path, offset, line, max_bytes)


def _read_open(f, path: Path, offset: int, line: int, max_bytes: int | None) -> ReadResult:
    """`read_events` on a file already open (unbuffered, binary): `read_from` reads the very file it
    checked against its mark."""
    limit = event_line_limit()
    events: list[Event] = []
    warnings: list[str] = []
    # a batch is max_bytes or a little more (a chunk at most, or one long line); 64 KiB reads at least
    chunk = CHUNK_BYTES if max_bytes is None else min(CHUNK_BYTES, max(max_bytes, 1 << 16))
    start = offset
    while max_bytes is None or offset - start < max_bytes:
        f.seek(offset)
        data = f.read(chunk)
        end = data.rfind(b"\n") + 1  # after the last newline: a torn line, or the start of a long one
        if end:
            line = _parse_lines(data[:end].split(b"\n")[:-1], path, line, limit, events, warnings)
            offset += end
        elif len(data) == chunk:  # a line longer than a chunk
            data = b""  # let go before the scan reads the next chunk
            newline = _next_newline(f, offset + chunk)
            if newline is None:
                break  # still being written
            length = newline - offset
            f.seek(offset)
            if length > limit:
                line += 1
                _over_limit(path, line, f.read(512), length, limit, events, warnings)
            else:
                line = _parse_lines((f.read(length),), path, line, limit, events, warnings)
            offset += length + 1
            continue
        if len(data) < chunk:
            break  # the end of the file
    else:  # stopped at max_bytes: lines may be left
        return ReadResult(events, offset, line, warnings, more=os.fstat(f.fileno()).st_size > offset)
    return ReadResult(events, offset, line, warnings)


def _parse_lines(lines: list[bytes] | tuple[bytes, ...], path: Path, line: int, limit: int, events: list[Event],
                 warnings: list[str]) -> int:
    """Decode complete lines (newlines removed) into `events`; returns the line count after them."""
    loads, parse = orjson.loads, _parse  # this loop is the hot path of ingestion: no other per-line call or strip
    for raw in lines:
        line += 1
        if len(raw) > limit:
            _over_limit(path, line, raw[:512], len(raw), limit, events, warnings)
            continue
        try:
            try:
                ev = loads(raw)
            except orjson.JSONDecodeError:
                if not raw.strip():
                    continue
                # what orjson refuses that json takes: NaN / Infinity (json.dumps writes them for a
                # diverged loss), integers past 64 bits
                ev = json.loads(raw)
            if type(ev) is not dict or type(ev.get("type")) is not str or type(seq := ev.get("seq")) is not int or not (
                    0 <= seq < SEQ_END):
                raise ValueError("not an event object with seq and type")
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            warnings.append(f"{path}:{line}: skipped unreadable event ({str(e)[:80]})")
            continue
        try:
            events.append(parse(ev, True))
        except Misfit as e:
            t = ev.get("t")
            events.append(Log(ev["seq"], t if _time_fits(t) else None, "log", {"misfit": ev["type"]}, "error",
                              f"{path}:{line}: the {ev['type']} event (seq {ev['seq']}): {e}: skipped, the rest of "
                              "the run is read"))
    return line


def _is_seq(v: Any) -> bool:
    """What a seq is: an integer the store's BIGINT holds, from 0."""
    return type(v) is int and 0 <= v < SEQ_END


def _next_newline(f, pos: int) -> int | None:
    """The offset of the next newline at or after `pos`; None when the file ends first. Scans in
    chunks, keeping none of them."""
    f.seek(pos)
    while chunk := f.read(CHUNK_BYTES):
        nl = chunk.find(b"\n")
        if nl >= 0:
            return pos + nl
        pos += len(chunk)
        del chunk  # one chunk held at a time
    return None


def _over_limit(path: Path, line: int, head: bytes, length: int, limit: int, events: list[Event],
                warnings: list[str]) -> None:
    """A line over the limit: an error `log` event in its place (seq and type read from its head),
    or a warning when its head names no seq."""
    found = {key: m[1] for key, pattern in _HEAD.items() if (m := pattern.search(head))}
    seq = int(found["seq"]) if "seq" in found else None
    t = float(found["t"]) if "t" in found else None
    kind = found["type"].decode() if "type" in found else None
    what = f"the {kind} event (seq {seq})" if kind and seq is not None else "an event line"
    message = (f"{path}:{line}: {what} is {size_text(length)}, over the {size_text(limit)} limit of one event line: "
               f"skipped, the rest of the run is read ({LIMIT_ENV} raises the limit)")
    if seq is None:
        warnings.append(message)
    else:
        events.append(Log(seq, t, "log", {"skipped_bytes": length}, "error", message))


def last_event(path: str | Path, types: tuple[str, ...] | None = None, *, chunk: int = 1 << 16) -> Event | None:
    """The last complete event of a file (the last of one of `types`, when given), read from the end
    backwards: a status check of a long run reads a few KiB, not the whole file. None when there is
    none (no file, no such event). A torn last line does not count; unreadable lines, and lines over
    the limit (`event_line_limit`), are passed over."""
    wanted = re.compile(rb'"type"\s*:\s*"(?:' + b"|".join(re.escape(t.encode()) for t in types) + rb')"') if types else None
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None
    with f:
        end = f.seek(0, os.SEEK_END)
        while end > 0:  # back to just after the last newline: what follows it is a torn line
            start = max(0, end - chunk)
            f.seek(start)
            nl = f.read(end - start).rfind(b"\n")
            if nl >= 0:
                end = start + nl + 1
                break
            end = start
        limit = event_line_limit()
        carry = b""  # the end of a line cut by the chunk boundary (the chunk before it holds its start)
        skipping = False  # inside a line over the limit: its bytes are let go until its start
        while end > 0:
            start = max(0, end - chunk)
            f.seek(start)
            data = f.read(end - start)
            end = start
            if skipping:
                nl = data.rfind(b"\n")
                if nl < 0:
                    continue
                data, skipping = data[:nl + 1], False
            pieces = (data + carry).split(b"\n")
            carry, whole = (pieces[0], pieces[1:]) if start > 0 else (b"", pieces)
            if len(carry) > limit:  # passed over like an unreadable line, never held whole
                carry, skipping = b"", True
            for raw in reversed(whole):
                if len(raw) > limit:
                    continue
                if not raw.strip() or (wanted is not None and wanted.search(raw) is None):
                    continue
                try:
                    ev = json.loads(raw)
                except (ValueError, UnicodeDecodeError, RecursionError):
                    continue
                if type(ev) is dict and _is_seq(ev.get("seq")) and type(ev.get("type")) is str and (
                        types is None or ev["type"] in types):
                    try:
                        return parse_event(ev, checked=True)
                    except Misfit:
                        continue  # passed over, as an unreadable line
    return None


# A reader's mark holds fingerprints of this many bytes: the file's first ones and those just before
# its offset. Each covers a whole event's seq and t (microseconds), so another file (or the same file
# rewritten) does not share them; reading them back costs two small reads per call.
MARK_BYTES = 256


@dataclass(frozen=True)
class FileMark:
    """How far a reader got into an event file (byte offset, lines), with fingerprints of the file's
    first bytes (`head`) and of those just before `offset` (`tail`). An appended file keeps both; a
    truncated, rewritten or replaced one does not (`read_from`). `inode` only words what a live
    follower says (another file, not this one cut short); the store keeps none: a copied run folder
    has other inodes and the same events."""
    offset: int = 0
    line: int = 0
    head: str | None = None
    tail: str | None = None
    inode: int | None = field(default=None, compare=False)


@dataclass
class Reading:
    result: ReadResult         # the events after the mark, or (restarted) from the file's start
    mark: FileMark             # where the next read goes on
    restarted: str | None = None  # why the file was read again from its start: it is not the one read
    same_file: bool = True     # restarted, but its first bytes are those read before (truncated or rewritten)
    missing: bool = False      # no such file (the mark stays)


def read_from(path: str | Path, mark: FileMark, *, max_bytes: int | None = None) -> Reading:
    """The complete events of `path` after `mark`; from the file's start again when it is not the file
    the mark was taken on: shorter than the offset read, other first bytes, or other bytes just before
    the offset (truncated, then written past it). With `max_bytes`, one batch (`result.more`: call again
    with the returned mark). Raises OSError when it cannot be read (not missing)."""
    path = Path(path)
    try:
        f = open(path, "rb", buffering=0)
    except FileNotFoundError:
        return Reading(ReadResult([], mark.offset, mark.line), mark, missing=True)
    with f:
        fd = f.fileno()
        st = os.fstat(fd)
        restarted, same = _changed(fd, st.st_size, st.st_ino, mark)
        offset, line = (0, 0) if restarted else (mark.offset, mark.line)
        result = _read_open(f, path, offset, line, max_bytes)
        head, tail = _fingerprints(fd, result.offset)
    return Reading(result, FileMark(result.offset, result.line, head, tail, st.st_ino), restarted, same)


def _fingerprint(data: bytes) -> str:
    import hashlib

    return hashlib.blake2b(data, digest_size=8).hexdigest()


def _fingerprints(fd: int, offset: int) -> tuple[str | None, str | None]:
    """(head, tail) of a file read up to `offset`: its first bytes and those before `offset`."""
    if offset <= 0:
        return None, None
    n = min(MARK_BYTES, offset)
    return _fingerprint(os.pread(fd, n, 0)), _fingerprint(os.pread(fd, n, offset - n))


def file_mark(fd: int, offset: int) -> FileMark:
    """The mark of an open file read up to `offset` (its lines not counted): what a follower sends the
    remote agent for its copy of a remote file, which the agent checks against that file (`changed`)."""
    head, tail = _fingerprints(fd, offset)
    return FileMark(offset, 0, head, tail)


def changed(fd: int, size: int, mark: FileMark) -> str | None:
    """Why the open file `fd` (of `size` bytes) is not the file `mark` was taken on, or None: `read_from`'s
    check, for a reader that keeps no inode (the remote agent, about a follower's copy)."""
    return _changed(fd, size, 0, mark)[0]


def _changed(fd: int, size: int, inode: int, mark: FileMark) -> tuple[str | None, bool]:
    """(why the file is not the one `mark` was taken on, or None; whether its first bytes still are).
    Another inode with the bytes read before (a copy put in its place) is read on."""
    if mark.offset <= 0:
        return None, True
    n = min(MARK_BYTES, mark.offset)
    other = mark.inode is not None and inode != mark.inode
    if mark.head is not None and size >= n and _fingerprint(os.pread(fd, n, 0)) != mark.head:
        return "was replaced (its first bytes are not those read before)", False
    if size < mark.offset:
        # its first bytes are those read (or too few to tell, or no fingerprint kept by an older
        # workbench): the same file cut short, its events read again by seq
        if other:
            return f"was replaced by a shorter file ({size:,} bytes, below the {mark.offset:,} already read)", True
        return f"shrank to {size:,} bytes, below the {mark.offset:,} already read", True
    if mark.tail is not None and _fingerprint(os.pread(fd, n, mark.offset - n)) != mark.tail:
        if other:
            return f"was replaced (the bytes before the {mark.offset:,} already read are not those read)", True
        return f"changed before the {mark.offset:,} bytes already read (truncated and written again?)", True
    return None, True
