"""`workbench compare` compares what is comparable (issue 29 item 5), through the real CLI at 100 columns
on the sample store (tools/sample_store.py) and a few more run folders ingested beside it: runs of one
sweep are ranked with each knob's marginal effect; runs that differ in seed alone get mean ± std; any
other runs (two recipes, or differing learning rates outside a sweep) get the params that differ and
the metrics side by side, no ranking and no mean ± std."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest

from tests.conftest import ROOT
from workbench.store.db import connect

LORA = "demo_encoder_multilabel-20260921-141320-a1b2"
FULL = "demo_encoder_multilabel-20260922-090000-c3d4"
SEEDS = [f"seed_sweep-20260923-100000-000{i}" for i in (1, 2, 3)]
ENCODER = "demo_encoder_multilabel-20260926-100000-e5f6"   # the encoder demo's frozen recipe
HATE = "demo_hate_speech-20260926-110000-4a7e"            # the chat demo's frozen recipe
SWEEP = "lr-sweep"
SWEPT = [(f"lr_sweep-20260927-10000{i}-000{i}", lr, seed) for i, (lr, seed)
         in enumerate(((1e-3, 1), (1e-3, 2), (3e-3, 1), (3e-3, 2)))]
BY_HAND = [("demo_encoder_multilabel-20260926-120000-b0b0", "encoder_multilabel"),
           ("demo_hate_speech-20260926-120100-b1b1", "hate_speech")]  # two recipes in one group set by hand
NARROW = {"COLUMNS": "100"}


def recipe_run(store: Path, run_id: str, demo: str, quality: float, start: float, group: str = "") -> None:
    """A finished run folder whose recipe.toml is the frozen recipe of recipes/demo/DEMO.toml (in
    `group`), ingested."""
    from tools.sample_store import write_run
    from workbench.recipe import load_recipe, write_frozen
    from workbench.store.db import runs_root
    from workbench.store.ingest import ingest_run

    run_dir = write_run(runs_root(store), run_id, quality=quality, start=start, group=group)
    recipe = load_recipe(ROOT / "recipes" / "demo" / f"{demo}.toml", [f"group={group}"] if group else [])
    write_frozen(recipe, run_dir / "recipe.toml", "frozen")
    with connect(store) as con:
        ingest_run(con, run_dir)


def comparison_store(path: Path) -> Path:
    """The sample store at `path`, two runs of two demo recipes (and two more in group by-hand), a 2 x 2
    sweep (train.learning_rate x train.seed) of group lr-sweep (tests/tui/test_compare_kinds.py uses it
    too)."""
    from tools.sample_store import T0, build_sample_store, write_run
    from workbench.store.db import runs_root
    from workbench.store.ingest import ingest_run

    build_sample_store(path)
    day = 86_400.0
    recipe_run(path, ENCODER, "encoder_multilabel", 0.82, T0 + 5 * day)
    recipe_run(path, HATE, "hate_speech", 0.74, T0 + 5 * day + 3600)
    for i, (run_id, demo) in enumerate(BY_HAND):
        recipe_run(path, run_id, demo, 0.7, T0 + 5 * day + 7200 + 60 * i, group="by-hand")
    for i, (run_id, lr, seed) in enumerate(SWEPT):
        run_dir = write_run(runs_root(path), run_id, lr=lr, seed=seed, group=SWEEP, quality=0.7 + 0.03 * i,
                            start=T0 + 6 * day + 60 * i)
        with connect(path) as con:
            ingest_run(con, run_dir)
    return path


@pytest.fixture
def store(tmp_path) -> Path:
    """comparison_store at the `cli` fixture's store."""
    return comparison_store(tmp_path / "runs.duckdb")


def tuned(store: Path, run_ids: list[str], metric: str) -> dict[str, float]:
    with connect(store, read_only=True) as con:
        return dict(con.execute(
            f"SELECT run_id, value FROM evals WHERE run_id IN ({', '.join('?' * len(run_ids))}) AND phase = 'tuned' "
            "AND label = '(all)' AND split = 'validation' AND metric = ?", [*run_ids, metric]).fetchall())


