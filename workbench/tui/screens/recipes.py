"""Recipes mode: every recipe of the recipe folders (shipped and the user's) in a table, the
selected one's header comment beside it, and the ways on from there: edit, duplicate as a new
recipe, start a new one from a template, launch directly."""

from __future__ import annotations

import os
import re
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from workbench.console import STATUS_STYLE
from workbench.recipe import catalog
from workbench.recipe.catalog import RecipeEntry
from workbench.tui.widgets.table import Table
from workbench.tui.worker_errors import ReportsWorkerErrors

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class RecipesFound(Message):
    """The recipe folders were searched."""

    def __init__(self, entries: list[RecipeEntry], dirs: list[Path]) -> None:
        super().__init__()
        self.entries, self.dirs = entries, dirs


class RecipeCreated(Message):
    """A new recipe file was written (duplicate or template)."""

    def __init__(self, path: Path, how: str) -> None:
        super().__init__()
        self.path, self.how = path, how


class RecipeNotCreated(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


def user_dir(dirs: list[Path]) -> Path:
    """Where new recipes go: the first recipe folder that is not the shipped one; else ./recipes
    (when the folders are not configured), else the first configured folder."""
    shipped = catalog.SHIPPED_DIR.resolve()
    for d in dirs:
        r = Path(d).resolve()
        if r != shipped and shipped not in r.parents:
            return Path(d)
    if not os.environ.get("WORKBENCH_RECIPES"):
        return Path.cwd() / "recipes"
    return Path(dirs[0]) if dirs else Path.cwd() / "recipes"


def check_name(text: str) -> str | None:
    if not NAME.fullmatch(text):
        return "letters, digits and _ . - only (it becomes the file name and the run ids)"
    return None


class RecipesScreen(ReportsWorkerErrors, Screen):
    CSS_PATH = "../styles/recipes.tcss"
    BINDINGS = [
        Binding("e", "open", "Edit", tooltip="Open the selected recipe in the editor (or enter)"),
        Binding("l", "launch", "Launch", tooltip="Launch the selected recipe (choose target and resources)"),
        Binding("d", "duplicate", "Duplicate", tooltip="Copy the selected recipe as a new recipe, then edit it"),
        Binding("n", "new", "New", tooltip="Write a new recipe from a template of a task, then edit it"),
        Binding("r", "refresh", "Refresh", tooltip="Search the recipe folders again"),
    ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.entries: list[RecipeEntry] = []
        self.dirs: list[Path] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="recipes-body"):
            yield Table(id="recipes-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="recipe-preview")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#recipes-table", DataTable)
        table.add_columns("recipe", "origin", "name", "task", "model", "method", "description")
        table.focus()
        self.action_refresh()

    # --- finding recipes (a thread: it reads every file) -------------------------------------
    def action_refresh(self) -> None:
        self._find()

    @work(thread=True, exclusive=True, group="recipes", exit_on_error=False)
    def _find(self) -> None:
        dirs = catalog.recipe_dirs()
        self.post_message(RecipesFound(catalog.find_recipes(dirs), dirs))

    @on(RecipesFound)
    def _found(self, message: RecipesFound) -> None:
        table = self.query_one("#recipes-table", DataTable)
        current = self.selected()
        keep = current.path if current else None
        self.entries, self.dirs = message.entries, message.dirs
        table.clear()
        for i, e in enumerate(self.entries):
            rel = catalog.relative_name(e.path, self.dirs)
            cells = ([rel, e.origin, e.name, "-", "-", "-", "does not parse: " + e.error.split(":")[0]] if e.error
                     else [rel, e.origin, e.name, e.task, e.model, e.method,
                           "does not validate: " + e.invalid.partition(": ")[2] if e.invalid else e.description])
            table.add_row(*(Text(c, style=STATUS_STYLE["failed"] if e.problem and c is cells[-1] else "") for c in cells),
                          key=str(i))
        if not self.entries:
            self.query_one("#recipe-preview", Static).update(
                "No recipes found in " + ", ".join(d.name for d in self.dirs) + ". Press n to write one from a template.")
            return
        row = next((i for i, e in enumerate(self.entries) if keep and e.path == keep), 0)
        table.move_cursor(row=row)
        self._preview(self.entries[row])

    def selected(self) -> RecipeEntry | None:
        table = self.query_one("#recipes-table", DataTable)
        if not self.entries or table.cursor_row is None or not (0 <= table.cursor_row < len(self.entries)):
            return None
        return self.entries[table.cursor_row]

    @on(DataTable.RowHighlighted, "#recipes-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        entry = self.selected()
        if entry is not None:
            self._preview(entry)

    def _preview(self, e: RecipeEntry) -> None:
        from textual.markup import escape

        rel = catalog.relative_name(e.path, self.dirs)
        lines = [f"[b]{escape(e.name)}[/b]  [dim]{escape(rel)} ({e.origin})[/dim]"]
        if e.error:
            lines.append(f"[$error]{escape(e.error)}[/]")
        elif e.invalid:
            lines.append(f"[$error]does not validate, {escape(e.invalid)}[/] (e opens it in the editor)")
        else:
            lines.append(f"{escape(e.task)} · {escape(e.model) or '(no model.source)'} · {escape(e.method)}")
        lines.append("")
        paragraphs = [" ".join(p.split()) for p in (e.header or e.description or "(no header comment)").split("\n\n")]
        lines.append(escape("\n".join(p for p in paragraphs if p)))
        self.query_one("#recipe-preview", Static).update("\n".join(lines))

    # --- actions -----------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#recipes-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def _need(self) -> RecipeEntry | None:
        entry = self.selected()
        if entry is None:
            self.notify("No recipe selected", severity="warning")
        return entry

    def action_open(self) -> None:
        from workbench.tui.screens.editor import EditorScreen

        entry = self._need()
        if entry is None:
            return
        if entry.error:
            self.notify(f"{catalog.relative_name(entry.path, self.dirs)}: {entry.error}", title="cannot edit", severity="error")
            return
        self.app.push_screen(EditorScreen(entry.path), lambda _: self.action_refresh())

    def action_launch(self) -> None:
        from workbench.tui.screens.launch import LaunchScreen

        entry = self._need()
        if entry is None:
            return
        if entry.problem:
            self.notify(f"{catalog.relative_name(entry.path, self.dirs)}: {entry.problem}", title="cannot launch",
                        severity="error")
            return
        self.app.push_screen(LaunchScreen(entry.path, []))

    def action_duplicate(self) -> None:
        from workbench.tui.screens.prompt import PromptScreen

        entry = self._need()
        if entry is None:
            return
        dest_dir = self._duplicate_dir(entry)

        def check(text: str) -> str | None:
            return check_name(text) or ((f"{text}.toml already exists there")
                                        if (dest_dir / f"{text}.toml").exists() else None)

        def answered(name: str | None) -> None:
            if name:
                self._duplicate(entry.path, dest_dir / f"{name}.toml", name)

        where = catalog.relative_name(dest_dir / "x", self.dirs).rpartition("/")[0] or dest_dir.name
        self.app.push_screen(PromptScreen(f"Duplicate {entry.name} as a new recipe named (written in {where}/):",
                                          f"{entry.path.stem}_copy", check=check), answered)

    def _duplicate_dir(self, entry: RecipeEntry) -> Path:
        if entry.shipped:
            target = user_dir(self.dirs)
            if target.resolve() != catalog.SHIPPED_DIR.resolve():
                return target
        return entry.path.parent

    @work(thread=True, exclusive=True, group="recipe-write", exit_on_error=False)
    def _duplicate(self, src: Path, dest: Path, name: str) -> None:
        try:
            catalog.duplicate(src, dest, name)
        except (OSError, ValueError) as e:
            self.post_message(RecipeNotCreated(f"duplicate failed: {e}"))
            return
        self.post_message(RecipeCreated(dest, "duplicated"))

    def action_new(self) -> None:
        from workbench.recipe.task_names import TASKS
        from workbench.tui.screens.prompt import PromptScreen

        dest_dir = user_dir(self.dirs)

        def check(text: str) -> str | None:
            return check_name(text) or ((f"{text}.toml already exists") if (dest_dir / f"{text}.toml").exists() else None)

        def answered(answer: tuple[str, str] | None) -> None:
            if answer:
                task, name = answer
                self._new(task, dest_dir / f"{name}.toml", name)

        self.app.push_screen(PromptScreen(f"New recipe from a template: task, and a name (the file {dest_dir.name}/NAME.toml):",
                                          "new_recipe", choices=TASKS, check=check), answered)

    @work(thread=True, exclusive=True, group="recipe-write", exit_on_error=False)
    def _new(self, task: str, dest: Path, name: str) -> None:
        from workbench.tasks import recipe_template

        try:
            if dest.exists():
                raise FileExistsError(f"{dest.name} already exists")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(recipe_template(task, name), encoding="utf-8")
        except (OSError, ValueError) as e:
            self.post_message(RecipeNotCreated(f"new recipe failed: {e}"))
            return
        self.post_message(RecipeCreated(dest, "written from the template"))

    @on(RecipeCreated)
    def _created(self, message: RecipeCreated) -> None:
        from workbench.tui.screens.editor import EditorScreen

        self.notify(f"{message.path.name} {message.how}", title="new recipe")
        self.action_refresh()
        self.app.push_screen(EditorScreen(message.path), lambda _: self.action_refresh())

    @on(RecipeNotCreated)
    def _not_created(self, message: RecipeNotCreated) -> None:
        self.notify(message.error, severity="error")
