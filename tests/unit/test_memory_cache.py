"""The memory estimate's counts are the run's own, and it is remembered (workbench/models/memory_cache.py).

A tiny model's tokenizer is trained on the recipe's texts, so its vocabulary (and embedding) can be
smaller than model.tiny_vocab_size: the dry run counts the model training builds from those texts,
through the same loader, method and count as train/pipeline.py."""

from __future__ import annotations

import re
import shutil

from tests.conftest import DEMO_CSV, DEMO_RECIPE
from workbench.launch.launcher import dry_run
from workbench.recipe import load_recipe


def _counts(text: str) -> tuple[int, int]:
    m = re.search(r"\(([\d,]+) of ([\d,]+) parameters train\)", text)
    assert m, text
    return int(m[1].replace(",", "")), int(m[2].replace(",", ""))


def test_a_tiny_models_dry_run_counts_are_those_training_builds(tmp_path):
    from workbench.models.load import apply_method, count_params
    from workbench.models.source import resolve_source
    from workbench.tasks import get_task

    # a vocabulary larger than the demo's words: the trained tokenizer stops short of it
    recipe = load_recipe(DEMO_RECIPE, ["model.tiny_vocab_size=6000"])
    shown = _counts(dry_run(recipe, tmp_path / "runs.duckdb"))

    task = get_task(recipe.values)  # what train/pipeline.py does, up to the count it records
    splits = task.load_splits()
    loaded = task.load_model(resolve_source(recipe.view, task.tokenizer_texts(splits.train)), splits.label_names)
    assert len(loaded.tokenizer) < 6000
    assert shown == count_params(apply_method(loaded, recipe.view))


def test_the_estimate_is_kept_until_its_data_changes(tmp_path):
    import os

    from workbench.cache import cache_dir

    data = tmp_path / "reviews.csv"
    shutil.copy(DEMO_CSV, data)
    recipe = load_recipe(DEMO_RECIPE, [f"data.train_file={data}"])
    kept = cache_dir("estimates")
    before = set(kept.glob("*.json")) if kept.exists() else set()
    first = dry_run(recipe, tmp_path / "runs.duckdb")
    entries = set(kept.glob("*.json")) - before
    assert len(entries) == 1
    assert dry_run(recipe, tmp_path / "runs.duckdb") == first
    assert set(kept.glob("*.json")) - before == entries  # read back, not computed again

    # the file rewritten (its texts could differ): estimated anew
    st = data.stat()
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert dry_run(recipe, tmp_path / "runs.duckdb") == first
    assert len(set(kept.glob("*.json")) - before) == 2
