"""NVIDIA GPUs through NVML (the `pynvml` module of nvidia-ml-py): which ones this process
uses, and one reading of each. No driver, no library, no GPU: `open_gpus` says why."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass
class Gpu:
    index: int          # NVML index (what nvidia-smi shows)
    name: str
    handle: Any


def _visible(count: int, nvml) -> list[int]:
    """NVML indices named by CUDA_VISIBLE_DEVICES (indices or GPU-/MIG- UUIDs), in order."""
    spec = os.environ.get("CUDA_VISIBLE_DEVICES")
    if spec is None:
        return list(range(count))
    out: list[int] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item.isdigit():
            if int(item) < count:
                out.append(int(item))
            continue
        try:
            handle = nvml.nvmlDeviceGetHandleByUUID(item)
            out.append(nvml.nvmlDeviceGetIndex(handle))
        except nvml.NVMLError:
            continue  # MIG UUIDs and unknown ids: nothing NVML can read per device
    return out


def open_gpus(local_rank: int, world_size_here: int) -> tuple[list[Gpu], str]:
    """The GPUs this process should report, and what NVML said: their names, or why there are none.

    A lone process reports every visible GPU (device_map="auto" may spread one model over all);
    in a multi-process run each rank reports the GPU it trains on (visible index = local rank).
    """
    try:
        import pynvml as nvml
    except ImportError:
        return [], "no NVML bindings (pip install nvidia-ml-py)"
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as e:
        return [], f"NVML: {e}"
    try:
        visible = _visible(nvml.nvmlDeviceGetCount(), nvml)
    except nvml.NVMLError as e:
        return [], f"NVML: {e}"
    if world_size_here > 1:
        visible = visible[local_rank:local_rank + 1]
    gpus = []
    for i in visible:
        try:
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            name = nvml.nvmlDeviceGetName(h)
        except nvml.NVMLError:
            continue  # a GPU NVML cannot read (fallen off the bus, no permission): not sampled
        gpus.append(Gpu(i, name.decode() if isinstance(name, bytes) else name, h))
    if not gpus:
        return [], "NVML found no visible GPU"
    return gpus, ", ".join(f"{g.index}: {g.name}" for g in gpus)


def memory_totals(gpus: list[Gpu] | None = None) -> list[int]:
    """Bytes of memory of each GPU (`gpus` as open_gpus gave them; None: open those this process
    sees). Empty: none, or NVML cannot say."""
    if gpus is None:
        gpus, _ = open_gpus(0, 1)
    if not gpus:
        return []
    import pynvml as nvml

    out = []
    for g in gpus:
        try:
            out.append(int(nvml.nvmlDeviceGetMemoryInfo(g.handle).total))
        except nvml.NVMLError:
            continue
    return out


def read_gpu(gpu: Gpu) -> dict[str, Any]:
    """One reading. Fields a GPU does not support (power on some boards) are left out."""
    import pynvml as nvml

    out: dict[str, Any] = {"gpu": gpu.index}
    readers = {
        "util": lambda h: float(nvml.nvmlDeviceGetUtilizationRates(h).gpu),
        "mem": lambda h: nvml.nvmlDeviceGetMemoryInfo(h),
        "power_w": lambda h: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0,  # milliwatts
        "temp_c": lambda h: float(nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)),
    }
    for key, read in readers.items():
        try:
            value = read(gpu.handle)
        except nvml.NVMLError:
            continue  # not supported on this board / MIG slice: the field stays empty
        if key == "mem":
            out["mem_used"], out["mem_total"] = int(value.used), int(value.total)
        else:
            out[key] = value
    return out


def close() -> None:
    import pynvml as nvml

    try:
        nvml.nvmlShutdown()
    except nvml.NVMLError:
        return  # already shut down: nothing left to release
