"""The README is a front door and the pages under docs/ hold the rest; nothing in them may drift
from the code. Checked on README.md, CONTRIBUTING.md, docs/*.md and benchmarks/RESULTS.md:

- every relative link and image points at a file of the repository, and its #anchor at a heading there;
- every `workbench ...` command they quote parses with the real argument parser (a whole command
  line in a code block), or names a real command and real flags (a command in running text);
- every `workbench query "..."` they quote runs through the real CLI on a real store;
- every repository file they cite in code spans (`workbench/launch/follow.py`, `python -m tests.faults.page`) exists;
- the store's tables and views, with their columns, are those docs/store.md lists;
- every recipe knob they name (`train.packing`) is in the schema, and the launch flags
  docs/launching.md lists are the schema's [launch] knobs;
- CONTRIBUTING.md's layout names every package and top-level module, and nothing that is gone;
- every key docs/app.md's key table lists is bound on the screen it names;
- a benchmark run rewrites only the last run's table at the end of benchmarks/RESULTS.md.

The recipe reference (the knob table) is checked in tests/unit/test_readme.py.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import workbench

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
PAGES = [README, CONTRIBUTING, *sorted((ROOT / "docs").glob("*.md")), RESULTS]
FENCE = re.compile(r"^(```+|~~~+)([^\n]*)\n(.*?)^\1[ \t]*$", re.M | re.S)
COMMAND_FENCES = ("", "bash", "sh", "shell", "console", "text")


def text_of(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def fences(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return [(m.group(2).strip(), m.group(3)) for m in FENCE.finditer(text)]


def prose(text: str) -> str:
    """The text outside fenced code blocks (headings in a ```toml block are no headings)."""
    return FENCE.sub("", text)


def code_spans(text: str) -> list[str]:
    """Inline code spans of the prose, their inner whitespace (a span may wrap) made single spaces."""
    return [" ".join(m.group(2).split()) for m in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", prose(text), re.S)]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but - and _ dropped, spaces to -."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", prose(text_of(page)), re.M):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(page: Path) -> list[str]:
    """The targets of [text](target) and ![alt](target) outside code."""
    text = re.sub(r"`[^`\n]*`", "", prose(text_of(page)))
    return re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)


def test_the_readme_is_a_front_door_that_links_every_guide():
    text = text_of(README)
    lines = text.count("\n")
    assert lines <= 250, f"README.md has {lines} lines; the rest belongs in docs/"
    linked = {(README.parent / t.split("#")[0]).resolve() for t in links(README) if "://" not in t}
    pages = [p for p in PAGES if p != README]
    missing = [str(p.relative_to(ROOT)) for p in pages if p.resolve() not in linked]
    assert not missing, f"README.md links no {missing}"
    assert "## Set-up: two commands" in text and "docs/screenshots/" in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_and_heading_of_the_repository(page):
    assert page.exists(), f"{page.relative_to(ROOT)} is missing"
    bad = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page.resolve()
        if not dest.is_relative_to(ROOT) or not dest.exists():
            bad.append(f"{target}: no such file in the repository")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            bad.append(f"{target}: {dest.name} has no heading #{anchor}")
    assert not bad, f"{page.relative_to(ROOT)}: " + "; ".join(bad)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _parse(argv: list[str]) -> str | None:
    """None when the real parser takes argv, else what it said."""
    from workbench.cli import build_parser

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as e:
            return err.getvalue().strip() or f"exit {e.code}"
    return None


def _names_real_command(words: list[str]) -> str | None:
    """A command quoted in running text ("`workbench run`", "`workbench runs --tag key=value`"): its
    command (each of `a|b|c`) and every --flag are real; its arguments may be left out."""
    from workbench.cli import build_parser

    parser = build_parser()
    commands = _subparsers(parser)
    flags = [w.split("=")[0] for w in words if w.startswith("--")]
    named = [w for w in words if not w.startswith("-")][:1]
    if not named:
        return next((f"no option {f}" for f in flags if f not in parser._option_string_actions), None)
    for name in named[0].split("|"):
        if name not in commands:
            return f"no command {name!r}"
        options = {**parser._option_string_actions, **commands[name]._option_string_actions}
        unknown = [f for f in flags if f not in options]
        if unknown:
            return f"`workbench {name}` has no option {', '.join(unknown)}"
    return None


def quoted_commands(page: Path) -> tuple[list[str], list[str]]:
    """(whole command lines from code blocks, commands quoted in running text) that start `workbench`."""
    text = text_of(page)
    lines = [line.strip().removeprefix("$ ") for lang, body in fences(text) if lang in COMMAND_FENCES
             for line in body.splitlines()]
    whole = [line for line in lines if line == "workbench" or line.startswith("workbench ")]
    inline = [s for s in code_spans(text) if s.startswith("workbench ") and "..." not in s and "…" not in s]
    return whole, inline


def test_every_workbench_command_the_docs_quote_is_real():
    bad, counted = [], 0
    for page in PAGES:
        whole, inline = quoted_commands(page)
        counted += len(whole) + len(inline)
        for line in whole:
            said = _parse(shlex.split(line, comments=True)[1:])
            if said:
                bad.append(f"{page.relative_to(ROOT)}: {line!r}: {said}")
        for span in inline:
            said = _names_real_command(shlex.split(span, comments=True)[1:])
            if said:
                bad.append(f"{page.relative_to(ROOT)}: `{span}`: {said}")
    assert counted > 80, f"only {counted} commands found: is the extraction broken?"
    assert not bad, "\n".join(bad)


def test_the_query_examples_run_on_a_real_store(tmp_path):
    from tools.sample_store import build_sample_store

    store = tmp_path / "runs.duckdb"
    build_sample_store(store)
    queries = [shlex.split(line, comments=True) for page in PAGES for line in quoted_commands(page)[0]
               if line.startswith("workbench query ")]
    assert len(queries) >= 4
    for argv in queries:
        r = workbench(*argv[1:], store=store)
        assert r.returncode == 0, f"{shlex.join(argv)}: {r.stderr}"


# A path into the repository quoted in a code span: a top-level folder and a file below it.
CITED = re.compile(r"(?:^|[\s(=])((?:workbench|tests|tools|benchmarks|docs|recipes|scripts|\.ci)/[\w./-]*\w)")


def cited_paths(page: Path) -> list[str]:
    out = []
    for span in code_spans(text_of(page)):
        if re.search(r"[<>*{}%$]", span):  # a pattern, not a file: recipes/*.toml, events.rank<N>.jsonl
            continue
        out += [m.group(1).split(":")[0] for m in CITED.finditer(span)]
        out += [m.group(1).replace(".", "/") for m in re.finditer(r"python3? -m ([\w.]+)", span)]
    return out


def _exists(cited: str) -> bool:
    p = ROOT / cited
    return p.exists() or p.with_suffix(".py").exists() or (ROOT / f"{cited}.py").exists()


def test_every_repository_file_the_docs_cite_exists():
    bad, counted = [], 0
    for page in PAGES:
        for cited in cited_paths(page):
            counted += 1
            if not _exists(cited):
                bad.append(f"{page.relative_to(ROOT)}: {cited}")
    assert counted > 20
    assert not bad, "no such file in the repository: " + "; ".join(bad)


def _store_columns(tmp_path: Path) -> dict[str, list[str]]:
    from workbench.store.db import connect

    with connect(tmp_path / "runs.duckdb") as con:
        rows = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                           "ORDER BY table_name, ordinal_position").fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def _documented_columns(cell: str) -> list[str]:
    """The column names of a docs/store.md cell: "run_id, status (queued, ...), t (unix s). More text"."""
    while "(" in cell:  # asides, nested ones included: "train_runtime_s (trainer.train() wall time)"
        cell, n = re.subn(r"\([^()]*\)", "", cell)
        if not n:
            break
    cell = re.split(r"\. | — |; ", cell)[0]
    return [c.strip().strip("`") for c in cell.split(",") if c.strip()]


