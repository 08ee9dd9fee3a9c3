"""`workbench tune`: a study of trials (each a run of one group) on Optuna, searching the recipe's knobs.

space.py: the search space (the task's default, the recipe's [tune.space], --space) and a trial's values
as recipe values; best_recipe.py: the best trial's recipe written as TOML beside the source's comments.
"""
