"""Local launches for real: detached trainer processes, 2-rank gloo training, attach, stop,
SIGKILL, a crashing trainer, secrets, dry runs and hostile launch values."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import DEMO_CSV, DEMO_RECIPE
from tests.integration.runs import assert_every_event_stored_once, events_of, q, run_dir_from_output, wait_for, wait_for_step

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SHORT = ("--set", "train.epochs=3", "--set", "train.logging_steps=5")
LONG = ("--set", "train.epochs=200", "--set", "train.logging_steps=1")


def test_detached_run_survives_and_attach_follows_it_to_the_end(cli, tmp_path):
    started = time.monotonic()
    r = cli("run", DEMO_RECIPE, "--detach", *SHORT, "--telemetry-interval", "0.2")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - started < 30  # returned while the trainer still loads / trains
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    job = json.loads((run_dir / "job.json").read_text())
    assert os.getsid(job["pid"]) == job["pid"]  # its own session: closing our terminal cannot reach it

    att = cli("attach", run_dir.name, timeout=300)
    assert att.returncode == 0, att.stdout + att.stderr
    assert "completed" in att.stdout and "base vs tuned" in att.stdout
    store = tmp_path / "runs.duckdb"
    run_id = run_dir.name
    assert q(store, "SELECT status, world_size, error FROM runs")[0] == ("completed", 1, None)
    assert json.loads((run_dir / "exit.json").read_text())["returncode"] == 0
    assert_every_event_stored_once(store, run_id, run_dir)
    # host telemetry every 0.2 s from rank 0, stated as host-only on this GPU-less machine
    (n, cpu, rss), = q(store, "SELECT count(*), max(cpu_pct), max(rss_bytes) FROM telemetry WHERE gpu IS NULL AND rank = 0")
    assert n >= 5 and cpu is not None and rss > 100 << 20  # torch and the model are loaded
    notes = [m for (m,) in q(store, "SELECT message FROM logs WHERE message LIKE 'telemetry every%'")]
    assert notes and ("host CPU and RSS only" in notes[0] or "GPU telemetry via NVML" in notes[0])
    # attach on an ended run prints its result and returns at once
    again = cli("attach", run_id)
    assert again.returncode == 0 and "already ended" in again.stdout


def test_two_gloo_ranks_train_together(cli, tmp_path):
    store = tmp_path / "runs.duckdb"
    one = cli("run", DEMO_RECIPE, "--quiet", *SHORT, timeout=300)
    two = cli("run", DEMO_RECIPE, "--quiet", *SHORT, "--processes", "2", timeout=300)
    assert one.returncode == 0 and two.returncode == 0, two.stdout + two.stderr
    single, multi = (run_dir_from_output(x.stdout, tmp_path) for x in (one, two))
    start = next(e for e in events_of(multi) if e["type"] == "start")
    assert start["world_size"] == 2
    # the two ranks split each batch: half the optimizer steps of one process for the same epochs
    steps = lambda d: max(e["max_steps"] for e in events_of(d) if e["type"] == "step")  # noqa: E731
    assert steps(multi) * 2 == pytest.approx(steps(single), abs=2)
    # rank 1 wrote only its own file (telemetry, log); the store has both ranks' samples
    rank1 = events_of(multi, "events.rank1.jsonl")
    assert rank1 and {e["type"] for e in rank1} <= {"telemetry", "log"}
    ranks = q(store, "SELECT DISTINCT rank FROM telemetry WHERE run_id = ? ORDER BY rank", [multi.name])
    assert ranks == [(0,), (1,)]
    n1 = q(store, "SELECT count(*) FROM telemetry WHERE run_id = ? AND rank = 1", [multi.name])[0][0]
    assert n1 == sum(1 for e in rank1 if e["type"] == "telemetry")
    # and they learned: tuned validation loss below the base model's
    (base, tuned), = q(store, "SELECT base, tuned FROM base_vs_tuned WHERE run_id = ? AND metric = 'loss' "
                              "AND label = '(all)'", [multi.name])
    assert tuned < base
    assert_every_event_stored_once(store, multi.name, multi)
    shown = cli("show", multi.name).stdout
    assert "2 processes" in shown and "2 ranks" in shown and "no GPU samples" in shown


def test_two_gloo_ranks_train_the_4bit_decoder_each_with_its_own_model(cli, tmp_path):
    """The QLoRA layout of a GPU server (one process per device, each loading its own 4-bit model
    where its rank says), on CPU ranks: both ranks report telemetry and the run learns."""
    recipe = Path(DEMO_RECIPE).parent / "decoder_classification.toml"
    r = cli("run", str(recipe), "--quiet", "--set", "seeds=[]", "--set", "train.epochs=2",
            "--set", "train.logging_steps=2", "--processes", "2", "--telemetry-interval", "0.5", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    run = run_dir_from_output(r.stdout, tmp_path)
    store = tmp_path / "runs.duckdb"
    assert q(store, "SELECT world_size, status, quantized FROM runs WHERE run_id = ?", [run.name]) == [
        (2, "completed", "4bit-nf4")]
    assert q(store, "SELECT DISTINCT rank FROM telemetry WHERE run_id = ? ORDER BY rank", [run.name]) == [(0,), (1,)]
    assert q(store, "SELECT message FROM logs WHERE run_id = ? AND message LIKE 'placement:%'", [run.name]) == [
        ("placement: rank 0 of 2: 4-bit weights on the CPU",)]
    (base, tuned), = q(store, "SELECT base, tuned FROM base_vs_tuned WHERE run_id = ? AND metric = 'loss' "
                              "AND label = '(all)' AND split = 'validation'", [run.name])
    assert tuned < base


def test_stop_cancels_a_running_run(cli, tmp_path):
    r = cli("run", DEMO_RECIPE, "--detach", *LONG)
    assert r.returncode == 0, r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    wait_for_step(run_dir)
    s = cli("stop", run_dir.name, timeout=180)
    assert s.returncode == 0, s.stdout + s.stderr
    assert "cancelled" in s.stdout
    store = tmp_path / "runs.duckdb"
    status, error = q(store, "SELECT status, error FROM runs")[0]
    assert status == "cancelled" and "workbench stop" in error
    events = events_of(run_dir)
    assert events[-1]["type"] == "end" and events[-1]["status"] == "interrupted"  # the trainer stopped cleanly
    assert_every_event_stored_once(store, run_dir.name, run_dir)
    pid = json.loads((run_dir / "job.json").read_text())["pid"]
    wait_for(lambda: not _alive(pid), 30, "the supervisor to exit")


def test_sigkilled_trainer_ends_failed_with_every_event_stored(cli, tmp_path):
    r = cli("run", DEMO_RECIPE, "--detach", *LONG)
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    wait_for_step(run_dir)
    trainer = next(e for e in events_of(run_dir) if e["type"] == "start")["pid"]
    os.kill(trainer, signal.SIGKILL)
    wait_for(lambda: (run_dir / "exit.json").exists(), 60, "the supervisor's exit record")
    s = cli("sync")
    assert s.returncode == 0, s.stderr
    store = tmp_path / "runs.duckdb"
    status, error = q(store, "SELECT status, error FROM runs")[0]
    assert status == "failed" and "SIGKILL" in error
    assert events_of(run_dir)[-1]["type"] != "end"
    assert_every_event_stored_once(store, run_dir.name, run_dir)


def test_trainer_that_fails_exits_non_zero_and_is_recorded_failed(cli, tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_bytes(DEMO_CSV.read_bytes())
    r = cli("run", DEMO_RECIPE, "--detach", "--set", f"data.train_file={data}")
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    data.unlink()  # gone before the trainer (still importing torch) reads it
    att = cli("attach", run_dir.name, timeout=180)
    assert att.returncode == 1
    exit_rec = json.loads((run_dir / "exit.json").read_text())
    assert exit_rec["returncode"] == 1
    status, error = q(tmp_path / "runs.duckdb", "SELECT status, error FROM runs")[0]
    assert status == "failed" and "reviews.csv" in error


def test_secrets_reach_the_job_only_through_the_environment(cli, tmp_path):
    secret = "hf_SECRET_a8f3c2d1e0"
    os.environ["HF_TOKEN"] = secret
    try:
        r = cli("run", DEMO_RECIPE, "--quiet", "--set", "train.max_steps=2", "--set", "eval.base=false", timeout=300)
    finally:
        del os.environ["HF_TOKEN"]
    assert r.returncode == 0, r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    start = next(e for e in events_of(run_dir) if e["type"] == "start")
    assert "HF_TOKEN" in start["env_forwarded"]  # it arrived
    for path in [*run_dir.rglob("*"), tmp_path / "runs.duckdb"]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