def test_the_store_page_lists_every_table_view_and_column(tmp_path):
    table = text_of(ROOT / "docs" / "store.md").split("| table / view | one row per | columns |\n", 1)[1].split("\n\n")[0]
    rows = re.findall(r"^\| `(\w+)`(?: \(view\))? \| [^|]+ \| (.+) \|$", table, re.M)
    documented = {name: _documented_columns(cell) for name, cell in rows}
    actual = {name: cols for name, cols in _store_columns(tmp_path).items() if name != "meta"}
    assert set(documented) == set(actual), set(documented) ^ set(actual)
    wrong = {name: (documented[name], cols) for name, cols in actual.items() if sorted(documented[name]) != sorted(cols)}
    assert not wrong, "docs/store.md lists other columns (documented, actual): " + repr(wrong)


KNOB = re.compile(r"(?<![\w./-])((?:model|data|lora|quant|train|eval|fairness|sweep|launch)\.\w+)(?![\w/-]|\.\w)")


def test_every_knob_the_docs_name_is_in_the_schema():
    from workbench.recipe.schema import BY_NAME

    bad, counted = [], 0
    for page in PAGES:
        text = text_of(page)
        quoted = code_spans(text) + [body for lang, body in fences(text) if lang == "toml"]
        for name in (m.group(1) for q in quoted for m in KNOB.finditer(q)):
            counted += 1
            if name not in BY_NAME and name != "train.log":  # train.log: the run's log file
                bad.append(f"{page.relative_to(ROOT)}: {name}")
    assert counted > 100
    assert not bad, "no such recipe knob: " + "; ".join(bad)


def test_the_launch_flags_listed_are_the_launch_knobs():
    from workbench.recipe.schema import knobs_in

    text = text_of(ROOT / "docs" / "launching.md")
    listed = text.split("also a `workbench run` flag:", 1)[1].split(".\n", 1)[0]
    assert re.findall(r"`(--[\w-]+)`", listed) == [f"--{k.key.replace('_', '-')}" for k in knobs_in("launch")]


def _layout() -> str:
    text = text_of(CONTRIBUTING)
    section = text.split("\n## Layout", 1)[1].split("\n## ", 1)[0]
    return fences(section)[0][1]


