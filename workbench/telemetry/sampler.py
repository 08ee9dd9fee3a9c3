"""The sampler thread each training process runs: every `interval` seconds, one `telemetry`
event per GPU it uses and one for the host (CPU %, this process's RSS), tagged with host and rank."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

from workbench.telemetry import gpus as nvml_gpus

Emit = Callable[..., Any]


class TelemetrySampler(threading.Thread):
    def __init__(self, emit: Emit, interval: float, *, rank: int = 0, local_rank: int = 0,
                 local_world_size: int = 1):
        super().__init__(name="telemetry", daemon=True)
        self.emit, self.interval, self.rank = emit, interval, rank
        self.local_rank, self.local_world_size = local_rank, local_world_size
        self.host = socket.gethostname()
        self._halt = threading.Event()
        self.gpus: list[nvml_gpus.Gpu] = []
        self.note = ""

    def start(self) -> None:
        import psutil

        self._process = psutil.Process()
        psutil.cpu_percent(None)  # primes the counter: the first real reading covers one interval
        self.gpus, detail = nvml_gpus.open_gpus(self.local_rank, self.local_world_size)
        self.note = (f"GPU telemetry via NVML for {detail}" if self.gpus
                     else f"no GPU telemetry ({detail}): host CPU and RSS only")
        super().start()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        import psutil

        for gpu in self.gpus:
            self.emit("telemetry", host=self.host, rank=self.rank, **nvml_gpus.read_gpu(gpu))
        self.emit("telemetry", host=self.host, rank=self.rank, gpu=None,
                  cpu_pct=psutil.cpu_percent(None), rss_bytes=self._process.memory_info().rss)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(timeout=5)
        if self.gpus:
            nvml_gpus.close()
