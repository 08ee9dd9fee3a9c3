"""The validation holdout (data.holdout_split): stratified by class for single-label data, so validation
has train's class shares; random for multi-label data, for a class too small to stratify, and for a run
whose frozen recipe predates the knob (its evaluations reproduce on the rows it was judged on)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from workbench import rundir
from workbench.data.splits import holdout_indices
from workbench.recipe import load_recipe
from workbench.recipe.load import write_frozen
from workbench.tasks import load_splits

# 3 classes, unbalanced: 60 % neg, 30 % pos, 10 % neu
CLASSES = ["neg"] * 120 + ["pos"] * 60 + ["neu"] * 20


def write_csv(path: Path, classes: list[str]) -> Path:
    lines = ["text,sentiment"] + [f"review number {i} of {c},{c}" for i, c in enumerate(classes)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_recipe(tmp: Path, csv: Path, extra: str = "") -> Path:
    path = tmp / "recipe.toml"
    path.write_text(f'task = "classification"\n[model]\nsource = "tiny:bert"\n[data]\ntrain_file = "{csv}"\n'
                    f'label_column = "sentiment"\nvalidation_fraction = 0.2\n{extra}', encoding="utf-8")
    return path


def shares(table) -> dict[str, float]:
    names = table.label_names
    counts = Counter(names[row.index(1)] for row in table.labels)  # one-hot rows
    return {c: counts[c] / len(table) for c in names}


def test_a_single_label_holdout_keeps_the_class_shares(tmp_path):
    csv = write_csv(tmp_path / "reviews.csv", CLASSES)
    recipe = load_recipe(write_recipe(tmp_path, csv))
    assert recipe.data.holdout_split == "stratified"
    s = load_splits(recipe.values)
    assert (len(s.train), len(s.validation)) == (160, 40)
    train, validation = shares(s.train), shares(s.validation)
    for c in train:
        assert abs(train[c] - validation[c]) < 0.02, (c, train, validation)
    assert sorted(s.train.lines + s.validation.lines) == list(range(2, 202))  # every row once


def test_random_holdout_is_the_old_split(tmp_path):
    csv = write_csv(tmp_path / "reviews.csv", CLASSES)
    s = load_splits(load_recipe(write_recipe(tmp_path, csv, 'holdout_split = "random"\n')).values)
    _, va = holdout_indices(200, 0.2, 42)
    assert s.validation.lines == [i + 2 for i in va]


def test_a_class_too_small_to_stratify_falls_back_to_random_and_says_so(tmp_path):
    csv = write_csv(tmp_path / "reviews.csv", ["neg"] * 30 + ["pos"] * 9 + ["rare"])
    s = load_splits(load_recipe(write_recipe(tmp_path, csv)).values)
    _, va = holdout_indices(40, 0.2, 42)
    assert s.validation.lines == [i + 2 for i in va]
    assert "held out at random" in s.describe() and "rare" in s.describe()
    assert "\n" not in s.describe()


def test_an_old_runs_frozen_recipe_without_the_knob_reproduces_its_random_split(tmp_path):
    """A run folder whose recipe.toml was frozen before data.holdout_split existed: loading it (as the
    trainer, `eval`, `errors`, `predict` and `run --from` do) gives the random split it was judged on."""
    csv = write_csv(tmp_path / "reviews.csv", CLASSES)
    run_dir = tmp_path / "runs" / "old-20260101-000000-abcd"
    run_dir.mkdir(parents=True)
    write_frozen(load_recipe(write_recipe(tmp_path, csv)), run_dir / rundir.RECIPE, "frozen")
    frozen = run_dir / rundir.RECIPE
    text = frozen.read_text(encoding="utf-8")
    assert "holdout_split" in text  # a new run records its method
    frozen.write_text("\n".join(line for line in text.splitlines() if "holdout_split" not in line), encoding="utf-8")
    (run_dir / rundir.RUN_META).write_text(json.dumps({"run_id": run_dir.name}), encoding="utf-8")

    recipe = load_recipe(frozen)
    assert recipe.data.holdout_split == "random"
    s = load_splits(recipe.values)
    _, va = holdout_indices(200, 0.2, 42)
    assert s.validation.lines == [i + 2 for i in va]
    # the same file outside a run folder is a recipe of the user's: new runs stratify
    loose = tmp_path / "mine.toml"
    loose.write_text(frozen.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_recipe(loose).data.holdout_split == "stratified"


def test_a_multi_label_holdout_stays_random(tmp_path):
    lines = ["text,a,b"] + [f"row {i},{i % 2},{int(i % 3 == 0)}" for i in range(50)]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = tmp_path / "m.toml"
    path.write_text(f'task = "classification"\n[model]\nsource = "tiny:bert"\n[data]\ntrain_file = "{tmp_path / "m.csv"}"\n'
                    'label_columns = ["a", "b"]\n', encoding="utf-8")
    s = load_splits(load_recipe(path).values)
    _, va = holdout_indices(50, 0.2, 42)
    assert s.validation.lines == [i + 2 for i in va]
    assert "random" not in s.describe()  # multi-label is random by design, not a fallback to say
