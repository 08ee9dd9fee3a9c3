"""Finding recipes (shipped and the user's), describing them from their header comment, copying
one as a new recipe, and writing a commented template from the schema (the task names its knobs)."""

from __future__ import annotations

import os
import re
import textwrap
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.recipe import schema
from workbench.recipe.task_names import TASKS
from workbench.textfile import regular_file

# The recipes that ship with workbench, with their demo data, prompts and templates: package data
# (in a clone, workbench/shipped_recipes links to the repository's recipes/ folder).
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "shipped_recipes"


@dataclass
class RecipeEntry:
    path: Path
    name: str
    task: str
    model: str
    method: str
    description: str     # the `description` key, else the header comment's first sentence
    header: str          # the file's opening comment block, without '#'
    shipped: bool
    error: str | None = None   # the file does not parse: listed anyway, with the reason
    invalid: str | None = None  # it parses but fails the schema (load_recipe's message, without the path)

    @property
    def origin(self) -> str:
        return "shipped" if self.shipped else "yours"

    @property
    def problem(self) -> str | None:
        """Why the file cannot be launched as it is: it does not parse, or it fails the schema."""
        return self.error or self.invalid


def recipe_dirs() -> list[Path]:
    """$WORKBENCH_RECIPES (paths separated by ':'), else ./recipes and the shipped recipes."""
    env = os.environ.get("WORKBENCH_RECIPES")
    if env:
        return [Path(p).expanduser().absolute() for p in env.split(os.pathsep) if p]
    dirs = [Path.cwd() / "recipes", SHIPPED_DIR]
    out: list[Path] = []
    for d in dirs:
        if d.is_dir() and d.resolve() not in [o.resolve() for o in out]:
            out.append(d)
    return out


def relative_name(path: Path, dirs: list[Path]) -> str:
    """A recipe's path relative to the recipe folder holding it (the same on every machine)."""
    for d in dirs:
        try:
            return str(Path(path).resolve().relative_to(Path(d).resolve()))
        except ValueError:
            continue
    return Path(path).name


def shipped_names() -> list[str]:
    """Names of the shipped recipes, as `workbench run NAME` takes them (e.g. demo/encoder_multilabel)."""
    return sorted(p.relative_to(SHIPPED_DIR).with_suffix("").as_posix() for p in SHIPPED_DIR.rglob("*.toml"))


def resolve_recipe(arg: str) -> Path:
    """A recipe argument as a file: an existing path, else a shipped recipe's name (`demo/encoder_multilabel`,
    with or without .toml). A name that is neither is one line listing the shipped names."""
    path = Path(arg).expanduser()
    if path.is_file():
        return path
    name = arg[:-len(".toml")] if arg.endswith(".toml") else arg
    shipped = SHIPPED_DIR / f"{name}.toml"
    if name and shipped.is_file():
        return shipped
    if arg.endswith(".toml") or os.sep in arg and Path(arg).parent.is_dir():
        return path  # a file that is not there: load_recipe names it
    import difflib

    names = shipped_names()
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise UserError(f"no recipe file {arg!r} and no shipped recipe of that name ({hint}shipped: {', '.join(names)}; "
                    "`workbench init` copies them into ./recipes)")


def find_recipes(dirs: list[Path] | None = None) -> list[RecipeEntry]:
    entries: list[RecipeEntry] = []
    seen: set[Path] = set()
    for d in dirs if dirs is not None else recipe_dirs():
        for path in sorted(Path(d).rglob("*.toml")):
            real = path.resolve()
            if real in seen or "runs" in path.relative_to(d).parts:
                continue
            seen.add(real)
            entries.append(describe(path, shipped=_is_under(real, SHIPPED_DIR)))
    entries.sort(key=lambda e: e.shipped)  # the user's own first (stable: folder order kept within each)
    return entries


