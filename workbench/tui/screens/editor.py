"""The recipe editor: a form generated from the schema, one tab per section, every field with
its help and default, validated as it is typed; changed fields are marked and summed up
(`key: old → new`). Save writes only the changed knobs into the file (comments and layout
kept); Save as writes a copy; Launch opens the launch dialog with the pending changes as
overrides. A form with an invalid field is neither saved nor launched; a required knob left
empty (and data.train_file without data.dataset) is an invalid field. The Data tab profiles
the recipe's data as edited (workbench/actions/data.py: what `workbench data` prints), in a worker
each time it is opened after a change.

A file that does not validate opens with load_recipe's one-line error above the form. An unknown
key whose `did you mean` names a knob the file does not set (`[train] lr = 1e-4`) is fixed in the
form: its value shows in that knob's field, and Save renames the key in the file (its line kept).

What is typed is never lost: section keys move the focus before the next key is read (priority
bindings, the focus set at once), and the re-read after a save keeps a field typed in since."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from workbench.recipe import schema
from workbench.tui.widgets.knob_form import (
    KnobField,
    changes_of,
    first_error,
    is_empty,
    required_message,
    same,
    summary_lines,
    toml_text,
    value_text,
)
from workbench.tui.worker_errors import ReportsWorkerErrors
from workbench.wording import counted

SECTION_TITLES = {"": "general"}


def section_id(section: str) -> str:
    return "sec-" + (section or "general")


def file_values(raw: dict[str, Any]) -> dict[str, Any]:
    """{knob name: value as the file writes it (paths unresolved), default when absent}."""
    out = {}
    for knob in schema.KNOBS:
        holder = raw.get(knob.section, {}) if knob.section else raw
        value = holder.get(knob.key, knob.default) if isinstance(holder, dict) else knob.default
        out[knob.name] = value  # as written (32, not 32.0); fields check it and compare as values
    return out


@dataclass(frozen=True)
class KeyFix:
    """An unknown key of the file (`train.lr`) whose value goes to the knob it meant (`train.learning_rate`)."""

    section: str
    key: str
    knob: str
    value: Any

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}" if self.section else self.key


def unknown_keys(raw: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(section, key, value) of the keys of known sections (and the top level) that are no knob."""
    out = []
    for top_key, top_val in raw.items():
        if top_key in ("sweep", "methods"):
            continue  # sweep axes and per-method tables: load_recipe checks them
        if isinstance(top_val, dict) and top_key not in schema.BY_NAME:
            if top_key in schema.SECTIONS:
                out += [(top_key, k, v) for k, v in top_val.items() if f"{top_key}.{k}" not in schema.BY_NAME]
        elif top_key not in schema.BY_NAME:
            out.append(("", top_key, top_val))
    return out


def key_fixes(raw: dict[str, Any]) -> list[KeyFix]:
    """The unknown keys whose `did you mean` (load_recipe's) names a knob the file does not set and
    that takes their value: what the form can fix."""
    from workbench.recipe.load import did_you_mean

    fixes: list[KeyFix] = []
    for section, key, value in unknown_keys(raw):
        name = f"{section}.{key}" if section else key
        m = re.search(r"did you mean (\S+)\?", did_you_mean(name, schema.BY_NAME))
        knob = schema.BY_NAME.get(m.group(1)) if m else None
        if knob is None or knob.section != section or any(f.knob == knob.name for f in fixes):
            continue  # nothing meant, or another table (the file keeps the key; the error says where)
        holder = raw.get(section, {}) if section else raw
        got = schema.coerce(knob, value)
        if knob.key in holder or got.error:
            continue
        fixes.append(KeyFix(section, key, knob.name, got.value))
    return fixes


class RecipeRead(Message):
    """The recipe file was read (after opening, or again after a save): its values as written,
    load_recipe's error when it does not validate, and the unknown keys the form can fix."""

    def __init__(self, path: Path, values: dict[str, Any], shown_as: str, saved: dict[str, Any] | None = None,
                 problem: str | None = None, fixes: list[KeyFix] | None = None) -> None:
        super().__init__()
        self.path, self.values, self.shown_as, self.saved = path, values, shown_as, saved
        self.problem, self.fixes = problem, list(fixes or [])