def fits(out: str, width: int = 100) -> None:
    """Every line within `width` columns, and no header cut to an ellipsis."""
    for line in out.splitlines():
        assert len(line) <= width, line
        if line.startswith("┃"):
            assert "…" not in line, line


def test_two_recipes_get_the_params_that_differ_and_the_metrics_side_by_side_in_100_columns(cli, store):
    r = cli("compare", ENCODER, HATE, env=NARROW)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.splitlines()[0].startswith("2 unrelated runs (not one sweep): the params that differ"), out
    assert "trials ranked" not in out and "marginal effect" not in out and "±" not in out, out
    fits(out)
    params = out[out.index("params that differ"):out.index("tuned metrics")]
    # the knobs that differ, each on its row with both runs' values; names and descriptions are no knobs
    for knob in ("task", "source", "train_file", "classes", "use_4bit", "epochs"):
        assert re.search(rf"│ ([a-z_]+\.)?{knob}\s+│", params), (knob, params)
    assert "description" not in params and "Review moderation" not in params
    assert "tiny:distilbert" in params and "tiny:gpt_oss" in params
    f1 = tuned(store, [ENCODER, HATE], "f1_micro")
    (row,) = [line for line in out.splitlines() if line.startswith("│ f1_micro")]
    assert re.findall(r"[0-9.]+", row.split("│", 2)[2]) == [f"{f1[ENCODER]:.3f}", f"{f1[HATE]:.3f}"]


def test_runs_of_differing_learning_rates_outside_a_sweep_get_no_mean_std(cli, store):
    r = cli("compare", LORA, FULL, env=NARROW)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("2 unrelated runs (not one sweep): the params that differ"), r.stdout
    assert "±" not in r.stdout and "trials ranked" not in r.stdout and "marginal effect" not in r.stdout
    assert re.search(r"│ (train\.)?learning_rate\s+│ 0\.003\s+│ 0\.0005", r.stdout), r.stdout
    fits(r.stdout)


def test_runs_differing_in_seed_alone_get_mean_std(cli, store):
    r = cli("compare", *SEEDS, env=NARROW)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("3 runs differing in seed alone: mean ± std"), out
    vals = tuned(store, SEEDS, "f1_micro")
    mean, std = statistics.fmean(vals.values()), statistics.stdev(vals.values())
    assert f"group seeds-r16 (n=3): f1_micro {mean:.3f} ± {std:.3f}" in out, out
    assert "trials ranked" not in out
    fits(out)


def test_a_seed_group_beside_another_run_keeps_its_mean_std_alone(cli, store):
    r = cli("compare", FULL, "--group", "seeds-r16", env=NARROW)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("4 unrelated runs"), out
    assert "group seeds-r16 (n=3): f1_micro" in out and "trials ranked" not in out
    fits(out)


def test_a_sweep_is_ranked_and_its_group_gets_no_mean_std_over_learning_rates(cli, store):
    r = cli("compare", "--group", SWEEP, env=NARROW)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith(f"4 runs of sweep {SWEEP}: ranked"), out
    ranked = out[out.index("trials ranked by"):out.index("marginal effect")]
    trials = re.findall(r"│ (\d) │ (0\.00\d)\s+│ 0\.2260 ± 0\.0000 │\s+2/2 │", ranked)  # two seeds a trial
    assert sorted(lr for _, lr in trials) == ["0.001", "0.003"], ranked
    assert "train.learning_rate" in out[out.index("marginal effect"):]
    # the group line would mix learning rates: left out, and said why
    assert f"group {SWEEP} (n=4): f1_micro" not in out
    assert f"group {SWEEP} (n=4): no mean ± std, its runs differ in train.learning_rate" in out, out
    fits(out)


def test_two_recipes_in_one_group_set_by_hand_are_no_sweep(cli, store):
    r = cli("compare", "--group", "by-hand", env=NARROW)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("2 unrelated runs (not one sweep)"), out
    assert "trials ranked" not in out and "marginal effect" not in out
    assert "group by-hand (n=2): no mean ± std, its runs differ in " in out, out
    fits(out)
