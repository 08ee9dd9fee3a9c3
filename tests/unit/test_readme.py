"""The recipe reference (docs/recipes.md) is generated from the schema and must not drift; the README
gives the two set-up commands and CI runs the same tests. The other checks of the README and the
pages under docs/ are in tests/unit/test_docs.py."""

from pathlib import Path

from workbench.recipe.schema import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"
RECIPES = README.parent / "docs" / "recipes.md"


def test_recipe_reference_matches_the_schema():
    text = RECIPES.read_text(encoding="utf-8")
    block = text.split("<!-- schema:begin -->\n", 1)[1].split("\n<!-- schema:end -->", 1)[0]
    assert block == markdown_table(), ("regenerate with: workbench schema --markdown, "
                                       "between the schema:begin / schema:end markers of docs/recipes.md")


def test_readme_gives_the_two_setup_commands_and_ci_runs_the_same_tests():
    text = README.read_text(encoding="utf-8")
    block = text.split("## Set-up: two commands\n\n```\n", 1)[1].split("\n```", 1)[0]
    install, tests = block.splitlines()
    # the first needs no Debian package: it makes a virtual environment, installs workbench and runs the offline demo
    assert install == ('python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && '
                       'pip install -e ".[dev]" && workbench run recipes/demo/encoder_multilabel.toml')
    assert "apt-get" not in install and "sudo" not in install
    assert tests == "scripts/test"
    # CI runs both, as written, one after the other, as its last lines: it meets what a newcomer meets
    ci = (README.parent / ".ci" / "run").read_text()
    assert ci.rstrip().endswith(f"\n{install}\n{tests}")
    # scripts/test finds the .venv in a fresh shell (no activate), and git ignores it
    script = (README.parent / "scripts" / "test").read_text()
    assert script.rstrip().endswith('exec python3 -m pytest "$@"') and "scripts/lint" in script
    assert ".venv/bin" in script and "/.venv/" in (README.parent / ".gitignore").read_text().splitlines()
    for package in ("openssh-server", "slurm-wlm", "munge", "slurm-wlm-torque", "rsync"):
        assert package in script
