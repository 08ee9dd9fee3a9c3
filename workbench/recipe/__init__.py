"""Recipes: the schema (each knob declared once) and TOML load/validate/override/save."""

from workbench.recipe.load import Recipe, load_recipe, recipe_from_dict, update_recipe_file, write_frozen

__all__ = ["Recipe", "load_recipe", "recipe_from_dict", "update_recipe_file", "write_frozen"]
