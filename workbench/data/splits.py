"""Train / validation / test splits of a recipe's data, shared by the CLI's up-front
validation, the training process and `predict` (so all three see the same rows).

Each task reads its own format (CSV with 0/1 label columns, chat JSONL, CoNLL / instruction
JSON); the split logic is one: a validation file, or a fixed-seed holdout of the training file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from workbench.errors import UserError


@dataclass
class Splits:
    train: Any        # LabeledTable (classification) or a list of records (generative tasks)
    validation: Any
    test: Any | None
    label_names: list[str]   # labels, classes or entity types

    kind: str = "classification"

    def describe(self) -> str:
        test = f", {len(self.test)} test" if self.test is not None else ""
        what = {"ner": "entity type", "chat_classification": "class"}.get(self.kind, "label")
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


def _split(values: dict, read: Callable[[str], Any]) -> tuple[Any, Any, Any]:
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


def reader(values: dict, *, unlabelled: bool = False) -> Callable[[str], Any]:
    """path -> the task's records (validated, errors naming file and line). `unlabelled`: predict
    input of a generative task, which may come without answers (chat) or tags (CoNLL tokens only)."""
    task = values["task"]
    max_rows = 0 if unlabelled else values["data.max_rows"]
    if task == "chat_classification":
        from workbench.data.chat_jsonl import read_chat_jsonl

        return lambda p: read_chat_jsonl(p, list(values["data.classes"]), group_field=values["data.group_field"],
                                         max_rows=max_rows, answers_optional=unlabelled)
    if task == "ner":
        from workbench.data.ner import read_ner_file

        return lambda p: read_ner_file(p, max_rows=max_rows, tags_optional=unlabelled)
    from workbench.data.csv_labels import read_labeled_csv
    from workbench.recipe.load import label_map

    labels = label_map(values)
    return lambda p: read_labeled_csv(p, values["data.text_column"], labels, max_rows=max_rows,
                                      id_column=values["data.id_column"])


def load_splits(values: dict) -> Splits:
    """Read and validate every data file a recipe names (values: the recipe's flat values)."""
    task = values["task"]
    train, validation, test = _split(values, reader(values))
    if task == "chat_classification":
        return Splits(train, validation, test, list(values["data.classes"]), kind=task)
    if task == "ner":
        from workbench.data.ner import entity_types

        return Splits(train, validation, test, entity_types(list(train) + list(validation)), kind=task)
    return Splits(train, validation, test, train.label_names)
