"""RunWatch: the live state the monitor renders, fed events directly."""

from workbench.events import parse_event
from workbench.launch.watch import HISTORY, RunWatch


def feed(w: RunWatch, events: list[dict]) -> None:
    """Events as a follower hands them over: parsed once, typed."""
    w.apply([parse_event(e) for e in events])


def _steps(n, t0=100.0, dt=2.0, max_steps=100):
    return [{"type": "step", "seq": i, "t": t0 + dt * i, "step": 10 * i, "max_steps": max_steps,
             "epoch": i / 2, "loss": 1.0 / i, "lr": 1e-3, "samples_per_s": 50.0} for i in range(1, n + 1)]


def test_progress_and_eta_follow_the_step_rate():
    w = RunWatch("r")
    feed(w, [{"type": "start", "seq": 0, "t": 100.0, "host": "box", "world_size": 2}])
    feed(w, _steps(5))  # 10 steps every 2 s: 50 left at step 50 → 10 s
    assert (w.status, w.world_size, w.step, w.progress) == ("running", 2, 50, 0.5)
    assert abs(w.eta_s() - 10.0) < 1e-9
    assert w.elapsed_s(now=130.0) == 30.0
    assert [s for s, _ in w.losses] == [10, 20, 30, 40, 50]


def test_end_freezes_elapsed_and_drops_the_eta():
    w = RunWatch("r")
    feed(w, [{"type": "start", "seq": 0, "t": 100.0}, *_steps(3),
             {"type": "end", "seq": 9, "t": 150.0, "status": "failed", "error": "boom"}])
    assert w.ended and w.status == "failed" and w.error == "boom"
    assert w.eta_s() is None
    assert w.elapsed_s(now=10_000.0) == 50.0


def test_evals_keep_base_apart_and_series_per_metric():
    w = RunWatch("r")

    def ev(phase, step, f1):
        return {"type": "eval", "seq": step, "t": 1.0, "phase": phase, "split": "validation",
                "step": step, "aggregates": {"f1_micro": f1, "loss": 1 - f1}}

    feed(w, [ev("base", 0, 0.2), ev("epoch", 10, 0.5), ev("epoch", 20, 0.6),
             {**ev("epoch", 20, 0.9), "split": "test"}, ev("tuned", 20, 0.6), ev("prior", 0, 0.3)])
    assert w.base == {"f1_micro": 0.2, "loss": 0.8}
    # the test split is not plotted, nor the tuned rescoring, nor the label prior (no model, step 0)
    assert w.evals["f1_micro"] == [(10, 0.5), (20, 0.6)]
    assert w.tuned["f1_micro"] == 0.6 and w.prior["f1_micro"] == 0.3


def test_telemetry_keeps_latest_per_device_and_a_bounded_history():
    w = RunWatch("r")
    gib = 2**30
    feed(w, [{"type": "telemetry", "seq": i, "t": float(i), "host": "box", "rank": 0, "gpu": i % 2,
              "util": float(i % 100), "mem_used": 40 * gib, "mem_total": 80 * gib} for i in range(1000)])
    feed(w, [{"type": "telemetry", "seq": 1000, "t": 1000.0, "host": "box", "rank": 1, "cpu_pct": 90.0,
              "rss_bytes": 3 * gib}])
    gpu1 = w.devices[("gpu", "box", 1)]
    assert gpu1.latest["util"] == 99.0 and len(gpu1.util) == HISTORY and gpu1.memory[-1] == 50.0
    assert w.devices[("host", "box", 1)].memory[-1] == 3.0
    assert w.version == 2  # one bump per batch of events, however many events it held


def test_a_completed_run_is_whole_at_the_step_training_ended():
    """Early stopping ends training before max_steps: the summary's step is the last, the run is at 100 %."""
    w = RunWatch("r")
    feed(w, [{"type": "start", "seq": 0, "t": 100.0}, *_steps(3, max_steps=180),
             {"type": "summary", "seq": 10, "t": 120.0, "train_steps": 120},
             {"type": "end", "seq": 11, "t": 130.0, "status": "completed"}])
    assert (w.step, w.max_steps, w.progress) == (120, 180, 1.0)


def test_a_resumed_attempt_starts_from_its_checkpoint_without_the_earlier_end():
    """Read from the start of the file (a new follower): the failed attempt's error and the steps it logged
    after the checkpoint the new attempt resumes from are gone; the new attempt's own steps follow."""
    w = RunWatch("r")
    feed(w, [{"type": "start", "seq": 0, "t": 100.0, "attempt": 1}, *_steps(4),
             {"type": "end", "seq": 9, "t": 150.0, "status": "failed", "error": "killed"}])
    feed(w, [{"type": "start", "seq": 10, "t": 200.0, "attempt": 2, "resumed": {"step": 20}},
             {"type": "step", "seq": 11, "t": 210.0, "step": 30, "max_steps": 100, "loss": 0.2}])
    assert (w.status, w.error, w.step) == ("running", None, 30)
    assert [s for s, _ in w.losses] == [10, 20, 30]
    assert w.elapsed_s(now=220.0) == 20.0
