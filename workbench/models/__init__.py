"""Model sources (hub id, local dir, tiny:<arch>), loading, and method wrapping (full / LoRA)."""
