"""Train / validation / test splits of a recipe's data, shared by the CLI's up-front
validation, the training process and `predict` (so all three see the same rows)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from workbench.data.csv_labels import LabeledTable, read_labeled_csv
from workbench.errors import UserError


@dataclass
class Splits:
    train: LabeledTable
    validation: LabeledTable
    test: LabeledTable | None


def holdout_indices(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic shuffle-split: (train indices, validation indices), each in file order."""
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    n_val = max(1, round(n * fraction))
    val = sorted(idx[:n_val])
    train = sorted(idx[n_val:])
    return train, val


def load_splits(values: dict) -> Splits:
    """Read and validate every data file a recipe names (values: the recipe's flat values)."""
    labels = values["data.labels"]
    text_col = values["data.text_column"]
    max_rows = values["data.max_rows"]
    train = read_labeled_csv(values["data.train_file"], text_col, labels, max_rows=max_rows)
    if values["data.validation_file"]:
        validation = read_labeled_csv(values["data.validation_file"], text_col, labels, max_rows=max_rows)
    else:
        if len(train) < 2:
            raise UserError("needs at least 2 rows to hold out a validation split", path=train.path)
        tr, va = holdout_indices(len(train), values["data.validation_fraction"], values["data.split_seed"])
        if not tr:
            raise UserError(f"data.validation_fraction leaves no training rows out of {len(train)}", path=train.path)
        train, validation = train.subset(tr), train.subset(va)
    test = read_labeled_csv(values["data.test_file"], text_col, labels, max_rows=max_rows) if values["data.test_file"] else None
    return Splits(train, validation, test)
