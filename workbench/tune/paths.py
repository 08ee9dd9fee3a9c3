"""Where a tune study's files live, without importing Optuna: `compare --group`, `runs` and the app ask
whether a group is a study on every call, and Optuna's import costs them a third of a second.
workbench/tune/study.py opens what these paths name."""

from __future__ import annotations

from pathlib import Path

TUNE_DIR = ".tune"  # under the run root, beside the run folders (a dot folder: `sync` never lists it)


def storage_path(runs_root: Path, group: str) -> Path:
    """Where the study of `group` is kept: one Optuna journal file."""
    return runs_root / TUNE_DIR / f"{group}.journal"
