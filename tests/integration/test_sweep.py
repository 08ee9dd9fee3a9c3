"""A sweep of the encoder demo through the real CLI: a recipe's [sweep] table crossed into one group of
runs (two at a time with --parallel 2), ranked by `compare --group`; --dry-run counts the runs."""

from __future__ import annotations

import re

import pytest

from tests.conftest import copy_encoder_demo
from tests.integration.runs import q

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

QUICK = ("--set", "train.max_steps=12", "--set", "train.logging_steps=4", "--set", "eval.base=false")


@pytest.fixture
def sweep_recipe(tmp_path):
    recipe = copy_encoder_demo(tmp_path / "recipes")
    recipe.write_text(recipe.read_text() + '\n[sweep]\n"train.learning_rate" = [1e-3, 3e-3]\nlora.r = [4, 8]\n')
    return recipe


def test_a_2x2_sweep_runs_as_one_group_and_compare_ranks_it(cli, tmp_path, sweep_recipe):
    r = cli("run", sweep_recipe, "--quiet", "--parallel", "2", *QUICK, timeout=800)
    assert r.returncode == 0, r.stdout + r.stderr
    store = tmp_path / "runs.duckdb"
    rows = q(store, """SELECT r.run_id, r.status, r.group_id, r.started_at, r.ended_at, lr.value, rk.value
                       FROM runs r JOIN params lr ON lr.run_id = r.run_id AND lr.key = 'train.learning_rate'
                       JOIN params rk ON rk.run_id = r.run_id AND rk.key = 'lora.r' ORDER BY r.created_at, r.run_id""")
    assert len(rows) == 4 and {s for _, s, *_ in rows} == {"completed"}
    (group,) = {g for _, _, g, *_ in rows}
    assert "-sweep-" in group and f"workbench compare --group {group}" in " ".join(r.stdout.split())
    assert sorted((lr, rank) for *_, lr, rank in rows) == [("0.001", "4"), ("0.001", "8"), ("0.003", "4"),
                                                           ("0.003", "8")]
    # --parallel 2: the second run started before the first ended
    assert rows[1][3] < rows[0][4] and rows[3][3] < rows[2][4]
    # each run's frozen recipe is a single run: its own values, no sweep left in it
    frozen = (tmp_path / "runs" / rows[0][0] / "recipe.toml").read_text()
    assert "[sweep]" in frozen and "learning_rate = [" not in frozen

    out = cli("compare", "--group", group).stdout
    loss = dict(q(store, "SELECT run_id, value FROM evals WHERE phase = 'tuned' AND split = 'validation' AND "
                         "label = '(all)' AND metric = 'loss'"))
    config = {rid: (lr, rank) for rid, *_, lr, rank in rows}
    expected = [config[rid] for rid in sorted(loss, key=loss.get)]  # lowest validation loss first
    table = out[out.index("trials ranked by loss"):out.index("marginal effect")]
    ranked = re.findall(r"│ (\d) │ (\d+)\s+│ ([0-9.]+)\s+│ ([0-9.]+)", table)
    assert [(lr, rank) for _, rank, lr, _ in ranked] == expected, table
    assert [float(v) for *_, v in ranked] == pytest.approx(sorted(loss.values()), abs=1e-4)
    marginal = out[out.index("marginal effect"):]
    assert "lora.r" in marginal and "train.learning_rate" in marginal


def test_dry_run_counts_the_runs_and_shows_the_set_values(cli, tmp_path, sweep_recipe):
    r = cli("run", sweep_recipe, "--dry-run", "--seeds", "1,2", "--set", "train.epochs=3", "--sweep", "lora.r=4,8,16",
            "--name", "rank-study")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# recipe rank-study is valid")  # --name: the runs' name, run ids start with it
    assert "# --set train.epochs = 3.0" in r.stdout
    assert "# 12 runs, one group: grid 2 × 3 (train.learning_rate, lora.r) × seeds 1, 2" in r.stdout
    assert "#   run 12: train.learning_rate=0.003, lora.r=16, train.seed=2" in r.stdout
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, expected", [
    (("--sweep", "train.lr=1e-4,1e-3"), "error: --sweep key train.lr is not a knob (did you mean train.learning_rate?)"),
    (("--sweep", "lora.r=8,eight"), "error: --sweep lora.r = 'eight' is not int in [1, 4096]"),
    (("--sweep", "lora.r="), "error: --sweep lora.r = []: expected at least one value"),
    (("--sweep", "lora.r=" + ",".join(str(i) for i in range(1, 35))),
     "the sweep's grid has 68 trials (2 × 34), more than sweep.max_trials = 64"),
    (("--parallel", "64"), "--parallel 64: 64 runs of 1 process(es) need 64 cores"),
])
def test_a_bad_sweep_starts_nothing(cli, tmp_path, sweep_recipe, args, expected):
    r = cli("run", sweep_recipe, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert expected in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "runs").exists()


