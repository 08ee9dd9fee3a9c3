"""Regenerate the screenshots of the README and docs/app.md (SVG, exported by Textual) from the fixed sample store:

    python docs/make_screenshots.py          # writes docs/screenshots/*.svg

Same data and clock as the snapshot tests, so the pictures only change when the screens do.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tui.conftest import FIXED_NOW, SAMPLE_ROOT  # noqa: E402
from tools.sample_store import held_sample_store  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
SIZE = (100, 30)
LORA = "demo_encoder_multilabel-20260921-141320-a1b2"
RUNNING = "encoder_multilabel-20260925-080000-beef"
SEEDS = [f"seed_sweep-20260923-100000-000{i}" for i in (1, 2, 3)]


async def settle(pilot, seconds: float = 0.8) -> None:
    await pilot.pause(0.2)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause(seconds)
    for widget in pilot.app.screen.query("Input"):
        widget.cursor_blink = False


async def recipes(pilot):
    await settle(pilot)


async def editor(pilot):
    from workbench.tui.screens.editor import EditorScreen

    await settle(pilot)
    await pilot.app.push_screen(EditorScreen(ROOT / "recipes" / "demo" / "encoder_multilabel.toml"))
    await settle(pilot)
    screen = pilot.app.screen
    screen.query_one("#sections").active = "sec-lora"
    await pilot.pause(0.2)
    screen.query_one("#field-lora-r").query_one("#value").value = "32"
    await settle(pilot)


async def launch(pilot):
    from workbench.tui.screens.launch import LaunchScreen

    await settle(pilot)
    await pilot.app.push_screen(LaunchScreen(ROOT / "recipes" / "encoder_multilabel.toml", []))
    await settle(pilot)
    screen = pilot.app.screen
    screen.query_one("#target").value = "slurm"
    await pilot.pause(0.2)
    for key, value in (("partition", "gpu"), ("time", "04:00:00"), ("gpus", "4")):
        screen.query_one(f"#field-launch-{key}").query_one("#value").value = value
    await pilot.pause(0.6)
    await settle(pilot)


async def monitor(pilot):
    pilot.app.follow_run(RUNNING, SAMPLE_ROOT / "runs" / RUNNING)
    await pilot.press("3")
    await settle(pilot, 1.2)


async def runs(pilot):
    await pilot.press("2")
    await settle(pilot)
    await pilot.press("down", "down", "space", "space", "space")
    await settle(pilot)


async def detail(pilot):
    from workbench.tui.screens.detail import DetailScreen

    await pilot.press("2")
    await settle(pilot)
    await pilot.app.push_screen(DetailScreen(LORA))
    await settle(pilot)
    pilot.app.screen.query_one("#detail-tabs").active = "tab-diff"
    await settle(pilot)


async def compare(pilot):
    from workbench.tui.screens.compare import CompareScreen

    await pilot.press("2")
    await settle(pilot)
    await pilot.app.push_screen(CompareScreen(SEEDS))
    await settle(pilot)


async def query(pilot):
    await pilot.press("4")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)


SHOTS = {"recipes": recipes, "editor": editor, "launch": launch, "monitor": monitor, "runs": runs,
         "detail": detail, "compare": compare, "query": query}


async def shoot(name: str, steps) -> None:
    from workbench.tui.app import WorkbenchApp

    app = WorkbenchApp(SAMPLE_ROOT / "runs.duckdb", clock=lambda: FIXED_NOW, follow=False)
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot)
        app.save_screenshot(filename=f"{name}.svg", path=str(OUT))
    print(OUT / f"{name}.svg")


def main() -> None:
    os.environ["WORKBENCH_RECIPES"] = str(ROOT / "recipes")
    OUT.mkdir(parents=True, exist_ok=True)
    with held_sample_store(SAMPLE_ROOT):  # a test session using it waits, and is waited for
        for name, steps in SHOTS.items():
            if len(sys.argv) > 1 and name not in sys.argv[1:]:
                continue
            asyncio.run(shoot(name, steps))


if __name__ == "__main__":
    main()
