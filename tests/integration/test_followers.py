"""Two followers, one truth: the CLI (`workbench attach`) and the app's follower (the same
`follow`, as the app's monitor runs it) follow one run at once; each shows every evaluation the
trainer wrote, whatever the other ingested into the store first."""

from __future__ import annotations

import re
import subprocess
import sys
import threading

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import events_of, q, run_dir_from_output

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

EPOCHS = ("--set", "train.epochs=4", "--set", "train.logging_steps=5")


def _evals(events: list[dict]) -> list[tuple[str, str, float]]:
    """(phase, split, epoch to 2 decimals) of every eval event, as the CLI prints them."""
    return [(e["phase"], e["split"], round(float(e.get("epoch") or 0), 2)) for e in events if e.get("type") == "eval"]


def test_cli_and_app_followers_each_show_every_evaluation(cli, cli_env, tmp_path):
    from workbench.launch.follow import follow

    store = tmp_path / "runs.duckdb"
    r = cli("run", DEMO_RECIPE, "--detach", *EPOCHS)
    assert r.returncode == 0, r.stderr
    run_dir = run_dir_from_output(r.stdout, tmp_path)
    attach = subprocess.Popen([sys.executable, "-m", "workbench", "attach", run_dir.name], cwd=tmp_path,
                              env={**cli_env, "COLUMNS": "200"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    shown: list[dict] = []   # what the app's follower hands its monitor
    final: list[str] = []
    app = threading.Thread(target=lambda: final.append(follow(store, run_dir, on_events=lambda f: shown.extend(f.events),
                                                              ctrl_c="detach")))
    app.start()
    out, _ = attach.communicate(timeout=500)
    app.join(timeout=500)
    assert attach.returncode == 0, out
    assert final == ["completed"]

    written = _evals(events_of(run_dir))
    assert len(written) >= 1 + 4 + 1 + 1, written  # base, one per epoch, tuned, prior (validation at least)
    assert ("prior", "validation", 0.0) in written
    # "eval base (validation, epoch 0.00)"; the tuned line names the epoch of the weights it scored; the
    # label prior's ("eval prior (validation, no model: ...)") none: no model, no epoch
    said = re.finditer(r"eval (\w+) \((\w+)(?:, (?:the weights of )?epoch ([\d.]+)|, no model)", out)
    printed = [(m[1], m[2], round(float(m[3] or 0), 2)) for m in said]
    assert printed == written, out
    assert _evals(shown) == written
    # ... and a third follower, after the other two ingested everything, still shows it all.
    again: list[dict] = []
    assert follow(store, run_dir, on_events=lambda f: again.extend(f.events)) == "completed"
    assert _evals(again) == written
    stored = q(store, "SELECT count(DISTINCT seq) FROM evals WHERE run_id = ?", [run_dir.name])[0][0]
    assert stored == len(written)
