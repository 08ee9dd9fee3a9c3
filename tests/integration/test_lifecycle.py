"""A run's life after it ends, through the real CLI: tag, note, archive, rm, gc. Annotations live in
the run folder too, so a store rebuilt by `sync` keeps them; nothing is deleted from a run still going.
And the curves of the two finished runs (`workbench curves`)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import q, run_dir_from_output, wait_for_step

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

QUICK = ("--quiet", "--set", "train.max_steps=6", "--set", "train.logging_steps=2", "--set", "eval.base=false")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Two finished runs, trained once for the module; each test gets its own copy (they delete)."""
    from tests.conftest import workbench

    root = tmp_path_factory.mktemp("lifecycle")
    for _ in range(2):
        r = workbench("run", DEMO_RECIPE, *QUICK, store=root / "runs.duckdb", timeout=600, cwd=root)
        assert r.returncode == 0, r.stdout + r.stderr
    return root


@pytest.fixture
def two_runs(finished, tmp_path):
    import shutil

    import duckdb

    shutil.copy(finished / "runs.duckdb", tmp_path / "runs.duckdb")
    shutil.copytree(finished / "runs", tmp_path / "runs")
    con = duckdb.connect(str(tmp_path / "runs.duckdb"))
    con.execute("UPDATE runs SET run_dir = replace(run_dir, ?, ?)", [str(finished), str(tmp_path)])
    con.close()
    return [rid for (rid,) in q(tmp_path / "runs.duckdb", "SELECT run_id FROM runs ORDER BY created_at")]


def test_tags_notes_and_archive_survive_a_rebuilt_store(cli, tmp_path, two_runs):
    a, b = two_runs
    store = tmp_path / "runs.duckdb"
    assert cli("tag", a[-4:], b, "baseline=yes", "data=v2").returncode == 0  # the short id the app shows
    assert cli("tag", b, "data=").returncode == 0  # KEY= removes
    assert cli("note", a, "learning", "rate", "too", "low").returncode == 0
    assert cli("archive", b).returncode == 0
    tagged = cli("runs", "--tag", "baseline=yes", "--format", "csv").stdout
    assert a in tagged and b not in tagged  # b is archived
    assert b in cli("runs", "--all", "--tag", "baseline", "--format", "csv").stdout
    assert a in cli("runs", "--tag", "data=v2", "--format", "csv").stdout
    assert "no runs with tag data=v3" in cli("runs", "--tag", "data=v3").stdout
    shown = " ".join(cli("show", a).stdout.split())
    assert "baseline=yes, data=v2" in shown and "learning rate too low" in shown
    before = q(store, "SELECT run_id, key, value FROM tags ORDER BY ALL"), q(store, "SELECT run_id, text FROM notes")
    assert before[0] == sorted([(a, "baseline", "yes"), (a, "data", "v2"), (b, "baseline", "yes")])
    store.unlink()  # the store is derived data: the run folders bring the annotations back
    assert cli("sync").returncode == 0
    assert (q(store, "SELECT run_id, key, value FROM tags ORDER BY ALL"), q(store, "SELECT run_id, text FROM notes")) \
        == before
    assert q(store, "SELECT run_id FROM runs WHERE archived") == [(b,)]
    assert cli("archive", "--undo", b).returncode == 0
    assert b in cli("runs", "--format", "csv").stdout


def test_curves_of_two_finished_runs_are_their_stored_steps_and_epoch_evaluations(cli, tmp_path, two_runs):
    """`workbench curves` on two real trained runs (tests/integration/test_curves.py: the sample store)."""
    import csv
    import io

    a, b = two_runs
    store = tmp_path / "runs.duckdb"
    for metric, sql in (("grad_norm", "SELECT run_id, step, grad_norm FROM steps WHERE run_id IN (?, ?)"),
                        ("eval:loss", "SELECT run_id, step, value FROM evals WHERE run_id IN (?, ?) AND phase = 'epoch' "
                                      "AND split = 'validation' AND label = '(all)' AND metric = 'loss'")):
        r = cli("curves", a[-4:], b[-4:], "--metric", metric, "--format", "csv")
        assert r.returncode == 0, r.stderr
        got = [(row["run_id"], int(row["step"]), float(row["value"])) for row in csv.DictReader(io.StringIO(r.stdout))]
        want = q(store, sql, [a, b])
        assert want and {rid for rid, *_ in want} == {a, b}
        assert sorted(got) == sorted(want), metric
    plot = cli("curves", a, b, "--width", "80", "--height", "16").stdout
    assert a[-4:] in plot and b[-4:] in plot and "loss" in plot.split("\n")[0]


def test_gc_frees_checkpoints_and_keeps_what_predict_reads(cli, tmp_path, two_runs):
    folders = [tmp_path / "runs" / rid for rid in two_runs]
    sizes = [sum(p.stat().st_size for p in (f / "checkpoints").rglob("*") if p.is_file()) for f in folders]
    assert all(sizes)
    dry = cli("gc", "--dry-run")
    assert "would free" in dry.stdout and all((f / "checkpoints").is_dir() for f in folders)
    r = cli("gc")
    assert r.returncode == 0 and f"({sum(sizes):,} bytes)" in r.stdout and "in 2 completed runs" in r.stdout
    assert not any((f / "checkpoints").exists() for f in folders)
    assert all((f / "adapter").is_dir() and (f / "labels.json").is_file() for f in folders)
    out = tmp_path / "p.jsonl"
    assert cli("predict", two_runs[0], "--input", str(DEMO_RECIPE.parent / "data" / "reviews.csv"), "--output", str(out),
               timeout=300).returncode == 0 and out.read_text()
    assert cli("gc", "--dry-run").stdout.strip() == "nothing to free: no completed run holds checkpoints"


