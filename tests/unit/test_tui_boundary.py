"""The TUI boundary: only workbench/tui imports textual, so the headless commands (run on compute
nodes, in scripts, in CI) neither need it nor pay for loading it."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import workbench

PACKAGE = Path(workbench.__file__).resolve().parent
TUI = PACKAGE / "tui"


def textual_imports(path: Path) -> list[str]:
    """`import textual...` / `from textual... import` statements in a module (any depth, lazy
    imports inside functions included), as 'line N: text'."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        if any(n == "textual" or n.startswith("textual.") for n in names):
            found.append(f"line {node.lineno}: {ast.get_source_segment(path.read_text(encoding='utf-8'), node)}")
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def test_only_workbench_tui_imports_textual():
    modules = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
    assert len(modules) > 20 and any(p.is_relative_to(TUI) for p in modules)
    offenders = {module_name(p): hits for p in modules if not p.is_relative_to(TUI) for hits in [textual_imports(p)]
                 if hits}
    assert not offenders, "textual imported outside workbench.tui: " + "; ".join(
        f"{name} ({', '.join(hits)})" for name, hits in offenders.items())


def test_the_checker_sees_textual_imports(tmp_path):
    """The AST walk finds each spelling (so the test above can fail)."""
    src = tmp_path / "m.py"
    src.write_text("import os\nimport textual\nfrom textual.app import App\n"
                   "def f():\n    import textual.widgets as w\nfrom textualize import x\n", encoding="utf-8")
    assert [h.split(":")[0] for h in textual_imports(src)] == ["line 2", "line 3", "line 5"]


def test_workbench_help_does_not_load_textual():
    code = (
        "import contextlib, io, json, sys\n"
        "import workbench.cli as cli\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        "        cli.main(['--help'])\n"
        "    except SystemExit as e:\n"
        "        code = e.code\n"
        "    else:\n"
        "        code = 0\n"
        "print(json.dumps({'code': code, 'help': out.getvalue(),\n"
        "                  'textual': sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["code"] in (0, None)
    assert "usage" in got["help"].lower()
    assert got["textual"] == [], f"`workbench --help` loaded textual: {got['textual'][:5]}"

