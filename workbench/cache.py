"""Where workbench keeps what it can rebuild: tiny models built from recipes' texts, tokenized
datasets, the LoRA module checks a model passed, memory estimates. `WORKBENCH_CACHE`, else
~/.cache/workbench; deleting it costs only the rebuild."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """The folder of one kind of cached thing ("tiny", "tokenized", "checks", "estimates"), not created."""
    return Path(os.environ.get("WORKBENCH_CACHE") or Path.home() / ".cache" / "workbench").expanduser() / kind
