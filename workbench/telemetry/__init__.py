"""Telemetry: a sampler thread in every training process (per-GPU NVML readings, host CPU / RSS)."""
