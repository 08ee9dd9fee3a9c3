"""`workbench serve` in a real browser: headless Chromium (the system's, through selenium) opens the printed
URL and, by keys, sees the Runs list, opens the demo recipe in the editor, moves to its lora section,
launches it, watches the Monitor count its steps, closes the tab mid-run (the run goes on), opens the URL
again and sees the run end in the Monitor with base → tuned, then the run in the Runs list and the
per-label base-vs-tuned table in its detail; a second tab sees the same run in its Runs list. Every wait
is on the screen's text.

The browser's picture of the Monitor at the end is the README's (docs/screenshots/serve.png): set
WORKBENCH_SERVE_SCREENSHOT=docs/screenshots/serve.png (a path from the repository root) to write it there.
"""

from __future__ import annotations

import os
import re

import pytest

from tests.conftest import ROOT, copy_encoder_demo
from tests.integration.browser import Browser, chromium_or_skip
from tests.integration.runs import q
from tests.integration.serving import serving

LABELS = ("advertisement", "irrelevant_content", "non_visitor_rant", "toxicity")
STEP = re.compile(r"step (\d+)/(\d+)")


def step_of(text: str) -> int:
    m = STEP.search(text)
    return int(m[1]) if m else 0


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_served_app_runs_the_demo_end_to_end_in_headless_chromium(tmp_path):
    chromium_or_skip()
    recipe = copy_encoder_demo(tmp_path / "recipes" / "demo")
    store = tmp_path / "runs.duckdb"
    env = {"WORKBENCH_STORE": str(store), "WORKBENCH_RECIPES": str(recipe.parent.parent),
           "XDG_STATE_HOME": str(tmp_path / "state"), "HF_HUB_OFFLINE": "1"}
    shots = [tmp_path / "serve.png"] + ([ROOT / os.environ["WORKBENCH_SERVE_SCREENSHOT"]]
                                        if os.environ.get("WORKBENCH_SERVE_SCREENSHOT") else [])
    with serving(env, cwd=tmp_path) as served:
        browser = Browser()
        try:
            # 1. The app, as in a terminal: the recipes, then the Runs list (empty), by their keys.
            browser.open(served.url)
            browser.until_shown("demo_encoder_multilabel", "e Edit")
            browser.press("2")
            browser.until_shown("no runs yet", "/ Filter")
            browser.press("1")
            browser.until_shown("demo_encoder_multilabel", "e Edit")
            # 2. The recipe in the editor; ctrl+n three times: general → model → data → lora.
            browser.press("enter")
            browser.until_shown("general model data lora", "No changes")
            for first_knob in ("model.source", "data.train_file", "lora.r  default 16"):
                browser.press("ctrl+n")
                browser.until_shown(first_knob)
            # 3. Launch: the dialog previews the command; submit.
            browser.press("ctrl+l")
            browser.until_shown("Launch encoder_multilabel.toml", "which runs the trainer", timeout=300)
            browser.press("ctrl+s")
            # 4. The Monitor counts the steps.
            first = browser.until(lambda t: step_of(t) > 0 and "running" in t, "the Monitor's first steps", 600)
            (run_dir,) = (tmp_path / "runs").iterdir()  # the run folder beside the store
            run_id = run_dir.name
            # 5. Closing the tab stops nothing: the run goes on, and the URL opened again follows it to its end.
            browser.open("about:blank")
            browser.open(served.url)
            browser.until_shown("demo_encoder_multilabel", "e Edit")
            browser.press("3")
            browser.until(lambda t: step_of(t) > step_of(first), "the Monitor of the tab opened again", 600)
            end = browser.until(lambda t: "completed" in t and "f1μ" in t and "→" in t, "the run's end", 900)
            base, tuned = map(float, re.search(r"f1μ (\d\.\d+)→(\d\.\d+) \+", end).groups())
            assert tuned > base + 0.1
            for shot in shots:
                browser.save_screenshot(shot)
            # 6. The Runs list has it once the store does; its detail, the Base vs tuned tab: every label,
            # base → tuned, Δ.
            browser.press("2")
            browser.until_shown(run_id, "completed", "/ Filter")
            browser.press("enter")
            browser.until_shown(f"{run_id}  completed", "tuned aggregates", "esc Back")
            browser.press("]")
            table = browser.until_shown("metric", "base", "tuned", "Δ", *LABELS)
            shown = {label: float(re.search(rf"{label}\s+f1\s+\d\.\d+\s+\d\.\d+\s+([+-]\d\.\d+)", table)[1])
                     for label in LABELS}
            # 7. A second tab is another app on the same store: its Runs list has the run.
            browser.new_tab(served.url)
            browser.until_shown("e Edit")
            browser.press("2")
            browser.until_shown(run_id, "completed")
        finally:
            browser.close()
    # The store, read once the server and its apps are gone: the table showed what it holds.
    for label, delta in shown.items():
        stored = q(store, "SELECT delta FROM base_vs_tuned WHERE run_id = ? AND label = ? AND metric = 'f1'",
                   [run_id, label])[0][0]
        assert abs(delta - stored) < 1e-3
    assert q(store, "SELECT status FROM runs WHERE run_id = ?", [run_id]) == [("completed",)]
    assert all(p.stat().st_size > 10_000 for p in shots)
