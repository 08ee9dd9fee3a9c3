"""`workbench tune`: a study of trials (each a run of one group) on Optuna, searching the recipe's knobs
(issue 30; docs/architecture.md "Tune").

study.py: the one door to a study's journal storage (sampler, pruner, direction, trial 0); space.py: the
search space (the task's default, the recipe's [tune.space], --space) and a trial's values as recipe
values; worker.py: the loop that asks a trial, runs it as a run of the group and tells the study how it
ended; best_recipe.py: the best trial's recipe written as TOML beside the source's comments.
"""
