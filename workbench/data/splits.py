"""Train / validation / test splits of a recipe's data, shared by the CLI's up-front
validation, the training process and `predict` (so all three see the same rows).

Each task reads its own format (CSV with 0/1 label columns, chat JSONL, CoNLL / instruction
JSON); the split logic is one: a validation file, or a fixed-seed holdout of the training file.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.errors import UserError


@dataclass
class Splits:
    train: Any        # LabeledTable (classification) or a list of records (generative tasks)
    validation: Any
    test: Any | None
    label_names: list[str]   # labels, classes or entity types
    label_word: str = "label"  # what a label is called in messages: label, class, entity type

    def describe(self) -> str:
        test = f", {len(self.test)} test" if self.test is not None else ""
        what = self.label_word
        n = len(self.label_names)
        plural = what + ("" if n == 1 else "es" if what.endswith("s") else "s")
        return f"{len(self.train)} train, {len(self.validation)} validation{test} rows, {n} {plural}"


def holdout_indices(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic shuffle-split: (train indices, validation indices), each in file order."""
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    n_val = max(1, round(n * fraction))
    val = sorted(idx[:n_val])
    train = sorted(idx[n_val:])
    return train, val


def _subset(data, idx: list[int]):
    return data.subset(idx) if hasattr(data, "subset") else [data[i] for i in idx]


def read_splits(values: dict, read: Callable[[str], Any]) -> tuple[Any, Any, Any]:
    """(train, validation, test) through a task's reader: the validation file, or a fixed-seed
    holdout of the training file; test is None without data.test_file."""
    path = values["data.train_file"]
    train = read(path)
    if values["data.validation_file"]:
        validation = read(values["data.validation_file"])
    else:
        if len(train) < 2:
            raise UserError("needs at least 2 rows to hold out a validation split", path=path)
        tr, va = holdout_indices(len(train), values["data.validation_fraction"], values["data.split_seed"])
        if not tr:
            raise UserError(f"data.validation_fraction leaves no training rows out of {len(train)}", path=path)
        train, validation = _subset(train, tr), _subset(train, va)
    test = read(values["data.test_file"]) if values["data.test_file"] else None
    return train, validation, test
