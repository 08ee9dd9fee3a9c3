"""Telemetry overhead: step time of a real training loop with the sampler thread at 1 Hz vs off.

The project's own pieces, in one process: the demo encoder recipe's data
(recipes/demo/encoder_multilabel.toml through load_recipe + load_splits), its tiny DistilBERT
(resolve_source -> build_tiny), LoRA through workbench.models.load, and a plain torch loop of
forward / backward / optimizer step over a fixed set of batches, so the only thing that differs
between the two arms is the `TelemetrySampler` thread (1 Hz, writing through an EventWriter in a
temporary run folder, as the trainer does). Segments of a fixed wall time alternate off / on in
an A B B A order (drift hits both arms alike); each segment's step time is its mean (elapsed /
steps: a sample that stalls one step must count), and the overhead is the median over adjacent
off/on pairs of on / off. Beside wall time, each segment's process CPU time per step (every
thread, so the sampler's own work is in it, but time spent descheduled by other load is not) gives
a second, steadier ratio; and one sample() call is timed directly, a noise-free bound on what
the thread can cost. On a CPU, torch runs one compute thread here (see run()).

    python benchmarks/bench_telemetry.py [--quick | --smoke]     # --smoke: one pair of 0.3 s segments
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import by_size, main  # noqa: E402 - the shared runner (arguments, row table)

RECIPE = ROOT / "recipes" / "demo" / "encoder_multilabel.toml"
INTERVAL_S = 1.0
GOAL = 1.01


def _setup():
    """(step function, device name, steps per batch set): the demo model with LoRA, fixed batches."""
    import torch

    from workbench.models.load import apply_method, load_sequence_classifier, quiet_transformers
    from workbench.models.source import resolve_source
    from workbench.recipe import load_recipe
    from workbench.tasks import load_splits

    quiet_transformers()
    recipe = load_recipe(RECIPE)
    splits = load_splits(recipe.values)
    path = resolve_source(recipe.view, splits.train.texts)
    loaded = load_sequence_classifier(path, splits.label_names, seed=recipe.train.seed, recipe=recipe.view)
    model = apply_method(loaded, recipe.view)
    tok = loaded.tokenizer
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).train()

    bs = recipe.train.batch_size
    texts, labels = splits.train.texts, splits.train.labels
    batches = []
    for start in range(0, min(len(texts), 8 * bs), bs):
        enc = tok(texts[start:start + bs], truncation=True, max_length=recipe.model.max_length,
                  padding=True, return_tensors="pt")
        enc = {k: v.to(device) for k, v in enc.items()}
        enc["labels"] = torch.tensor(labels[start:start + bs], dtype=torch.float32, device=device)
        batches.append(enc)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.train.learning_rate)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    state = {"i": 0}

    def step() -> None:
        batch = batches[state["i"] % len(batches)]
        state["i"] += 1
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()

    return step, device


def _segment(step, seconds: float) -> tuple[float, float]:
    """Mean wall time and mean process CPU time (every thread, the sampler's included) per step,
    over a segment of about `seconds`."""
    n = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return elapsed / n, (time.process_time() - c0) / n


def run(size: str = "full") -> list[dict]:
    import torch

    seg_s, n_segments = by_size(size, (3.0, 16), (2.0, 6), (0.3, 2))
    threads = torch.get_num_threads()
    try:
        step, device = _setup()
        if device == "cpu":
            # On a small shared CPU, torch's OpenMP pool of every core collapses under outside
            # load (a 75 ms step took 4 s at load 7 on 2 cores): one compute thread keeps the
            # figures about the sampler, not about thread-pool contention.
            torch.set_num_threads(1)
        return _measure(step, device, seg_s, n_segments, warmup_s=by_size(size, 1.0, 1.0, 0.2),
                        probes=by_size(size, 50, 50, 5))
    finally:
        torch.set_num_threads(threads)


def _measure(step, device: str, seg_s: float, n_segments: int, warmup_s: float, probes: int) -> list[dict]:
    import torch

    from workbench.events import EventWriter
    from workbench.telemetry.sampler import TelemetrySampler

    _segment(step, warmup_s)  # warm-up: allocator, kernels, optimizer state

    with tempfile.TemporaryDirectory(prefix="bench_telemetry.") as tmp:
        writer = EventWriter(Path(tmp) / "events.jsonl")
        counts = {"telemetry": 0}

        def emit(type: str, **fields):
            counts[type] = counts.get(type, 0) + 1
            return writer.emit(type, **fields)

        times: dict[bool, list[float]] = {False: [], True: []}
        order = [[False, True], [True, False]]  # A B, B A, A B, ...
        pairs: list[float] = []
        cpu_pairs: list[float] = []
        gpus = 0
        for k in range(n_segments // 2):
            seg, cpu = {}, {}
            for on in order[k % 2]:
                sampler = None
                if on:
                    sampler = TelemetrySampler(emit, INTERVAL_S, rank=0, local_rank=0, local_world_size=1)
                    sampler.start()
                seg[on], cpu[on] = _segment(step, seg_s)
                if sampler is not None:
                    sampler.stop()
                    gpus = len(sampler.gpus)
                times[on].append(seg[on])
            pairs.append(seg[True] / seg[False])
            cpu_pairs.append(cpu[True] / cpu[False])

        # One sample() call timed directly: what the thread does once a second.
        samples = counts["telemetry"]
        probe = TelemetrySampler(emit, INTERVAL_S, rank=0, local_rank=0, local_world_size=1)
        probe.start()  # opens NVML; its thread's own first sample is a second away, after these
        t0 = time.perf_counter()
        for _ in range(probes):
            probe.sample()
        sample_s = (time.perf_counter() - t0) / probes
        probe.stop()
        writer.close()

    off, on = statistics.median(times[False]), statistics.median(times[True])
    ratio, cpu_ratio = statistics.median(pairs), statistics.median(cpu_pairs)
    threads = f", {torch.get_num_threads()} torch thread(s)" if device == "cpu" else ""
    where = f"tiny DistilBERT + LoRA on {device}{threads}, batch 16"
    spread = f"pairs {min(pairs):.3f}x..{max(pairs):.3f}x"
    return [
        {"benchmark": "telemetry", "what": f"step time, sampler off ({where}; {n_segments // 2} segments of {seg_s:g} s per arm)",
         "value": f"{off * 1000:.2f} ms", "goal": "", "ok": None},
        {"benchmark": "telemetry", "what": f"step time, sampler on at {INTERVAL_S:g} Hz ({samples} telemetry events, "
                                           f"{gpus} GPU(s) read)",
         "value": f"{on * 1000:.2f} ms", "goal": "", "ok": None},
        {"benchmark": "telemetry", "what": f"step time on / off, median of {len(pairs)} adjacent ABBA pairs ({spread})",
         "value": f"{ratio:.3f}x", "goal": f"<= {GOAL:.2f}x", "ok": ratio <= GOAL},
        {"benchmark": "telemetry", "what": f"process CPU time per step on / off (all threads, the sampler's included; "
                                           f"less sensitive to other load on the machine), median of {len(cpu_pairs)} "
                                           f"pairs ({min(cpu_pairs):.3f}x..{max(cpu_pairs):.3f}x)",
         "value": f"{cpu_ratio:.3f}x", "goal": "", "ok": None},
        {"benchmark": "telemetry", "what": "one sample() call (psutil CPU % + RSS"
                                           + (", NVML per GPU" if gpus else "") + " + event write), timed directly; "
                                           f"at {INTERVAL_S:g} Hz that is {sample_s / INTERVAL_S * 100:.3f} % of one core",
         "value": f"{sample_s * 1e6:.0f} us", "goal": "", "ok": None},
    ]


if __name__ == "__main__":
    raise SystemExit(main(run))
