"""`workbench tune`: a hyperparameter search over a recipe on Optuna (issue 30). study.py is the one door
to a study's journal storage; worker.py the loop that asks a trial, runs it as a run of the group and tells
the study how it ended."""