def describe(path: Path, shipped: bool = False) -> RecipeEntry:
    try:
        regular_file(path, "recipe file")  # a FIFO would hang the list, a device never end
    except UserError as e:
        return RecipeEntry(path, path.stem, "?", "?", "?", "", "", shipped, error=f"not a regular file: {e}")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    header = header_comment(text)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return RecipeEntry(path, path.stem, "?", "?", "?", _first_sentence(header), header, shipped,
                           error=f"invalid TOML: {e}")
    model: dict[str, Any] = raw["model"] if isinstance(raw.get("model"), dict) else {}
    description = raw.get("description") if isinstance(raw.get("description"), str) else ""
    return RecipeEntry(path, str(raw.get("name") or path.stem), str(raw.get("task", schema.BY_NAME["task"].default)),
                       str(model.get("source", "")), str(model.get("method", schema.BY_NAME["model.method"].default)),
                       description or _first_sentence(header), header, shipped, invalid=_schema_problem(raw, path, text))


def _schema_problem(raw: dict[str, Any], path: Path, text: str) -> str | None:
    """load_recipe's schema check of a parsed file (unknown keys and sections, values of the wrong
    type, cross-field rules; no data file or model opened), as `line N: message`, else None."""
    from workbench.recipe.load import recipe_from_dict

    try:
        recipe_from_dict(raw, path=path, text=text)
    except UserError as e:
        message = str(e).removeprefix(f"{path}:{e.line}: " if e.line is not None else f"{path}: ")
        return f"line {e.line}: {message}" if e.line is not None else message
    return None


def header_comment(text: str) -> str:
    """The comment block a recipe opens with, minus the `# workbench run ...` line."""
    lines: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line[1:].strip()
        if body.startswith("workbench ") and not lines:
            continue
        lines.append(body)
    return "\n".join(lines).strip()


def _first_sentence(header: str) -> str:
    flat = " ".join(header.split())
    m = re.match(r"(.+?[.:])(\s|$)", flat)
    return (m.group(1) if m else flat)[:160]


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root.resolve())
        return True
    except ValueError:
        return False


def duplicate(src: Path, dest: Path, name: str) -> Path:
    """Copy a recipe (comments and layout kept), renamed; relative data paths are rewritten so
    they still point at the same files from the new folder."""
    from workbench.recipe.load import update_recipe_file

    if dest.exists():
        raise FileExistsError(f"{dest} already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(src.read_text(encoding="utf-8-sig"), encoding="utf-8")
    raw = tomllib.loads(dest.read_text(encoding="utf-8"))
    changes: dict = {"name": name}
    for knob in schema.KNOBS:
        if knob.kind != "path":
            continue
        value = (raw.get(knob.section, {}) if knob.section else raw).get(knob.key)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            target = (src.parent / value).resolve()
            changes[knob.name] = os.path.relpath(target, dest.parent.resolve())
    update_recipe_file(dest, changes)
    return dest


# Knobs every task's template spells out (with their help as a comment); each task adds its own
# (workbench/tasks: template_knobs) and the rest keep their defaults.
TEMPLATE_HEAD = ("model.source", "model.method", "model.max_length", "data.train_file", "data.validation_file")
TEMPLATE_TAIL = ("lora.r", "lora.alpha", "lora.dropout", "lora.target_modules", "train.epochs", "train.batch_size",
                 "train.learning_rate", "train.seed", "launch.target")


def template(task: str, name: str, knobs: Sequence[str], examples: Mapping[str, Any]) -> str:
    """A new recipe for `task`: the command that runs it, then the knobs most recipes of that task
    set (every task's and the task's own `knobs`, in the order of their sections), each with its
    help text and its default or the task's starter value in `examples`, so the file explains itself.
    The task supplies both (workbench.tasks.recipe_template)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}")
    out = [f"# workbench run {name}.toml", "#", f"# {task} recipe (edit the description and the data paths).",
           f'name = "{name}"', 'description = ""', f'task = "{task}"']
    section = ""
    # sorted by section alone (a stable sort): within a section, the order written here
    for knob_name in sorted((*TEMPLATE_HEAD, *knobs, *TEMPLATE_TAIL), key=lambda n: schema.SECTIONS.index(n.split(".")[0])):
        knob = schema.BY_NAME[knob_name]
        if knob.section != section:
            section = knob.section
            out += ["", f"[{section}]"]
        out += ["# " + line for line in textwrap.wrap(knob.help, 94)]
        out.append(f"{knob.key} = {schema._toml_repr(examples.get(knob_name, knob.default))}")
    return "\n".join(out) + "\n"