def test_a_sweep_of_one_value_runs_with_that_value(cli, tmp_path, sweep_recipe):
    """One run is still the run the recipe stands for: a one-value --sweep (replacing the recipe's
    two), one seed, a methods entry's knobs reach its frozen recipe."""
    r = cli("run", sweep_recipe, "--quiet", "--sweep", "train.learning_rate=7e-4", "--sweep", "lora.r=4", "--seeds", "7",
            "--set", "train.max_steps=2", "--set", "eval.base=false", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    params = dict(q(tmp_path / "runs.duckdb", "SELECT key, value FROM params WHERE key IN ('train.learning_rate', "
                                              "'lora.r', 'train.seed')"))
    assert params == {"train.learning_rate": "0.0007", "lora.r": "4", "train.seed": "7"}


def test_dry_run_of_a_lora_sweep_beside_a_full_fine_tune_runs_the_full_one_once(cli, tmp_path, sweep_recipe):
    r = cli("run", sweep_recipe, "--dry-run", "--set", "methods=full,lora", "--sweep", "lora.r=4,8,16,32",
            "--sweep", "train.learning_rate=1e-3")
    assert r.returncode == 0, r.stderr
    assert ("# 5 runs, one group: methods full, lora × grid 1 × 4 (train.learning_rate, lora.r); "
            "full: 1 trial (lora.r: lora only)"
            in r.stdout), r.stdout
    assert "#   run 1: model.method=full, lora.r=—\n" in r.stdout and "#   run 5: model.method=lora, lora.r=32\n" in r.stdout


@pytest.mark.parametrize("args, expected", [
    (("--sweep", "data.split_seed=1,2"), "error: --sweep key data.split_seed cannot be swept: it selects the rows"),
    (("--sweep", "data.validation_fraction=0.1,0.2"), "error: --sweep key data.validation_fraction cannot be swept"),
    (("--sweep", "data.validation_file=a.csv,b.csv"), "error: --sweep key data.validation_file cannot be swept"),
    (("--sweep", "data.validation_split=validation,test"), "error: --sweep key data.validation_split cannot be swept"),
    (("--sweep", "eval.max_examples=50,100"), "error: --sweep key eval.max_examples cannot be swept"),
    (("--sweep", "lora.r=8,16", "--sweep", "train.learning_rate=1e-3", "--set", "sweep.mode=random",
      "--set", "sweep.trials=4"),
     "sweep.trials = 4, but the sweep has only 2 distinct trials (train.learning_rate: 1 value, lora.r: 2 "
     "values): at most 2 trials, or more values"),
    (("--set", "methods=full", "--sweep", "lora.r=8,16"),
     "sweep key lora.r varies nothing: it applies to method lora, and the recipe runs full"),
    # the demo holds its validation rows out of the training data (data.validation_fraction)
    (("--sweep", "data.train_file=data/reviews.csv,data/more.csv"),
     "sweep key data.train_file cannot be swept while the validation rows are held out of the training data"),
    (("--sweep", "data.train_split=train,extra"),
     "sweep key data.train_split cannot be swept while the validation rows are held out of the training data"),
])
def test_a_sweep_judged_on_different_data_or_of_repeated_trials_starts_nothing(cli, tmp_path, sweep_recipe, args,
                                                                               expected):
    r = cli("run", sweep_recipe, "--dry-run", *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert expected in r.stderr, r.stderr
    assert ("judged on different data" in r.stderr) == ("cannot be swept" in expected)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "runs").exists()


def test_a_sweep_of_the_training_file_beside_a_validation_file_of_its_own_is_planned(cli, tmp_path, sweep_recipe):
    data = sweep_recipe.parent / "data"
    (data / "more.csv").write_text((data / "reviews.csv").read_text())
    r = cli("run", sweep_recipe, "--dry-run", "--set", f"data.validation_file={data / 'reviews.csv'}",
            "--sweep", f"data.train_file={data / 'reviews.csv'},{data / 'more.csv'}", "--sweep", "lora.r=4",
            "--sweep", "train.learning_rate=1e-3")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "# 2 runs, one group" in r.stdout and "more.csv" in r.stdout, r.stdout


def test_a_recipes_sweep_table_of_the_split_seed_starts_nothing(cli, tmp_path, sweep_recipe):
    sweep_recipe.write_text(sweep_recipe.read_text() + '"data.split_seed" = [1, 2]\n')
    r = cli("run", sweep_recipe, "--dry-run")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip().endswith("sweep key data.split_seed cannot be swept: it selects the rows the trials are "
                                     "scored on, so they would be judged on different data"), r.stderr
    assert str(sweep_recipe) in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_rank_study_beside_a_full_fine_tune_trains_it_once_and_compare_leaves_it_out_of_the_ranks(
        cli, tmp_path, sweep_recipe):
    r = cli("run", sweep_recipe, "--quiet", "--set", "methods=full,lora", "--sweep", "lora.r=4,8",
            "--sweep", "train.learning_rate=1e-3", *QUICK, timeout=800)
    assert r.returncode == 0, r.stdout + r.stderr
    store = tmp_path / "runs.duckdb"
    rows = q(store, """SELECT r.method, p.value, r.status, r.group_id FROM runs r
                       JOIN params p ON p.run_id = r.run_id AND p.key = 'lora.r' ORDER BY r.method, p.value""")
    # the full run's frozen recipe holds the recipe's lora.r (the default), which it never read
    assert [(m, rank, s) for m, rank, s, _ in rows] == [("full", "16", "completed"), ("lora", "4", "completed"),
                                                        ("lora", "8", "completed")]
    out = cli("compare", "--group", rows[0][3]).stdout
    table = out[out.index("trials ranked by"):out.index("marginal effect")]
    assert re.search(r"│ \d │ —\s+│ full ", table), table  # the full run: no LoRA rank
    marginal, knob = {}, ""
    for line in out[out.index("marginal effect"):].splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 4 and re.fullmatch(r"[0-9.]+", cells[2]):
            knob = cells[0] or knob
            marginal.setdefault(knob, []).append(cells[1])
    assert sorted(marginal["lora.r"]) == ["4", "8"] and sorted(marginal["model.method"]) == ["full", "lora"], out
