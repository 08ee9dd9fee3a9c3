"""The best trial's recipe (workbench/tune/best_recipe.py): the source recipe file with the trial's values,
its comments kept, a header naming the study, and `workbench run` of it launching those values."""

from pathlib import Path

from tests.conftest import copy_encoder_demo, workbench
from workbench.recipe import load_recipe, recipe_from_dict
from workbench.tasks import check_recipe
from workbench.tune.best_recipe import write_best

TRIAL = {"train.learning_rate": 0.000123, "lora.r": 8, "lora.alpha": 16.0, "train.epochs": 3.0,
         "train.class_weights": "balanced", "train.warmup_steps": 0.05, "group": "demo-tune-1"}


def written(tmp_path: Path) -> tuple[Path, Path]:
    """The demo recipe copied into src/, its best written into another folder (elsewhere/)."""
    source = copy_encoder_demo(tmp_path / "src")
    (tmp_path / "elsewhere").mkdir()
    out = write_best(source, load_recipe(source), TRIAL, study="demo-tune-1", trial=7, metric="f1_macro",
                     value=0.61234, output=tmp_path / "elsewhere" / "best.toml")
    return source, out


def test_the_best_recipe_is_the_source_with_the_trials_values_and_validates(tmp_path):
    source, out = written(tmp_path)
    assert out == tmp_path / "elsewhere" / "best.toml"
    best, own = load_recipe(out), load_recipe(source)
    check_recipe(best)
    expected = own.single({k: v for k, v in TRIAL.items() if k != "group"}).values
    assert best.values == {**expected, "name": "demo_encoder_multilabel-tuned"}  # data paths still find the data
    assert best["train.class_weights"] == "balanced" and best["group"] == ""


def test_the_best_recipe_keeps_the_sources_comments_under_a_header_naming_the_study(tmp_path):
    _, out = written(tmp_path)
    text = out.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[:2] == [
        "# Tuned by `workbench tune`: the best trial of study demo-tune-1, trial 7, f1_macro = 0.6123 on validation.",
        f"# The source recipe is {tmp_path / 'src' / 'encoder_multilabel.toml'}; the trial's values are set below, "
        "the rest is its own."]
    assert "# A random-initialised base needs a far larger step than a pretrained one (1e-4 in the real recipe)." in text
    assert "# Reviews are short; 128 tokens covers every row (batches are padded per batch anyway)." in text


def test_a_later_best_replaces_the_file_whole(tmp_path):
    source, out = written(tmp_path)
    write_best(source, load_recipe(source), {"lora.r": 4}, study="demo-tune-1", trial=9, metric="f1_macro",
               value=0.7, output=out)
    assert load_recipe(out)["lora.r"] == 4 and load_recipe(out)["train.learning_rate"] == 3e-3
    assert [p.name for p in out.parent.iterdir()] == ["best.toml"]


def test_a_recipe_without_a_file_is_written_whole(tmp_path):
    recipe = recipe_from_dict({"model": {"source": "tiny:bert"}, "data": {"train_file": str(tmp_path / "x.csv"),
                                                                          "labels": {"a": "a"}}})
    out = write_best(None, recipe, TRIAL, study="s", trial=0, metric="loss", value=0.5, output=tmp_path / "b.toml")
    best = load_recipe(out)
    assert {k: best[k] for k in TRIAL if k != "group"} == {k: v for k, v in TRIAL.items() if k != "group"}
    assert out.read_text().startswith("# Tuned by `workbench tune`: the best trial of study s, trial 0, loss = 0.5")


def test_workbench_run_of_the_best_recipe_launches_the_trials_values(tmp_path):
    source, out = written(tmp_path)
    env = {"WORKBENCH_STORE": str(tmp_path / "runs.duckdb"), "NO_COLOR": "1", "COLUMNS": "200"}
    best = workbench("run", out, "--dry-run", env=env, cwd=tmp_path, check=True).stdout
    assert "# recipe demo_encoder_multilabel-tuned is valid" in best
    same = workbench("run", source, "--dry-run", "--set", "lora.r=8", env=env, cwd=tmp_path, check=True).stdout

    def trained(text: str) -> str:  # the adapter's size: the rank the launched run gets
        return next(line for line in text.splitlines() if "parameters train)" in line)

    assert trained(best) == trained(same) and "16,708 of" not in trained(best)  # rank 16's count


def test_a_shipped_recipe_by_name_is_written_from_its_file_with_its_data_found(tmp_path):
    from workbench.recipe.catalog import resolve_recipe

    source = resolve_recipe("demo/encoder_multilabel")
    out = write_best(source, load_recipe(source), {"lora.r": 4}, study="s", trial=3, metric="loss", value=0.4,
                     output=tmp_path / "encoder_multilabel.tuned.toml")
    best = load_recipe(out)
    check_recipe(best)
    assert best["lora.r"] == 4 and Path(best["data.train_file"]).is_file()
    assert Path(best["data.train_file"]).samefile(load_recipe(source)["data.train_file"])


def test_what_to_set_is_every_value_the_trials_frozen_recipe_has_otherwise(tmp_path):
    """The best recipe is built from the best trial's own frozen recipe (review M4): whatever --set or space
    the invocation that ran it had, the values its run folder holds otherwise than the source are set."""
    from workbench.recipe import write_frozen
    from workbench.tune.best_recipe import changed_values

    source = load_recipe(copy_encoder_demo(tmp_path / "src"))
    write_frozen(source.single({"lora.r": 8, "data.max_rows": 160, "group": "g"}), tmp_path / "frozen.toml", "run")
    values = changed_values(load_recipe(tmp_path / "frozen.toml"), source)
    assert values == {"lora.r": 8, "data.max_rows": 160}
    out = write_best(source.path, source, values, study="g", trial=1, metric="loss", value=0.5,
                     output=tmp_path / "best.toml")
    study_only = ("name", "group")
    assert {k: v for k, v in load_recipe(out).values.items() if k not in study_only} == \
        {k: v for k, v in load_recipe(tmp_path / "frozen.toml").values.items() if k not in study_only}
