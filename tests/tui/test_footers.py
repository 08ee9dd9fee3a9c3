"""At 80×24 every screen shows its own keys in the footer (the app's mode keys live in the title).
Read from the stored 80×24 snapshots, which the snapshot tests hold equal to what the app draws."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.screens.editor import EditorScreen
from workbench.tui.screens.launch import LaunchScreen
from workbench.tui.screens.monitor import MonitorScreen
from workbench.tui.screens.query import QueryScreen
from workbench.tui.screens.recipes import RecipesScreen
from workbench.tui.screens.runs import RunsScreen

SNAPSHOTS = Path(__file__).parent / "__snapshots__"


def lines_of(svg: Path) -> list[str]:
    rows: dict[float, list[str]] = {}
    for m in re.finditer(r"<text([^>]*)>(.*?)</text>", svg.read_text(encoding="utf-8"), re.S):
        y = re.search(r'y="([\d.]+)"', m.group(1))
        if y:
            rows.setdefault(float(y.group(1)), []).append(html.unescape(re.sub("<[^>]+>", "", m.group(2))))
    return ["".join(v).replace("\xa0", " ") for _, v in sorted(rows.items())]


@pytest.mark.parametrize("screen, snapshot", [
    (RecipesScreen, "test_recipes/TestRecipesScreen.test_snapshot_80x24.svg"),
    (EditorScreen, "test_editor/TestEditorScreen.test_snapshot_80x24.svg"),
    (LaunchScreen, "test_launch_dialog/TestLaunchScreen.test_snapshot_80x24.svg"),
    (RunsScreen, "test_runs/TestRunsScreen.test_snapshot_80x24.svg"),
    (DetailScreen, "test_detail/TestDetailScreen.test_snapshot_80x24_metrics.svg"),
    (CompareScreen, "test_compare/TestCompareScreen.test_snapshot_80x24_seed_group.svg"),
    (MonitorScreen, "test_monitor/TestMonitorScreen.test_snapshot_80x24.svg"),
    (QueryScreen, "test_query/TestQueryScreen.test_snapshot_80x24.svg"),
])
def test_every_shown_key_of_the_screen_fits_the_footer_at_80_columns(screen, snapshot):
    footer = lines_of(SNAPSHOTS / snapshot)[-1]
    shown = [b for b in screen.BINDINGS if getattr(b, "show", True) and getattr(b, "description", "")]
    assert shown
    for b in shown:
        assert b.description in footer, f"{screen.__name__}: {b.key} {b.description!r} is not in {footer!r}"
    assert "Back" in footer or screen in (RecipesScreen, RunsScreen, MonitorScreen, QueryScreen, LaunchScreen)
