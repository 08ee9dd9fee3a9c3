"""Generators of the synthetic demo data under recipes/demo/data (see tools/prepare.py)."""
