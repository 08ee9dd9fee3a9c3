"""Experiment trackers fed from a run's events (MLflow: mlflow_sink.py)."""
