"""The README's recipe reference is generated from the schema; it must not drift."""

from pathlib import Path

from workbench.recipe.schema import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_recipe_reference_matches_the_schema():
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- schema:begin -->\n", 1)[1].split("\n<!-- schema:end -->", 1)[0]
    assert block == markdown_table(), "regenerate with: workbench schema --markdown"


def test_readme_gives_the_two_setup_commands_and_ci_runs_the_same_tests():
    text = README.read_text(encoding="utf-8")
    assert 'pip install -e ".[dev]" && workbench run recipes/demo/encoder_multilabel.toml' in text
    assert "\npytest\n" in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert ci.rstrip().endswith("pytest")
