"""A run of 3,000 classes end to end through the real CLI (issue 25, item 2): it trains and ends with
a sparse confusion matrix, prediction files that keep the top eval.scores_top_k scores of a row,
event lines of kilobytes (not the classes x classes matrix), a store that `sync` rebuilds, and
`show` / `predict` that read it. The 10,000-class figures (peak RSS of the follower and of `sync`)
are benchmarks/bench_many_classes.py's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.runs import q
from tools.synthetic.many_classes import recipe_text, write_splits

pytestmark = pytest.mark.slow
CLASSES, VALIDATION, TOP_K = 3000, 200, 5


def test_a_run_of_3000_classes_is_stored_sparse_and_bounded_and_reads_back(tmp_path, cli):
    train, validation = write_splits(tmp_path / "data", classes=CLASSES, validation=VALIDATION)
    recipe = tmp_path / "many.toml"
    recipe.write_text(recipe_text(train, validation, name="many", vocab_size=600, batch_size=32,
                                  tail=f"logging_steps = 1\n[eval]\nbatch_size = 100\nscores_top_k = {TOP_K}\n"),
                      encoding="utf-8")
    proc = cli("run", recipe, "--quiet", timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    store = tmp_path / "runs.duckdb"
    ((run_id, run_dir, status),) = q(store, "SELECT run_id, run_dir, status FROM runs")
    assert status == "completed"
    run_dir = Path(run_dir)

    # no event line near the classes x classes matrix (9M cells; 11 MB at 1,000 classes)
    longest = max(len(line) for line in (run_dir / "events.jsonl").read_bytes().splitlines())
    assert longest < 1_000_000, longest
    cells = q(store, "SELECT phase, count(*), sum(n), min(n) FROM confusion WHERE run_id = ? GROUP BY phase ORDER BY "
                     "phase", [run_id])
    assert [(phase, total) for phase, _, total, _ in cells] == [("base", VALIDATION), ("prior", VALIDATION),
                                                                ("tuned", VALIDATION)]
    assert all(count <= VALIDATION and smallest > 0 for _, count, _, smallest in cells)

    for phase in ("base", "tuned", "prior"):  # the label prior: the majority class, its rows as bounded
        path = run_dir / f"predictions_{phase}_validation.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert len(rows) == VALIDATION and path.stat().st_size < 1500 * VALIDATION  # every score: ~70 KB a row
        # the prior's scores all tie (every class once in training): its predicted class, the first of
        # them, may lie outside the k kept, so a row holds one more
        extra = 2 if phase == "prior" else 1
        for r in rows:
            assert r["scores_top_k"] == TOP_K and TOP_K <= len(r["scores"]) <= TOP_K + extra
            assert r["scores"][r["predicted"]] == max(r["scores"].values()) and r["label"] in r["scores"]

    # a store rebuilt from the run folders (runs/ beside it) holds the same
    rebuilt = tmp_path / "rebuilt.duckdb"
    proc = cli("sync", env={"WORKBENCH_STORE": str(rebuilt)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    sql = "SELECT phase, gold, predicted, n FROM confusion ORDER BY ALL"
    assert q(rebuilt, sql) == q(store, sql) and q(rebuilt, "SELECT status FROM runs") == [("completed",)]

    out = cli("show", run_id, timeout=120).stdout
    confusion = " ".join(out.split("confusion matrix (validation)", 1)[1].split())
    assert f"{CLASSES} classes" in confusion and "largest errors" in confusion

    predicted = tmp_path / "pred.jsonl"
    proc = cli("predict", run_id, "--input", validation, "--output", predicted, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [json.loads(line) for line in predicted.read_text(encoding="utf-8").splitlines()]
    tuned = [json.loads(line) for line in (run_dir / "predictions_tuned_validation.jsonl").read_text().splitlines()]
    assert [r["predicted"] for r in rows] == [r["predicted"] for r in tuned]
    assert all(r["scores_top_k"] == TOP_K and len(r["scores"]) <= TOP_K + 1 for r in rows)
