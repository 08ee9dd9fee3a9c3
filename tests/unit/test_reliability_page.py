"""docs/reliability.md is made from the fault probes (tests/faults/page.py): every probe has its row,
and the page names no probe that is gone."""

from __future__ import annotations

import re

from tests.faults.page import BEFORE, PAGE, probe_names


def test_every_probe_has_a_row_and_every_row_a_probe():
    names = probe_names()
    assert names, "no probes found"
    on_page = {m.split("[")[0] for m in re.findall(r"^\| `(test_[^`]+)` \|", PAGE.read_text(encoding="utf-8"), re.M)}
    assert on_page == set(names), ("regenerate the page: python -m tests.faults.page", set(names) ^ on_page)


def test_every_probe_says_what_it_did_before():
    assert set(BEFORE) == set(probe_names())
