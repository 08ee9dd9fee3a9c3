"""After a run, through the real CLI on a finished tiny run: start again from its frozen recipe with a
change (`run --from RUN --set ...`), and try its model on typed texts (`predict --text`), stdin and stdout."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tomllib

import pytest

from tests.integration.runs import q
from tests.integration.test_lifecycle import finished, two_runs  # noqa: F401 - fixtures: two runs trained once

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

TEXTS = ["Great food and friendly staff, we will come back", "Buy cheap watches now at example.com, 50% off"]


def test_run_from_a_run_starts_its_frozen_recipe_with_the_override(cli, tmp_path, two_runs):  # noqa: F811
    origin = two_runs[0]
    done = cli("run", "--from", origin[-4:], "--set", "lora.r=4", "--quiet", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    store = tmp_path / "runs.duckdb"
    (new_id, run_dir), = q(store, "SELECT run_id, run_dir FROM runs WHERE run_id NOT IN (?, ?)", list(two_runs))
    assert new_id.startswith("demo_encoder_multilabel-")  # named as the run's recipe
    frozen = tomllib.loads((tmp_path / "runs" / new_id / "recipe.toml").read_text(encoding="utf-8"))
    earlier = tomllib.loads((tmp_path / "runs" / origin / "recipe.toml").read_text(encoding="utf-8"))
    assert frozen["lora"]["r"] == 4 and earlier["lora"]["r"] != 4
    assert frozen["train"]["max_steps"] == earlier["train"]["max_steps"] == 6  # the run's own values, not the file's
    assert frozen["description"].startswith(f"from {origin}")
    params = dict(q(store, "SELECT key, value FROM params WHERE run_id = ?", [new_id]))
    assert params["lora.r"] == "4" and params["description"].startswith(f"from {origin}")


def test_run_from_dry_run_starts_nothing_and_says_the_origin(cli, tmp_path, two_runs):  # noqa: F811
    origin = two_runs[1]
    shown = cli("run", "--from", origin, "--set", "lora.r=4", "--dry-run", timeout=300)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"# from the frozen recipe of run {origin}" in shown.stdout
    assert "# --set lora.r = 4" in shown.stdout
    assert len(q(tmp_path / "runs.duckdb", "SELECT run_id FROM runs")) == 2


def test_run_with_a_recipe_and_from_is_refused_in_one_line(cli, two_runs):  # noqa: F811
    both = cli("run", "recipes/demo/encoder_multilabel.toml", "--from", two_runs[0])
    assert both.returncode == 2
    assert both.stderr.strip().splitlines() == [
        f"error: workbench run: give a recipe (recipes/demo/encoder_multilabel.toml) or --from RUN ({two_runs[0]}), "
        "not both"]
    neither = cli("run")
    assert neither.returncode == 2 and "--from RUN" in neither.stderr


def test_predict_texts_equal_predict_of_a_file_holding_them_and_of_stdin(cli, cli_env, tmp_path, two_runs):  # noqa: F811
    run = two_runs[0]
    typed = cli("predict", run, "--text", TEXTS[0], "--text", TEXTS[1], "--format", "json", timeout=300)
    assert typed.returncode == 0, typed.stdout + typed.stderr
    with (tmp_path / "texts.csv").open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([["text"], *([t] for t in TEXTS)])
    filed = cli("predict", run, "--input", tmp_path / "texts.csv", "--output", tmp_path / "out.jsonl", timeout=300)
    assert filed.returncode == 0, filed.stdout + filed.stderr
    from_file = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    from_texts = [json.loads(line) for line in typed.stdout.splitlines()]
    assert [r["text"] for r in from_texts] == TEXTS
    assert [(r["scores"], r["predicted"]) for r in from_texts] == [(r["scores"], r["predicted"]) for r in from_file]
    # the same file on stdin, the predictions on stdout (no file named "-")
    piped = subprocess.run([sys.executable, "-m", "workbench", "predict", run, "--input", "-", "--output", "-"],
                           input=(tmp_path / "texts.csv").read_text(encoding="utf-8"), capture_output=True, text=True,
                           cwd=tmp_path, timeout=300, env={**os.environ, **cli_env})
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert piped.stdout.splitlines() == (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    assert not (tmp_path / "-").exists()
    table = cli("predict", run, "--text", TEXTS[1], timeout=300)  # a table by default
    assert table.returncode == 0 and "predicted" in table.stdout and "example.com" in table.stdout
    empty = cli("predict", run, "--text", " ")
    assert empty.returncode == 2 and "--text number 1 is empty" in empty.stderr
    no_output = cli("predict", run, "--input", tmp_path / "texts.csv")
    assert no_output.returncode == 2 and "give --output" in no_output.stderr
