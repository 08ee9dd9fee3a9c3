"""The app's group of runs: `workbench run` detached that ends before its first run is said in one line
(first_group_run), and the Monitor's line of a group (GroupWatch.line)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workbench.actions.launch import GroupStarted, first_group_run
from workbench.errors import UserError
from workbench.launch.watch import RunWatch
from workbench.store.db import connect
from workbench.tui.run_group import GroupWatch


def test_a_group_command_that_ends_before_its_first_run_is_one_line(tmp_path):
    store = tmp_path / "runs.duckdb"
    with connect(store):
        pass
    log = tmp_path / "g.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-c", "import sys; print('loading'); "
                                    "print('error: r.toml: model.source is required', file=sys.stderr); sys.exit(2)"],
                                   stdout=out, stderr=subprocess.STDOUT)
    with pytest.raises(UserError) as e:
        first_group_run(store, GroupStarted("g", "methods", 2, process, log), poll_s=0.05)
    assert str(e.value) == "r.toml: model.source is required"


def test_the_group_line_says_which_run_of_n_and_the_counts():
    watches = {"a": RunWatch("a"), "b": RunWatch("b")}
    watches["a"].set_status("failed")
    watches["b"].status = "running"
    gw = GroupWatch("G", "methods", 3, ["a", "b"])
    assert gw.line(watches) == "methods group G: run 2 of 3 running · 1 failed"
    watches["b"].set_status("completed")
    gw.ended = True
    assert gw.line(watches) == "methods group G: 2 of 3 runs ran (the group stopped) · 1 failed, 1 completed"
