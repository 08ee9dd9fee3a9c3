"""The training process: `python -m workbench.train RUN_DIR` (every launcher starts this)."""
