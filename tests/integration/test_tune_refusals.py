"""`workbench tune` refusing, through the real CLI, before any worker starts (issue 30; review M3, M5):
a space that searches train.epochs under a pruner, and a continued study given another metric. Each is
one line naming the knob or metric and the ways out, exit 2, and no trial is asked. No training."""

from __future__ import annotations

from tests.conftest import DEMO_RECIPE
from tests.unit.test_tune_study import FIRST, SPACE
from workbench.tune import study as tune_study


def test_searching_epochs_under_the_median_pruner_is_one_line_exit_2(cli, tmp_path):
    res = cli("tune", DEMO_RECIPE, "--space", "train.epochs=1..4", "--group", "e1")
    assert res.returncode == 2, res.stdout + res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.endswith("--space train.epochs=1..4: train.epochs cannot be searched while tune.pruner = 'median' "
                         "stops trials by their epochs (trials of other lengths do not compare at an epoch): set "
                         "tune.pruner = \"none\", or drop train.epochs from the space"), line
    assert not (tmp_path / "runs" / ".tune" / "e1.journal").exists()


def test_a_continued_study_given_another_metric_is_one_line_exit_2(cli, tmp_path):
    journal = tune_study.storage_path(tmp_path / "runs", "m1")
    tune_study.start_study(journal, "m1", FIRST, metric="f1_macro", space=SPACE)
    res = cli("tune", DEMO_RECIPE, "--set", "tune.metric=accuracy", "--space", "lora.r=4,8", "--group", "m1")
    assert res.returncode == 2, res.stdout + res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.endswith(f"tune study m1 ({journal}) optimizes f1_macro; this tune's metric is accuracy: a study "
                         "keeps its metric (set tune.metric = 'f1_macro', or start a new study with --group NEW)"), line
    assert len(tune_study.open_study(journal, "m1").trials) == 1  # trial 0 enqueued at creation, none asked
