"""events.jsonl deleted while a real run trains: every follower (the CLI's `attach`, the app's follower)
says so at once and goes on following; at its next event the trainer writes its whole stream back
(events.EventWriter) and says so, so the run ends with its own `end` and every event of it is in the
folder and the store; the store records that the file was gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import assert_every_event_stored_once, q, run_dir_from_output, wait_for, wait_for_step
from workbench.rundir import read_job

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_a_deleted_event_file_is_said_at_once_and_the_end_says_what_the_folder_holds(cli, cli_env, tmp_path):
    from workbench.launch.follow import follow
    from workbench.store import read
    from workbench.store.db import connect

    store = tmp_path / "runs.duckdb"
    r = cli("run", DEMO_RECIPE, "--detach", "--set", "train.epochs=2")
    assert r.returncode == 0, r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    wait_for_step(run_dir)
    group = read_job(run_dir)["pid"]  # the supervisor leads the job's process group (trainer included)
    os.killpg(group, signal.SIGSTOP)  # held at a known place while the followers start and the file goes
    try:
        lines: list[str] = []
        attach = subprocess.Popen([sys.executable, "-m", "workbench", "attach", run_dir.name], cwd=tmp_path,
                                  env={**os.environ, **cli_env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        reader = threading.Thread(target=lambda: lines.extend(attach.stdout), daemon=True)
        reader.start()
        shown, warnings, final = [], [], []

        def app_feed(feed):
            shown.extend(feed.events)
            warnings.extend(feed.warnings)

        app = threading.Thread(target=lambda: final.append(follow(store, run_dir, on_events=app_feed,
                                                                   ctrl_c="detach")), daemon=True)
        app.start()
        wait_for(lambda: any(e.type == "step" for e in shown), 120, "the app's follower to show a step")
        wait_for(lambda: any(line.startswith("model: ") for line in lines), 120, "attach to show the run")
        (run_dir / "events.jsonl").unlink()
        said = f"{run_dir / 'events.jsonl'} is gone"
        wait_for(lambda: any(said in w for w in warnings), 60, "the app's follower to say the file is gone")
        wait_for(lambda: any(said in line for line in lines), 60, "attach to say the file is gone")
    finally:
        os.killpg(group, signal.SIGCONT)
    app.join(timeout=500)
    out = attach.communicate(timeout=500)[0]
    reader.join(timeout=10)
    text = "".join(lines) + (out or "")
    assert attach.returncode == 0, text
    assert final == ["completed"]
    assert "without an end event" not in text
    status, error = q(store, "SELECT status, error FROM runs WHERE run_id = ?", [run_dir.name])[0]
    assert status == "completed" and error is None  # its own end event, written after the stream was put back
    written_back = [line for line in text.splitlines() if "events.jsonl was deleted or replaced" in line]
    assert written_back and "was written back from the trainer's open file" in written_back[0], text
    assert_every_event_stored_once(store, run_dir.name, run_dir)  # the folder holds the whole stream again
    # the record says it: the trainer's note is one of the run's events (and ingestion's own note, when a
    # poll came while the file was gone)
    stored = [m for (m,) in q(store, "SELECT message FROM logs WHERE run_id = ? AND level = 'warning'", [run_dir.name])]
    assert any(m.startswith("events.jsonl was deleted or replaced while the run went on") for m in stored), stored
    with connect(store, read_only=True) as con:
        assert all(n.startswith("events.jsonl is gone from the run folder") for n in read.record_notes(con, run_dir.name))