class RecipeUnreadable(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class RecipeSaveFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class DataProfiled(Message):
    """The data of the recipe as edited (`key`: its path and overrides) was profiled."""

    def __init__(self, key: tuple[str, ...], profile: Any) -> None:
        super().__init__()
        self.key, self.profile = key, profile


class DataProfileFailed(Message):
    """The recipe as edited or its data could not be read: one line, shown in the Data tab."""

    def __init__(self, key: tuple[str, ...], error: str) -> None:
        super().__init__()
        self.key, self.error = key, error


DATA_PANE = "data-tab"


class FieldScroll(VerticalScroll, inherit_bindings=False, can_focus=False):
    """A section's fields; up / down move between fields (the screen's bindings), not the scroll."""


class EditorScreen(ReportsWorkerErrors, Screen):
    CSS_PATH = "../styles/editor.tcss"
    DEFAULT_CSS = """
    EditorScreen #file-problem {
        height: auto;
        max-height: 6;
        padding: 0 1;
        background: $error 15%;
    }
    """
    # Section keys are priority bindings: run as the app reads the key, so the focus has moved to the
    # next section's first field before the next key is read (typed right after, it lands there).
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="Close the editor (asks when there are unsaved changes)"),
        Binding("ctrl+s", "save", "Save", tooltip="Write the changed knobs into the recipe file (comments kept)"),
        Binding("ctrl+o", "save_as", "Save as", tooltip="Write the recipe with its changes to a new file"),
        Binding("ctrl+l", "launch", "Launch", tooltip="Launch this recipe with the pending changes"),
        Binding("ctrl+n", "section(1)", "Next section", tooltip="Show the next section's knobs", priority=True),
        Binding("ctrl+b", "section(-1)", "Prev section", show=False, tooltip="Show the previous section's knobs",
                priority=True),
        Binding("ctrl+pagedown", "section(1)", "Next section", show=False, priority=True),
        Binding("ctrl+pageup", "section(-1)", "Prev section", show=False, priority=True),
        Binding("down", "app.focus_next", "Next field", show=False, tooltip="Move to the next field"),
        Binding("up", "app.focus_previous", "Previous field", show=False, tooltip="Move to the previous field"),
    ]

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.shown_as = self.path.name
        self.loaded = False
        self._shown_summary: tuple | None = None
        self._fields: list[KnobField] | None = None
        self._data_key: tuple[str, ...] | None = None  # the recipe as last profiled (or being profiled)
        self.data_profile: Any = None  # the DataProfile the Data tab shows
        self.problem: str | None = None  # load_recipe's error for the file as saved (None: it validates)
        self.fixes: list[KeyFix] = []  # unknown keys of the file the form fixes (Save writes them)
        self._saving: dict[str, str] | None = None  # each field's text when a save began

    # --- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self.shown_as, id="editor-title")
        yield Static("", id="file-problem", classes="error-text")
        with TabbedContent(id="sections"):
            for section in ("", *schema.SECTIONS):
                with TabPane(SECTION_TITLES.get(section, section), id=section_id(section)):
                    with FieldScroll(classes="fields"):
                        for knob in (k for k in schema.KNOBS if k.section == section):
                            yield KnobField(knob)
            with TabPane("stats", id=DATA_PANE):
                with VerticalScroll(id="data-scroll"):
                    yield Static("The recipe's data, as edited, is profiled when this tab opens", id="data-status")
                    yield Static("", id="data-profile")
        with Vertical(id="changes-box"):
            yield Static("No changes", id="changes")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#sections").disabled = True
        self.query_one("#file-problem").display = False
        self._read(self.path)

    @property
    def fields(self) -> list[KnobField]:
        if self._fields is None:
            self._fields = list(self.query(KnobField))
        return self._fields

    # --- reading -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="editor-file", exit_on_error=False)
    def _read(self, path: Path) -> None:
        self._read_file(path)

    def _read_file(self, path: Path, saved: dict[str, Any] | None = None) -> None:
        """(In a worker thread.) Read the file and post what it holds, and whether it validates."""
        from workbench.errors import UserError
        from workbench.recipe import load_recipe
        from workbench.recipe.catalog import recipe_dirs, relative_name

        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
            self.post_message(RecipeUnreadable(f"{path.name}: {e}"))
            return
        shown_as = relative_name(path, recipe_dirs())
        problem = None
        try:
            load_recipe(path)
        except UserError as e:  # one line naming the file (as the recipes list names it), the line, the key
            problem = str(e).replace(str(path), shown_as)
        fixes = key_fixes(raw) if problem else []
        self.post_message(RecipeRead(path, file_values(raw), shown_as, saved, problem, fixes))

    @on(RecipeRead)
    def _recipe_read(self, message: RecipeRead) -> None:
        self.path, self.shown_as = message.path, message.shown_as
        typed = self._saving if message.saved is not None else None
        self._saving = None
        reset = set()
        for field in self.fields:
            value = message.values[field.knob.name]
            # After a save: keep what was typed since the save began (the user goes on typing while it
            # is written), and what was typed when it is what the file now says.
            keep = typed is not None and (field.text != typed.get(field.knob.name)
                                          or (not field.result.error and same(field.value, value)))
            field.set_baseline(value, reset=not keep)
            if not keep:
                reset.add(field.knob.name)
        self.problem, self.fixes = message.problem, message.fixes
        by_name = self._by_name()
        for fix in self.fixes:
            if fix.knob in reset:  # the value of the unknown key, in the field of the knob it meant
                by_name[fix.knob].set_text(value_text(schema.BY_NAME[fix.knob], fix.value))
        self._show_problem()
        self._check_across()
        if not self.loaded:
            self.loaded = True
            self.query_one("#sections").disabled = False
            self.query_one(f"#{section_id('')}").query(KnobField).first().focus_input()
        if message.saved is not None:
            self.notify(f"{len(message.saved)} change(s) written to {self.shown_as}", title="saved")
        self._refresh_summary()

    @on(RecipeUnreadable)
    def _unreadable(self, message: RecipeUnreadable) -> None:
        self.query_one("#editor-title", Static).update(f"{self.shown_as}: cannot edit")
        self.query_one("#changes", Static).update(message.error)
        self.notify(message.error, title="cannot edit", severity="error")

    def _show_problem(self) -> None:
        """load_recipe's error for the file, and what the form does about it (or nothing: it validates)."""
        box = self.query_one("#file-problem", Static)
        if not self.problem:
            box.display = False
            return
        lines = [self.problem]
        for fix in self.fixes:
            knob = schema.BY_NAME[fix.knob]
            lines.append(f"{fix.name} is not a knob: its value {toml_text(fix.value)} is in {fix.knob}'s field "
                         f"({SECTION_TITLES.get(knob.section, knob.section)} tab); save (ctrl+s) renames the key")
        if not self.fixes:
            lines.append("Fix that line of the file (a field can only set a knob); the form edits the other knobs")
        box.update(Text("\n".join(lines)))
        box.display = True

    # --- editing ---------------------------------------------------------------------------------
    @on(KnobField.Edited)
    def _edited(self, message: KnobField.Edited) -> None:
        self._check_across()
        self._refresh_summary()

    def _by_name(self) -> dict[str, KnobField]:
        return {f.knob.name: f for f in self.fields}

    def _check_across(self) -> None:
        """load_recipe's checks across knobs, on the fields as typed: data.train_file is required
        unless data.dataset names a dataset."""
        by_name = self._by_name()
        train, dataset = by_name["data.train_file"], by_name["data.dataset"]
        missing = not train.result.error and is_empty(train.value) and not dataset.text.strip()
        train.set_problem(required_message(train.knob) if missing else None)

    def fix_lines(self) -> list[str]:
        return [f"{fix.name} → {fix.knob} (unknown key renamed on save)" for fix in self.fixes]

    def _refresh_summary(self) -> None:
        fields = self.fields
        lines = self.fix_lines() + summary_lines(fields)
        bad = [f for f in fields if f.error]
        title = self.shown_as
        if lines:
            title += f"  [b]{counted(len(lines), 'unsaved change')}[/b]"
        if bad:
            title += f"  [$error]{len(bad)} invalid[/]"
        summary = "\n".join(lines) if lines else "No changes"
        labels = {}
        for section in ("", *schema.SECTIONS):
            pane_fields = [f for f in fields if f.knob.section == section]
            mark = "!" if any(f.error for f in pane_fields) else ("●" if any(f.changed for f in pane_fields) else "")
            labels[section] = SECTION_TITLES.get(section, section) + (f" {mark}" if mark else "")
        if (title, summary, labels) == self._shown_summary:
            return  # redraw only what changed: most key presses change nothing here
        self._shown_summary = (title, summary, labels)
        self.query_one("#editor-title", Static).update(title)
        self.query_one("#changes", Static).update(Text(summary))
        tabs = self.query_one(TabbedContent)
        for section, label in labels.items():
            tab = tabs.get_tab(section_id(section))
            if tab.label.plain != label:
                tab.label = label

    def action_section(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        if not self.loaded or not tabs.active:
            return
        ids = [section_id(s) for s in ("", *schema.SECTIONS)] + [DATA_PANE]
        tabs.active = ids[(ids.index(tabs.active) + step) % len(ids)]
        self._focus_first_in_active()

    def _focus_first_in_active(self) -> None:
        """Focus the active pane's first field now (not after a refresh: a key typed right after
        ctrl+n goes to the focused widget, which must already be the new section's field)."""
        pane = self.query_one(TabbedContent).active_pane
        if pane is None:
            return
        fields = pane.query(KnobField)
        target = fields.first().query_one("#value") if fields else self.query_one("#data-scroll")
        self.set_focus(target)

    # --- the Data tab ------------------------------------------------------------------------------
    @on(TabbedContent.TabActivated, "#sections")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == DATA_PANE:
            self.profile_data()

    def profile_data(self) -> None:
        """Profile the recipe as edited, unless that is what the tab already shows (or is computing)."""
        status = self.query_one("#data-status", Static)
        if not self.loaded:
            return
        bad = first_error(self.fields)
        if bad is not None:
            self._data_key = None
            status.update(Text(f"{bad.knob.name} is invalid: {bad.error}"))
            self.query_one("#data-profile", Static).update("")
            return
        key = (str(self.path), *self.overrides())
        if key == self._data_key:
            return
        self._data_key = key
        pending = len(key) - 1
        status.update(Text(f"profiling the data of {self.shown_as}"
                           + (f" with {counted(pending, 'unsaved change')}" if pending else "")
                           + " …"))
        self._profile(key)

    @work(thread=True, exclusive=True, group="editor-data", exit_on_error=False)
    def _profile(self, key: tuple[str, ...]) -> None:
        from workbench.actions.data import profile_recipe
        from workbench.errors import UserError

        try:
            profile = profile_recipe(key[0], list(key[1:]))
        except UserError as e:
            self.post_message(DataProfileFailed(key, str(e)))
            return
        except Exception as e:  # one line in the tab, never a crash (the traceback goes to the log)
            self.app.log.error(f"data profile: {e!r}")
            first = (str(e).strip().splitlines() or [""])[0]
            self.post_message(DataProfileFailed(key, f"{type(e).__name__}: {first}"))
            return
        self.post_message(DataProfiled(key, profile))

    @on(DataProfiled)
    def _data_profiled(self, message: DataProfiled) -> None:
        from rich.console import Group

        from workbench.profile_view import renderables

        if message.key != self._data_key:
            return  # the recipe changed while this one was computed
        self.data_profile = message.profile
        pending = len(message.key) - 1
        self.query_one("#data-status", Static).update(Text(
            f"as edited ({counted(pending, 'unsaved change')})" if pending else "as saved", style="dim"))
        self.query_one("#data-profile", Static).update(Group(*renderables(message.profile)))

    @on(DataProfileFailed)
    def _data_profile_failed(self, message: DataProfileFailed) -> None:
        if message.key != self._data_key:
            return
        self.data_profile = None
        self._data_key = None  # opening the tab again tries again (the file may have been fixed)
        self.query_one("#data-status", Static).update(Text(f"error: {message.error}", style="bold red"))
        self.query_one("#data-profile", Static).update("")

    def _refuse(self, what: str) -> bool:
        """True (and a notification naming the field and what it expects) when a field is invalid."""
        if not self.loaded:
            self.notify("The recipe file could not be read", severity="error")
            return True
        bad = first_error(self.fields)
        if bad is None:
            return False
        self.query_one(TabbedContent).active = section_id(bad.knob.section)
        self.call_after_refresh(bad.focus_input)
        self.notify(f"{bad.error}", title=f"{what} refused: {bad.knob.name} is invalid", severity="error")
        return True

    # --- save / save as ----------------------------------------------------------------------------
    def action_save(self) -> None:
        if self._refuse("save"):
            return
        changes = changes_of(self.fields)
        if not changes and not self.fixes:
            self.notify("Nothing to save", severity="information")
            return
        self._start_write(self.path, changes)

    def _start_write(self, dest: Path, changes: dict[str, Any]) -> None:
        """Write the changes (and the unknown keys the form fixes) to dest; remember what each field
        held, so that the re-read keeps what is typed meanwhile."""
        self._saving = {f.knob.name: f.text for f in self.fields}
        self._write(self.path, dest, changes, list(self.fixes))

    def action_save_as(self) -> None:
        """A copy with the changes, named after its file: `name` is the new file's stem (run ids start
        with it, so the copy's runs are told apart from the original's)."""
        from workbench.tui.screens.prompt import PromptScreen

        if self._refuse("save as"):
            return
        folder = self.path.parent
        changes = changes_of(self.fields)

        def check(text: str) -> str | None:
            if not text.endswith(".toml"):
                return "a recipe file name ends with .toml"
            if (folder / Path(text).expanduser()).exists():
                return f"{text} already exists"
            return None

        def answered(text: str | None) -> None:
            if text:
                dest = folder / Path(text).expanduser()
                self._start_write(dest, {**changes, "name": dest.stem})

        self.app.push_screen(PromptScreen("Save as (relative to this recipe's folder, or absolute):",
                                          f"{self.path.stem}_copy.toml", check=check), answered)

    @work(thread=True, exclusive=True, group="editor-file", exit_on_error=False)
    def _write(self, src: Path, dest: Path, changes: dict[str, Any], fixes: list[KeyFix]) -> None:
        from workbench.recipe.load import update_recipe_file

        try:
            if dest != src:
                if dest.exists():
                    raise FileExistsError(f"{dest.name} already exists")
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_text(src.read_text(encoding="utf-8-sig"), encoding="utf-8")
                changes = {**changes, **_moved_paths(src, dest, changes)}
            renamed = rename_keys(dest, fixes) if fixes else {}
            # A renamed key keeps its value as written (1e-4): set again only when edited since.
            changes = {k: v for k, v in changes.items() if not (k in renamed and same(v, renamed[k]))}
            if changes:
                update_recipe_file(dest, changes)
        except (OSError, ValueError) as e:
            self.post_message(RecipeSaveFailed(f"{dest.name}: {e}"))
            return
        self._read_file(dest, {**renamed, **changes})

    @on(RecipeSaveFailed)
    def _save_failed(self, message: RecipeSaveFailed) -> None:
        self._saving = None
        self.notify(message.error, title="not saved", severity="error")

    # --- launch ------------------------------------------------------------------------------------
    def overrides(self) -> list[str]:
        """The pending changes as `section.key=value` overrides; relative paths made absolute
        against the recipe's folder (load_recipe resolves --set paths against the cwd)."""
        out = []
        for name, value in changes_of(self.fields).items():
            knob = schema.BY_NAME[name]
            if knob.kind == "path" and value and not Path(value).expanduser().is_absolute():
                value = str((self.path.parent / value).resolve())
            out.append(f"{name}={toml_text(value)}")
        return out

    def action_launch(self) -> None:
        from workbench.tui.screens.launch import LaunchScreen

        if self._refuse("launch"):
            return
        if self.fixes:  # overrides cannot rename a key of the file: load_recipe would refuse it
            names = ", ".join(f"{fix.name} → {fix.knob}" for fix in self.fixes)
            self.notify(f"The file still has unknown keys; save (ctrl+s) to rename them ({names})",
                        title="launch refused: save first", severity="error")
            return
        self.app.push_screen(LaunchScreen(self.path, self.overrides()))

    # --- leaving -------------------------------------------------------------------------------------
    def action_back(self) -> None:
        from workbench.tui.screens.confirm import ConfirmScreen

        pending = [*self.fixes, *(f for f in self.fields if f.changed)]
        if not pending:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(ConfirmScreen(f"Discard {len(pending)} unsaved change(s) to {self.shown_as}?",
                                           yes="Discard", no="Keep editing"), answered)


def rename_keys(path: Path, fixes: list[KeyFix]) -> dict[str, Any]:
    """Rename the unknown keys of the file to the knobs they meant, on their own lines (value,
    comment and layout kept); {knob name: value} of those renamed."""
    from workbench.recipe.load import _locate

    lines = path.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    renamed = {}
    for fix in fixes:
        no = _locate("".join(lines), fix.section, fix.key)
        if no is None:
            continue
        knob = schema.BY_NAME[fix.knob]
        line = lines[no - 1]
        # `lr = ...` in [train], or `train.lr = ...` above the tables
        forms = [(fix.key, knob.key)] + ([(f"{fix.section}.{fix.key}", knob.name)] if fix.section else [])
        for old, new in forms:
            m = re.match(r"(\s*)([\"']?)" + re.escape(old) + r"\2(\s*=)", line)
            if m:
                lines[no - 1] = m.group(1) + new + m.group(3) + line[m.end():]
                renamed[fix.knob] = fix.value
                break
    path.write_text("".join(lines), encoding="utf-8")
    return renamed


def _moved_paths(src: Path, dest: Path, changes: dict[str, Any]) -> dict[str, str]:
    """Relative path knobs rewritten so they point at the same files from dest's folder."""
    if src.parent.resolve() == dest.parent.resolve():
        return {}
    raw = tomllib.loads(src.read_text(encoding="utf-8-sig"))
    values = {**file_values(raw), **changes}
    out = {}
    for knob in schema.KNOBS:
        value = values.get(knob.name)
        if knob.kind == "path" and isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            out[knob.name] = os.path.relpath((src.parent / value).resolve(), dest.parent.resolve())
    return out