def test_the_layout_names_every_package_and_nothing_that_is_gone():
    block = _layout()
    bad, folders = [], []
    for line in block.splitlines():
        paths = re.findall(r"(?<![\w/.])((?:workbench|tests|tools|benchmarks|docs|recipes|scripts|\.ci)/[\w./-]*)", line)
        bad += [path for path in paths if not (ROOT / path).exists()]
        if line[:1] not in (" ", ""):  # a new entry; an indented line goes on with the one above
            folders = [ROOT / path for path in paths if (ROOT / path).is_dir()]
        # a module named without its folder ("load.py") is in a folder its entry names
        bad += [m for m in re.findall(r"(?<![\w/.])(\w+\.py)\b", line)
                if folders and not any((folder / m).exists() for folder in folders)]
    assert not bad, f"CONTRIBUTING.md's layout names what does not exist: {bad}"
    named = set(re.findall(r"workbench/[\w.]+", block))
    # A package is a folder holding Python files: a folder left with only __pycache__ (a package removed
    # by a checkout of a newer commit) is not one.
    entries = [p for p in (ROOT / "workbench").iterdir()
               if p.name not in ("__init__.py", "__main__.py", "__pycache__")
               and (p.suffix == ".py" or (p.is_dir() and any(p.rglob("*.py"))))]
    missing = sorted(f"workbench/{p.name}" for p in entries if f"workbench/{p.name}" not in named)
    assert not missing, f"CONTRIBUTING.md's layout leaves out {missing}"


def test_a_benchmark_run_rewrites_only_the_last_run_at_the_end_of_results_md(tmp_path):
    import importlib.util
    import sys

    sys.path.insert(0, str(RESULTS.parent))  # run_all imports its neighbour common.py
    spec = importlib.util.spec_from_file_location("run_all", RESULTS.parent / "run_all.py")
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    committed = text_of(RESULTS)
    assert committed.count(run_all.MARK) == 1, "benchmarks/RESULTS.md lost its marker line"
    curated, last_run = committed.split(run_all.MARK)
    assert "| benchmark | measured | goal |" in curated and "Command: `python benchmarks/run_all.py" in last_run

    page = tmp_path / "RESULTS.md"
    page.write_text(committed, encoding="utf-8")
    run_all.write_results(page, "Command: `python benchmarks/run_all.py --only store`\n\n| a new table |\n")
    text = page.read_text(encoding="utf-8")
    assert text.startswith(curated + run_all.MARK + "\n"), "the curated figures above the marker changed"
    assert text.endswith("| a new table |\n") and last_run.strip() not in text

    elsewhere = tmp_path / "other.md"  # --output FILE without the marker: the run's page alone
    run_all.write_results(elsewhere, "| a new table |\n")
    assert elsewhere.read_text(encoding="utf-8") == "# Benchmark results\n\n| a new table |\n"


# The screens the key table of docs/app.md names in its "where" column.
SCREENS = {"Recipes": "recipes.RecipesScreen", "Editor": "editor.EditorScreen", "Launch dialog": "launch.LaunchScreen",
           "Monitor": "monitor.MonitorScreen", "Runs": "runs.RunsScreen", "Detail": "detail.DetailScreen",
           "Compare": "compare.CompareScreen", "Query": "query.QueryScreen"}
KEY_NAMES = {"←": "left", "→": "right", "↑": "up", "↓": "down", "/": "slash", "]": "right_square_bracket",
             "[": "left_square_bracket"}


def _bound_keys(cls) -> set[str]:
    return {key.strip() for klass in cls.__mro__ for b in getattr(klass, "BINDINGS", ())
            for key in (b.key if hasattr(b, "key") else b[0]).split(",")}


def test_every_key_the_app_page_lists_is_bound_on_its_screen():
    import importlib

    from workbench.tui.app import WorkbenchApp

    app_keys = _bound_keys(WorkbenchApp) | {WorkbenchApp.COMMAND_PALETTE_BINDING}
    rows = re.findall(r"^\| ((?:`[^`]+`[ ,/]*)+) \| ([^|]+?) \| [^|]+ \|$", text_of(ROOT / "docs" / "app.md"), re.M)
    assert len(rows) >= 10
    bad = []
    for keys, where in rows:
        if where.startswith("anywhere"):  # "anywhere", "anywhere but a text box (…)"
            bound = app_keys
        elif where == "any list":  # every table of the app is widgets/table.py's Table
            from workbench.tui.widgets.table import Table

            bound = _bound_keys(Table)
        else:  # one screen, or several ("Runs, Detail"): a key bound on each of them
            screens = [SCREENS[screen].split(".") for screen in where.split(", ")]
            bound = app_keys | set.intersection(*(
                _bound_keys(getattr(importlib.import_module(f"workbench.tui.screens.{module}"), name))
                for module, name in screens))
        for key in re.findall(r"`([^`]+)`", keys):
            if (where, key) == ("Recipes", "enter"):  # the recipe table's own enter (DataTable.RowSelected)
                continue
            if KEY_NAMES.get(key, key) not in bound:
                bad.append(f"{where}: {key}")
    assert not bad, "docs/app.md lists keys its screens do not bind: " + ", ".join(bad)
