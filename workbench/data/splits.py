"""Train / validation / test splits of a recipe's data, shared by the CLI's up-front
validation, the training process and `predict` (so all three see the same rows).

Each task reads its own format (tabular files and datasets, chat JSONL, CoNLL / instruction
JSON); the split logic is one: a validation file or split, or a fixed-seed holdout of the training data.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.data.tabular import DatasetSplit, Source
from workbench.errors import UserError
from workbench.recipe.sections import Data
from workbench.wording import counted, plural

# describe()'s rows per split, as rows_described reads them back
DESCRIBED = re.compile(r"(?P<train>[\d,]+) train, (?P<validation>[\d,]+) validation(?:, (?P<test>[\d,]+) test)? rows")


@dataclass
class Splits:
    train: Any        # LabeledTable (classification) or a list of records (generative tasks)
    validation: Any
    test: Any | None
    label_names: list[str]   # labels, classes or entity types
    label_word: str = "label"  # what a label is called in messages: label, class, entity type
    note: str = ""             # how the holdout fell back from data.holdout_split (read_splits)
    # what helps a model predict labels it never predicts, as the task reads this data (the guardrails'
    # advice names only settings validate accepts for it): e.g. 'eval.tune_thresholds = true' (multi-label)
    rare_label_knobs: tuple[str, ...] = ()

    def describe(self) -> str:
        test = f", {len(self.test)} test" if self.test is not None else ""
        note = f" ({self.note})" if self.note else ""
        return (f"{len(self.train)} train, {len(self.validation)} validation{test} rows, "
                f"{counted(len(self.label_names), self.label_word)}{note}")

    @staticmethod
    def rows_described(described: str) -> dict[str, int]:
        """The rows per split that `describe` gave ({} for any other text): what a run's log says it read."""
        m = DESCRIBED.match(described)
        if not m:
            return {}
        return {split: int(n.replace(",", "")) for split, n in m.groupdict().items() if n is not None}

    def check_model_labels(self, trained: list[str], model: str = "the run's model", path: str | None = None) -> None:
        """A trained model's labels (labels.json) against this data's: the gold labels come in the
        data's order and the scores in the model's, so they must be the same names in the same order."""
        if trained != self.label_names:
            raise UserError(f"{model} has the {plural(self.label_word)} {', '.join(trained)} in this order; this data "
                            f"has {', '.join(self.label_names)}: list them in the model's order (data.labels / "
                            "data.classes)", path=path)


def holdout_indices(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic shuffle-split: (train indices, validation indices), each in file order."""
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    n_val = max(1, round(n * fraction))
    val = sorted(idx[:n_val])
    train = sorted(idx[n_val:])
    return train, val


def stratified_indices(classes: Sequence[Hashable], fraction: float, seed: int
                       ) -> tuple[list[int], list[int], str]:
    """(train indices, validation indices, note): each class held out in its share of the rows
    (scikit-learn's train_test_split), as many validation rows as `holdout_indices` holds out. Where a
    class has too few rows for that, `holdout_indices`' random split, and a note saying why."""
    from sklearn.model_selection import train_test_split

    n = len(classes)
    n_val = max(1, round(n * fraction))
    counts = Counter(classes)
    rare = sorted((c for c, k in counts.items() if k < 2), key=str)
    if rare or n_val < len(counts) or n - n_val < len(counts):
        side, rows = ("validation", n_val) if n_val < n - n_val else ("training", n - n_val)
        why = f"class {rare[0]!r} has 1 row" if rare else f"{len(counts)} classes and {rows} {side} rows"
        train, val = holdout_indices(n, fraction, seed)
        return train, val, f"validation held out at random: {why}, too few to stratify"
    tr, va = train_test_split(list(range(n)), test_size=n_val, random_state=seed, shuffle=True, stratify=list(classes))
    return sorted(tr), sorted(va), ""


def _subset(data, idx: list[int]):
    return data.subset(idx) if hasattr(data, "subset") else [data[i] for i in idx]


def split_sources(data: Data) -> tuple[Source, Source | None, Source | None]:
    """(train, validation, test) sources of a recipe's [data]: its files, or the splits of
    data.dataset; validation and test are None where none is given."""
    if data.dataset:
        def split(name: str, knob: str) -> DatasetSplit | None:
            return DatasetSplit(data.dataset, data.dataset_config, name, knob) if name else None

        train = DatasetSplit(data.dataset, data.dataset_config, data.train_split)
        return (train, split(data.validation_split, "data.validation_split"),
                split(data.test_split, "data.test_split"))
    return data.train_file, data.validation_file or None, data.test_file or None


def read_splits(data: Data, read: Callable[..., Any], classes: Callable[[Any], Sequence[Hashable] | None] = lambda _: None
                ) -> tuple[Any, Any, Any, str]:
    """(train, validation, test, note) through a task's reader `read(source, train)` (`train`: the training
    split already read, None while reading it): the validation source, or a fixed-seed holdout of the
    training data, stratified (data.holdout_split) by `classes(train)`, each row's class (None: multi-label
    or classless rows, held out at random); test is None without a test file or split. The note says
    why a stratified holdout fell back to random ("" when it did not)."""
    train_src, validation_src, test_src = split_sources(data)
    train = read(train_src, None)
    note = ""
    if validation_src is not None:
        validation = read(validation_src, train)
    else:
        where = str(train_src)
        if len(train) < 2:
            raise UserError("needs at least 2 rows to hold out a validation split", path=where)
        strata = classes(train) if data.holdout_split == "stratified" else None
        if strata is None:
            tr, va = holdout_indices(len(train), data.validation_fraction, data.split_seed)
        else:
            tr, va, note = stratified_indices(strata, data.validation_fraction, data.split_seed)
        if not tr:
            raise UserError(f"data.validation_fraction leaves no training rows out of {len(train)}", path=where)
        full = train
        train, validation = _subset(full, tr), _subset(full, va)
    test = read(test_src, train) if test_src is not None else None
    return train, validation, test, note
