"""Data loaders and validation (pure Python: they run before any model loads)."""
