"""Reusable widgets of the app (forms generated from the recipe schema)."""

from workbench.tui.widgets.knob_form import KnobField, changes_of, first_error, summary_lines

__all__ = ["KnobField", "changes_of", "first_error", "summary_lines"]
