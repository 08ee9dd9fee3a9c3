"""The telemetry sampler for real: psutil on this host; NVML where a GPU and driver exist."""

from __future__ import annotations

import os
import time

import pytest

from workbench.cli.live import telemetry_line
from workbench.telemetry import gpus as nvml_gpus
from workbench.telemetry.sampler import TelemetrySampler


def _collect(interval: float, seconds: float) -> tuple[TelemetrySampler, list[dict]]:
    got: list[dict] = []
    sampler = TelemetrySampler(lambda type, **f: got.append({"type": type, **f}), interval, rank=3)
    sampler.start()
    busy_until = time.monotonic() + seconds
    while time.monotonic() < busy_until:  # keep a core busy so CPU % has something to show
        sum(i * i for i in range(10_000))
    sampler.stop()
    return sampler, got


def test_host_samples_every_interval_tagged_with_host_and_rank():
    sampler, got = _collect(0.1, 1.0)
    host = [e for e in got if e["gpu"] is None]
    assert 5 <= len(host) <= 12
    assert {e["rank"] for e in got} == {3} and {e["host"] for e in got} == {os.uname().nodename}
    assert all(e["rss_bytes"] > 10 << 20 for e in host)  # this Python process, resident
    assert max(e["cpu_pct"] for e in host) > 10
    assert not sampler.is_alive()


def test_without_a_gpu_the_sampler_says_so_and_reports_host_only():
    gpus, detail = nvml_gpus.open_gpus(0, 1)
    if gpus:
        pytest.skip(f"this machine has NVIDIA GPUs ({detail})")
    sampler, got = _collect(0.1, 0.3)
    assert "host CPU and RSS only" in sampler.note and all(e["gpu"] is None for e in got)


def test_nvml_readings_on_a_gpu_machine():
    gpus, detail = nvml_gpus.open_gpus(0, 1)
    if not gpus:
        pytest.skip(f"no NVIDIA GPU here ({detail}): NVML readings are checked on GPU machines")
    reading = nvml_gpus.read_gpu(gpus[0])
    assert 0 <= reading["util"] <= 100 and 0 < reading["mem_used"] <= reading["mem_total"]
    assert reading["temp_c"] > 0
    _, got = _collect(0.1, 0.5)
    assert {e["gpu"] for e in got if e["gpu"] is not None} == {g.index for g in gpus}


def test_telemetry_lines_for_the_live_view():
    gib = 1 << 30
    gpu = {"host": "box", "rank": 0, "gpu": 1, "util": 97.0, "mem_used": 31 * gib, "mem_total": 80 * gib,
           "power_w": 245.4, "temp_c": 61.0}
    assert telemetry_line(gpu) == "gpu1@box r0  97%  31.0/80.0 GiB  245 W  61°C"
    assert telemetry_line({"host": "box", "rank": 2, "gpu": None, "cpu_pct": 34.0, "rss_bytes": 2 * gib}) == \
        "host box r2  cpu 34%  rss 2.00 GiB"
    del gpu["power_w"]  # boards without power readings: the field is left out
    assert "W" not in telemetry_line(gpu)
