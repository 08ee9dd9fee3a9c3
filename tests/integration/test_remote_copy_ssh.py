"""A remote run's events.jsonl truncated and written past the local copy's end, followed through a real
OpenSSH server on 127.0.0.1: the follower's poll sends its copy's offsets and fingerprints, the agent
there (`python -m workbench.launch.agent tail`, this checkout's) sends the changed file from its start,
the copy starts over and every event is stored once (tests/unit/test_remote_copy.py has the same
without ssh). No training: the remote folder is written by workbench's own writers."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from tests.conftest import DEMO_RECIPE, ROOT, _ssh_server
from tests.integration.runs import q, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

T0 = 1_770_000_000.0
RUN = "remote-20260101-120000-0c0c"


@pytest.fixture(scope="module")
def sshd_here():
    """An ssh server whose sessions import this checkout's workbench (the agent under test)."""
    server = _ssh_server({"PYTHONPATH": str(ROOT)}, alias="wbcopy")
    yield server
    server.close()


def steps(first_seq: int, n: int, first_step: int) -> bytes:
    return b"".join(json.dumps({"seq": first_seq + i, "t": T0 + first_seq + i, "type": "step", "step": first_step + i,
                                "loss": 1.0 / (first_step + i), "pad": "x" * 60}).encode() + b"\n" for i in range(n))


def test_a_remote_file_truncated_and_written_past_the_copy_is_followed_whole_over_ssh(tmp_path, sshd_here,
                                                                                     monkeypatch):
    from workbench import rundir
    from workbench.events import EventWriter
    from workbench.launch.follow import poll
    from workbench.recipe import load_recipe, write_frozen

    monkeypatch.setenv("WORKBENCH_SSH_CONFIG", str(sshd_here.config))
    monkeypatch.setenv("WORKBENCH_SSH_MULTIPLEX", "0")
    remote = tmp_path / "remote home" / "runs" / RUN
    local = tmp_path / "runs" / RUN
    for d in (remote, local):
        d.mkdir(parents=True)
    recipe = load_recipe(DEMO_RECIPE, [f"launch.python={sys.executable}"])
    write_frozen(recipe, local / rundir.RECIPE, f"Frozen recipe of run {RUN}")
    rundir.write_run_meta(local, {"run_id": RUN, "recipe_name": recipe.name, "target": f"ssh:{sshd_here.alias}",
                                  "created_at": T0, "host": "testhost", "job_dir": str(remote)})
    shutil.copy(local / rundir.RUN_META, remote / rundir.RUN_META)
    shutil.copy(local / rundir.RECIPE, remote / rundir.RECIPE)
    path = rundir.events_file(remote)
    with EventWriter(path) as w:
        w.emit("start", run_id=RUN, recipe=recipe.values, versions={"python": "3"}, host="remotehost", pid=0,
               world_size=1)
        w.emit("model", trainable_params=1234, total_params=100000, source="tiny:distilbert", method="lora")
    with open(path, "ab") as f:
        f.write(steps(2, 40, first_step=1))
    rundir.write_job(remote, {"kind": "local", "pid": 0, "host": "remotehost"})  # its job gone: ended
    store = tmp_path / "runs.duckdb"

    def stored() -> list[int]:
        if not store.exists():
            return []
        return [s for (s,) in q(store, "SELECT seq FROM steps ORDER BY seq")]

    def followed(want: list[int]) -> bool:
        poll(store, local)
        return stored() == want

    wait_for(lambda: followed(list(range(2, 42))), 120, "the first 40 steps through ssh")
    size = path.stat().st_size
    path.write_bytes(steps(42, 80, first_step=41))  # truncated there, written on past the copy's end
    assert path.stat().st_size > size
    wait_for(lambda: followed(list(range(2, 122))), 120, "every step of both files through ssh")
    assert rundir.events_file(local).read_bytes() == path.read_bytes()
