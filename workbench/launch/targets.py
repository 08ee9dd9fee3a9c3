"""`launch.target`: where a run trains and who starts it. Parsed once when a recipe loads
(`recipe.launch.target`); the class lives with the recipe (workbench/recipe/parsed.py), below
the launchers, and is named here for them and for run.json's `target`."""

from __future__ import annotations

from workbench.recipe.parsed import Target, parse_target

__all__ = ["Target", "parse_target"]
