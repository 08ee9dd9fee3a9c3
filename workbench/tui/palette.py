"""The command palette beyond the screen in front (whose keys app.py's get_system_commands offers):
every run of the store (its detail), every recipe (its editor), and every mode's commands (the mode
comes to the front, then the command runs there). Found from any screen with ctrl+p.

Runs and recipes are read once per opening of the palette, in a thread (the store through the read
layer, the recipe folders through the catalog), and matched by substring: each word typed is part
of the line (a part of a run id finds it), which stays fast over 10,000 runs where fuzzy matching
each keystroke would not."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.screen import Screen

from workbench.recipe import catalog
from workbench.store import read

MAX_HITS = 40  # of runs and recipes per search: the palette shows a screenful anyway


@dataclass(frozen=True)
class Entry:
    text: str    # what the palette shows and what is matched
    help: str
    open: Callable[[], Any]
    lower: str = field(init=False)  # text in lower case, made once: each keystroke searches every entry

    def __post_init__(self) -> None:
        object.__setattr__(self, "lower", self.text.lower())


def word_hits(entries: Iterable[Entry], query: str) -> list[tuple[float, Entry]]:
    """(score, entry) of the entries whose text holds every word of `query` (case ignored), the
    tightest matches first."""
    words = query.lower().split()
    if not words:
        return []
    typed = sum(len(w) for w in words)
    hits = ((typed / len(e.text), e) for e in entries if all(w in e.lower for w in words))
    return heapq.nlargest(MAX_HITS, hits, key=lambda h: h[0])


class RunsAndRecipes(Provider):
    """`run ID` opens the run's detail; `recipe PATH` opens the recipe in the editor."""

    async def startup(self) -> None:
        self.entries: list[Entry] = []
        runs, (recipes, dirs) = await asyncio.gather(asyncio.to_thread(self._runs), asyncio.to_thread(self._recipes))
        for r in runs:
            self.entries.append(Entry(f"run {r['run_id']}", " · ".join(str(r[k]) for k in ("status", "recipe_name")
                                                                      if r.get(k)),
                                      partial(self._open_run, r["run_id"])))
        for e in recipes:
            self.entries.append(Entry(f"recipe {catalog.relative_name(e.path, dirs)}", e.error or e.description,
                                      partial(self._open_recipe, e)))

    def _runs(self) -> list[dict[str, Any]]:
        with self.app.gate.connect() as con:  # type: ignore[attr-defined]  # WorkbenchApp's (app_base.py)
            return read.list_runs(con)

    @staticmethod
    def _recipes() -> tuple[list[catalog.RecipeEntry], list]:
        dirs = catalog.recipe_dirs()
        return catalog.find_recipes(dirs), dirs

    def _open_run(self, run_id: str) -> None:
        from workbench.tui.screens.detail import DetailScreen

        self.app.push_screen(DetailScreen(run_id))

    def _open_recipe(self, entry: catalog.RecipeEntry) -> None:
        from workbench.tui.screens.editor import EditorScreen

        if entry.error:
            self.app.notify(f"{entry.path}: {entry.error}", title="cannot edit", severity="error")
            return
        self.app.push_screen(EditorScreen(entry.path))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for score, e in word_hits(self.entries, query):
            yield Hit(score, matcher.highlight(e.text), e.open, text=e.text, help=e.help)


def mode_commands(modes: Mapping[str, type[Screen]], in_front: Screen) -> Iterable[tuple[str, str, str, str]]:
    """(mode, title, action, help) of every described binding of each mode's screen but the one in front."""
    for mode, cls in modes.items():
        if isinstance(in_front, cls):
            continue
        seen = set()
        for b in cls.BINDINGS:
            if isinstance(b, Binding) and b.description and b.action not in seen:
                seen.add(b.action)
                yield mode, f"{mode.title()}: {b.description}", b.action, b.tooltip or f"key {b.key} in {mode}"


class ModeCommands(Provider):
    """`Runs: Filter`, `Recipes: New`, …: the mode comes to the front (screens over it closed), then
    the command runs on its screen."""

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for mode, title, action, help_text in mode_commands(self.app.MODES, self.screen):  # type: ignore[arg-type]  # our MODES are Screen classes
            if (score := matcher.match(title)) > 0:
                yield Hit(score, matcher.highlight(title), partial(self._run, mode, action), text=title, help=help_text)

    async def _run(self, mode: str, action: str) -> None:
        app = self.app
        if app.current_mode != mode:
            await app.switch_mode(mode)
        while len(app.screen_stack) > 1:
            await app.pop_screen()
        await app.run_action(action, app.screen)
