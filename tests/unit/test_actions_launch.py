"""The launch actions return data without printing: a plan, its dry run, a sweep's group; bad input is
a UserError before anything starts."""

from __future__ import annotations

import pytest

from workbench.actions import launch
from workbench.actions.init import init
from workbench.actions.predict import data_overrides
from workbench.errors import UserError


def test_a_plan_with_seeds_is_a_sweep_whose_dry_run_lists_its_runs(demo_recipe, tmp_path, capsys):
    plan = launch.plan_run(tmp_path / "runs.duckdb", str(demo_recipe), ["lora.r=4"], seeds="1-2")
    assert plan.is_sweep and [v["train.seed"] for v in plan.variants] == [1, 2]
    assert plan.command.startswith("workbench run ") and "--set lora.r=4" in plan.command
    shown = launch.dry_run(plan)
    assert shown.notes[:2] == ["--set lora.r = 4", "2 runs, one group: seeds 1, 2"]
    assert "workbench.train" in shown.script
    sweep = launch.plan_sweep(plan)
    assert (sweep.kind, sweep.description, len(sweep.recipes)) == ("seeds", "seeds 1, 2", 2)
    assert sweep.group.startswith(f"{plan.recipe.name}-seeds-")
    assert capsys.readouterr().out == ""  # an action never prints


@pytest.mark.parametrize("text", ["1,x", "2,2", "", "3-"])
def test_bad_seeds_are_refused(text):
    with pytest.raises(UserError, match="--seeds"):
        launch.parse_seeds(text)


def test_parallel_runs_need_a_local_cpu_target(demo_recipe, tmp_path):
    plan = launch.plan_run(tmp_path / "runs.duckdb", str(demo_recipe), ["launch.target=slurm"], seeds="1,2",
                           parallel=2)
    with pytest.raises(UserError, match="runs a sweep as a job array"):
        launch.plan_sweep(plan)
    with pytest.raises(UserError, match="--parallel 0"):
        launch.plan_run(tmp_path / "runs.duckdb", str(demo_recipe), parallel=0)


def test_init_says_what_it_wrote_and_refuses_to_overwrite(tmp_path):
    done = init(tmp_path)
    assert done.dest == tmp_path / "recipes" and done.demo.is_file() and done.recipes > 1 and done.other_files > 0
    with pytest.raises(UserError, match="--force overwrites them"):
        init(tmp_path)
    assert init(tmp_path, force=True).recipes == done.recipes


def test_predict_takes_only_how_the_input_is_read():
    assert data_overrides([], "body") == {"data.text_column": "body"}
    with pytest.raises(UserError, match="predict takes the keys that say how the input is read"):
        data_overrides(["lora.r=4"])
