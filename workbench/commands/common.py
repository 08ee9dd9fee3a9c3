"""The store a command's arguments name (transitional: goes with the last module of commands/)."""

from __future__ import annotations

from pathlib import Path

from workbench.store.db import store_path


def store_of(args) -> Path:
    return store_path(getattr(args, "store", None))
