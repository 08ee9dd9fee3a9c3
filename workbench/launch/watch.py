"""The live state of one followed run, built from its events: stage, progress and ETA, loss /
learning-rate / eval series, the latest telemetry per GPU and host with short histories, and the
log tail. Pure Python (no UI): the TUI's monitor renders it, tests feed it events directly."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.events import FINAL_STATUSES, End, Eval, Event, Log, Model, Start, Step, Summary, Telemetry

HISTORY = 120  # telemetry samples kept per device for the sparklines


@dataclass
class Device:
    """One GPU (key ('gpu', host, gpu)) or one training process's host view (('host', host, rank))."""

    latest: Telemetry  # its readings by attribute, or by name (`get`) as console.telemetry_values reads them
    util: deque = field(default_factory=lambda: deque(maxlen=HISTORY))     # GPU util % | host CPU %
    memory: deque = field(default_factory=lambda: deque(maxlen=HISTORY))   # GPU memory % | host RSS GiB


@dataclass
class RunWatch:
    run_id: str
    run_dir: Path | None = None
    status: str = "queued"
    phase: str = ""
    error: str | None = None
    step: int = 0
    max_steps: int | None = None
    epoch: float | None = None
    started_t: float | None = None
    last_t: float | None = None
    losses: list[tuple[int, float]] = field(default_factory=list)
    lrs: list[tuple[int, float]] = field(default_factory=list)
    samples_per_s: float | None = None
    evals: dict[str, list[tuple[int, float]]] = field(default_factory=dict)   # {metric: [(step, value)]} (epoch/tuned)
    base: dict[str, float] = field(default_factory=dict)                        # base-model aggregates
    tuned: dict[str, float] = field(default_factory=dict)                       # tuned-model aggregates
    prior: dict[str, float] = field(default_factory=dict)                       # the label prior's (no model)
    devices: dict[tuple, Device] = field(default_factory=dict)
    logs: deque = field(default_factory=lambda: deque(maxlen=200))             # (level, message)
    trainable_params: int | None = None
    total_params: int | None = None
    world_size: int = 1
    host: str | None = None
    _step_times: deque = field(default_factory=lambda: deque(maxlen=50))      # (t, step) for the ETA
    settled: bool = False  # the follower has settled the final status (set_status)
    version: int = 0  # bumped on every change: views re-render only when it moved

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES

    def apply(self, events: Iterable[Event]) -> None:
        for e in events:
            self._apply(e)
        self.version += 1

    def set_status(self, status: str, error: str | None = None) -> None:
        """The final status, settled against the process / scheduler (a user's stop turns the
        trainer's `interrupted` into `cancelled`; a job killed without an end event gets one)."""
        self.status, self.error = status, error or self.error
        self.settled = True
        self.version += 1

    def _apply(self, e: Event) -> None:
        t = e.t
        if t is not None:
            self.last_t = t if self.last_t is None else max(self.last_t, t)
        if isinstance(e, Telemetry):
            self._telemetry(e)
        elif isinstance(e, Step):
            self.step, self.max_steps, self.epoch = e.step or 0, e.max_steps, e.epoch
            if e.loss is not None:
                self.losses.append((self.step, e.loss))
            if e.lr is not None:
                self.lrs.append((self.step, e.lr))
            self.samples_per_s = e.samples_per_s
            if t is not None:
                self._step_times.append((t, self.step))
        elif isinstance(e, Eval):
            agg = e.aggregates or {}
            if e.split != "validation":
                return
            if e.phase == "base":
                self.base = dict(agg)
                return
            if e.phase == "tuned":  # the best checkpoint's weights, scored again: not a new point of the curves
                self.tuned = dict(agg)
                return
            if e.phase == "prior":  # no model, no step: not a point of the curves
                self.prior = dict(agg)
                return
            for metric, value in agg.items():
                if value is not None:
                    self.evals.setdefault(metric, []).append((e.step or self.step, value))
        elif isinstance(e, Log):
            if e.phase:
                self.phase = e.phase
            self.logs.append((e.level, str(e.message)))
        elif isinstance(e, Start):
            self.status, self.started_t = "running", t
            self.host, self.world_size = e.host, e.world_size or 1
            if e.attempt and e.attempt > 1:  # a resumed attempt: the earlier one's end is not this one's
                self._new_attempt(e.resumed if isinstance(e.resumed, dict) else {})
        elif isinstance(e, Summary):
            if e.train_steps is not None:  # the step training ended at (early stopping: before max_steps)
                self.step = e.train_steps
        elif isinstance(e, Model):
            self.trainable_params, self.total_params = e.trainable_params, e.total_params
        elif isinstance(e, End):
            self.status, self.error = e.status, e.error
            self.phase = self.status

    def _telemetry(self, e: Telemetry) -> None:
        if e.gpu is not None:
            key: tuple = ("gpu", e.host, e.gpu)
            dev = self.devices.setdefault(key, Device(e))
            dev.latest = e
            dev.util.append(float(e.util or 0.0))
            total = e.mem_total or 0
            dev.memory.append(100.0 * (e.mem_used or 0) / total if total else 0.0)
        else:
            key = ("host", e.host, e.rank)
            dev = self.devices.setdefault(key, Device(e))
            dev.latest = e
            dev.util.append(float(e.cpu_pct or 0.0))
            dev.memory.append((e.rss_bytes or 0) / 2**30)

    def _new_attempt(self, resumed: dict) -> None:
        """A resumed attempt continues from its checkpoint's step: what the earlier attempt logged after
        it is redone (as the store supersedes it), its end and error no longer hold."""
        step = int(resumed.get("step") or 0)
        self.error, self.phase, self.settled = None, "", False
        self.step = step
        self.losses = [p for p in self.losses if p[0] <= step]
        self.lrs = [p for p in self.lrs if p[0] <= step]
        self.evals = {m: [p for p in pts if p[0] <= step] for m, pts in self.evals.items()}
        self.tuned, self.prior = {}, {}
        self._step_times.clear()

    @property
    def progress(self) -> float | None:
        """Done fraction: a completed run is whole (early stopping ends it before max_steps)."""
        if self.status == "completed":
            return 1.0
        return self.step / self.max_steps if self.max_steps else None

    def eta_s(self) -> float | None:
        """Seconds left at the recent step rate (the last 50 step events)."""
        if not self.max_steps or len(self._step_times) < 2 or self.ended:
            return None
        (t0, s0), (t1, s1) = self._step_times[0], self._step_times[-1]
        if s1 <= s0 or t1 <= t0:
            return None
        return (self.max_steps - s1) * (t1 - t0) / (s1 - s0)

    def elapsed_s(self, now: float) -> float | None:
        if self.started_t is None:
            return None
        end = self.last_t if self.ended and self.last_t is not None else now
        return max(0.0, end - self.started_t)