def test_rm_asks_refuses_a_running_run_and_deletes_rows_and_folder(cli, tmp_path, two_runs):
    a, b = two_runs
    store = tmp_path / "runs.duckdb"
    r = cli("rm", a)  # no terminal to ask on
    assert r.returncode == 2 and "confirm with --yes" in r.stderr and (tmp_path / "runs" / a).is_dir()
    r = cli("rm", a, "--yes")
    assert r.returncode == 0 and "moved 1 run to the trash" in r.stdout
    assert not (tmp_path / "runs" / a).exists() and (tmp_path / "runs" / ".trash" / a / "run.json").is_file()
    assert all(q(store, f"SELECT count(*) FROM {t} WHERE run_id = ?", [a]) == [(0,)]
               for t in ("runs", "params", "steps", "evals", "logs", "artifacts", "telemetry"))
    assert cli("rm", b, "--yes", "--keep-folder").returncode == 0
    assert (tmp_path / "runs" / b).is_dir() and q(store, "SELECT count(*) FROM runs") == [(0,)]
    assert cli("sync").returncode == 0 and q(store, "SELECT run_id FROM runs") == [(b,)]

    started = cli("run", DEMO_RECIPE, "--detach", "--set", "train.epochs=200", "--set", "train.logging_steps=1")
    assert started.returncode == 0, started.stderr
    run_dir = run_dir_from_output(started.stdout, tmp_path)
    wait_for_step(run_dir)
    r = cli("rm", run_dir.name, b, "--yes")
    # detached and not followed, the store may not have seen it start: queued or running, it is going
    assert r.returncode == 2 and re.search(r"is (queued|running): stop it first", r.stderr), r.stderr
    assert "nothing was deleted" in r.stderr
    assert run_dir.is_dir() and (tmp_path / "runs" / b).is_dir()
    assert cli("stop", run_dir.name, timeout=300).returncode == 0


def test_rm_moves_to_the_trash_undo_restores_and_gc_trash_empties(cli, tmp_path, two_runs):
    """A wrong delete can be undone: `rm` moves the folder to runs/.trash/ (sync never reads it back),
    `rm --undo` (a short id, resolved in the trash) puts it back and re-ingests every row, tags
    included; a folder recorded outside runs/ goes back where it was; `gc --trash` frees the space."""
    import shutil

    import duckdb

    a, b = two_runs
    store, trash = tmp_path / "runs.duckdb", tmp_path / "runs" / ".trash"
    assert cli("tag", a, "baseline=yes").returncode == 0
    tables = ("runs", "params", "steps", "evals", "logs", "artifacts", "tags")

    def rows(rid):
        return {t: q(store, f"SELECT count(*) FROM {t} WHERE run_id = ?", [rid])[0][0] for t in tables}

    before = rows(a)
    assert all(before.values()), before
    r = cli("rm", a, "--yes")
    assert r.returncode == 0 and "moved 1 run to the trash" in r.stdout and "rm --undo" in r.stdout, r.stdout
    assert not (tmp_path / "runs" / a).exists() and (trash / a / "events.jsonl").is_file()
    assert not any(rows(a).values())
    synced = cli("sync")
    assert synced.returncode == 0 and "synced 1 run folders" in synced.stdout, synced.stdout
    assert q(store, "SELECT run_id FROM runs") == [(b,)]  # the trash is not a run folder

    assert cli("rm", "--undo", "zzzz").returncode == 2
    r = cli("rm", "--undo", a[-4:])  # the short id the app shows
    assert r.returncode == 0 and f"restored {a}" in r.stdout, r.stdout + r.stderr
    assert (tmp_path / "runs" / a / "events.jsonl").is_file() and not (trash / a).exists()
    assert rows(a) == before
    assert q(store, "SELECT status, run_dir FROM runs WHERE run_id = ?", [a]) == [("completed", str(tmp_path / "runs" / a))]
    assert q(store, "SELECT key, value FROM tags WHERE run_id = ?", [a]) == [("baseline", "yes")]

    # a folder the store recorded outside runs/ (moved there by hand): trashed, then put back there
    elsewhere = tmp_path / "elsewhere" / b
    elsewhere.parent.mkdir()
    shutil.move(tmp_path / "runs" / b, elsewhere)
    con = duckdb.connect(str(store))
    con.execute("UPDATE runs SET run_dir = ? WHERE run_id = ?", [str(elsewhere), b])
    con.close()
    assert cli("rm", b, "--yes").returncode == 0 and not elsewhere.exists() and (trash / b).is_dir()
    r = cli("rm", "--undo", b)
    assert r.returncode == 0 and elsewhere.is_dir() and not (trash / b).exists(), r.stdout + r.stderr
    assert q(store, "SELECT run_dir FROM runs WHERE run_id = ?", [b]) == [(str(elsewhere),)]

    assert cli("rm", a, b, "--yes").returncode == 0
    size = sum(p.stat().st_size for p in trash.rglob("*") if p.is_file())
    dry = cli("gc", "--trash", "--dry-run")
    assert dry.returncode == 0 and "would free" in dry.stdout and f"({size:,} bytes)" in dry.stdout, dry.stdout
    assert (trash / a).is_dir()
    r = cli("gc", "--trash")
    assert r.returncode == 0 and f"({size:,} bytes)" in r.stdout and "2 deleted runs" in r.stdout, r.stdout
    assert not any(trash.iterdir())
    r = cli("rm", "--undo", a)
    assert r.returncode == 2 and "not in the trash" in r.stderr, r.stderr
