"""Metrics: per-label classification (scikit-learn); entity spans and fairness arrive with their tasks."""
