"""Fixtures of the fault-injection probes (tests/faults): the real CLI against a store in tmp_path,
the mounts the file-system faults need, and `probe`, which records each probe's outcome for the
reliability page (docs/reliability.md, written by `python -m tests.faults.page`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.conftest import cli, cli_env  # noqa: F401 - fixtures, used by the probes
from tests.integration.filesystems import read_only_bind, tmpfs  # noqa: F401 - fixtures, used by the probes

# Where the probes' outcomes go when the page is being made (tests/faults/page.py sets it).
OUT_ENV = "WORKBENCH_PROBES_OUT"


class Probe:
    """probe.record(name, measured): one row of the reliability page. What was done and what must
    hold come from the test's docstring (its first paragraph and its "Holds:" paragraph)."""

    def __init__(self, request):
        self.test = request.node.name
        doc = (request.node.function.__doc__ or "").strip()
        parts = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
        self.done = parts[0] if parts else self.test
        self.holds = next((p[len("Holds:"):].strip() for p in parts if p.startswith("Holds:")), "")
        self.rows: list[dict] = []

    def record(self, measured: str, name: str | None = None) -> None:
        self.rows.append({"probe": name or self.test, "done": self.done, "holds": self.holds, "measured": measured})


@pytest.fixture
def probe(request):
    p = Probe(request)
    yield p
    out = os.environ.get(OUT_ENV)
    if out:
        passed = not (request.node.rep_call.failed if hasattr(request.node, "rep_call") else True)
        with open(Path(out), "a", encoding="utf-8") as f:
            for r in p.rows or [{"probe": p.test, "done": p.done, "holds": p.holds, "measured": ""}]:
                f.write(json.dumps({**r, "test": p.test, "passed": passed}) + "\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.when == "call":
        item.rep_call = rep  # the probe fixture's teardown reads whether the probe held
    return rep
