"""Fixtures shared by the unit tests: the shipped demo recipe and small real files in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DEMO_CSV, DEMO_RECIPE

# The demo's label mapping: label name -> CSV column.
DEMO_LABELS = {
    "advertisement": "advertisement",
    "irrelevant_content": "relevance",
    "non_visitor_rant": "rant",
    "toxicity": "toxicity",
}


@pytest.fixture
def demo_recipe() -> Path:
    return DEMO_RECIPE


@pytest.fixture
def demo_csv() -> Path:
    return DEMO_CSV


@pytest.fixture
def demo_labels() -> dict[str, str]:
    return dict(DEMO_LABELS)


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes) -> Path: a real file in tmp_path (text written as UTF-8, no newline translation)."""

    def _write(name: str, content: str | bytes) -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_bytes(content.encode("utf-8"))
        return p

    return _write


@pytest.fixture
def recipe_in_tmp(tmp_path, write):
    """recipe_in_tmp(edit=None) -> Path: the demo recipe copied into tmp_path, its data copied beside it,
    with `edit(text) -> text` applied."""

    def _make(edit=None, name: str = "recipe.toml") -> Path:
        write("data/reviews.csv", DEMO_CSV.read_bytes())
        text = DEMO_RECIPE.read_text(encoding="utf-8")
        if edit is not None:
            text = edit(text)
        return write(name, text)

    return _make
