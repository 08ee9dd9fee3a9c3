"""Transitional: the pre-flight moved to workbench/actions/validate.py; commands/run.py and
commands/evaluate.py still import it from here until they move to the actions layer too."""

from workbench.actions.validate import checked_recipe, hub_token_file, preflight

__all__ = ["checked_recipe", "hub_token_file", "preflight"]
