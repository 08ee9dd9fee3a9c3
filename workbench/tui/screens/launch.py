"""The launch dialog: where (local, an ssh host, SLURM / PBS here or on a login node), the
[launch] knobs that matter there (generated from the schema), a live preview of the exact
command or batch script, and Submit: pre-flight checks, then the launch; the app follows the
new run. Problems show in the dialog, in one readable line, and only there (no toast over
them); nothing is submitted with an invalid field."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Footer, Label, Select, Static

from workbench.launch.targets import Target, parse_target
from workbench.recipe import schema
from workbench.tui.messages import LaunchFailed, RunLaunched
from workbench.tui.widgets.knob_form import FieldSelect, KnobField, first_error, required_message, toml_text
from workbench.tui.worker_errors import ReportsWorkerErrors

if TYPE_CHECKING:
    from workbench.actions.launch import GroupStarted

PREVIEW_DELAY_S = 0.3
TARGET = schema.BY_NAME["launch.target"]


def relevant(key: str, target: Target) -> bool:
    """Whether a [launch] knob matters for a target (the others stay in the recipe, hidden here)."""
    scheduler, remote = target.scheduler, target.remote
    if key in ("partition", "account", "qos", "time", "nodes"):
        return scheduler == "slurm"
    if key in ("project", "queue", "walltime"):
        return scheduler == "pbs"
    if key in ("cpus", "mem", "job_name", "log_file"):
        return scheduler is not None
    if key == "workdir":
        return remote
    if key in ("python", "venv", "conda_env", "modules", "forward_env"):
        return remote or scheduler is not None
    return True


# load_recipe's message for an empty required knob: `NAME is required (FIRST WORDS OF ITS HELP: EXPECTED)`,
# its help cut at the first `.` (mid-sentence when the help names `.csv` or `[...]`).
_REQUIRED = re.compile(r"\b([a-z_]+(?:\.[a-z_]+)?) is required \((.*): ([^:]*)\)$")


def readable(error: str) -> str:
    """A recipe error as one readable sentence: a required knob's message without its cut help."""
    m = _REQUIRED.search(error)
    knob = schema.BY_NAME.get(m.group(1)) if m else None
    if m is None or knob is None or m.group(3) != knob.expected():
        return error
    return error[:m.start()] + required_message(knob)


def target_options(aliases: list[str]) -> list[str]:
    return (["local", *(f"ssh:{a}" for a in aliases), "slurm", "pbs", *(f"slurm:{a}" for a in aliases),
             *(f"pbs:{a}" for a in aliases)])


class RecipeLoaded(Message):
    """The recipe (with the editor's overrides) was validated; its [launch] values and the ssh aliases."""

    def __init__(self, launch: dict[str, Any], aliases: list[str]) -> None:
        super().__init__()
        self.launch, self.aliases = launch, aliases


class RecipeRefused(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class PreviewRendered(Message):
    def __init__(self, seq: int, text: str, ok: bool) -> None:
        super().__init__()
        self.seq, self.text, self.ok = seq, text, ok


class LaunchStepped(Message):
    """The launcher reported progress (checking a host, uploading)."""

    def __init__(self, step: str) -> None:
        super().__init__()
        self.step = step


class RunSubmitted(Message):
    """The launch went through: the run exists and was started or submitted."""

    def __init__(self, run_id: str, run_dir: Path) -> None:
        super().__init__()
        self.run_id, self.run_dir = run_id, run_dir


class GroupSubmitted(Message):
    """`workbench run` of a recipe of several runs was started detached, and its first run is under way."""

    def __init__(self, group: GroupStarted, run_id: str, run_dir: Path) -> None:
        super().__init__()
        self.group, self.run_id, self.run_dir = group, run_id, run_dir


class FormScroll(VerticalScroll, inherit_bindings=False, can_focus=False):
    """The fields; up / down move between fields (the screen's bindings), not the scroll."""


class LaunchScreen(ReportsWorkerErrors, ModalScreen[None]):
    CSS_PATH = "../styles/launch.tcss"
    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit", tooltip="Check the recipe and data, then launch the run"),
        Binding("escape", "cancel", "Cancel", tooltip="Close the dialog without launching"),
        Binding("down", "app.focus_next", "Next field", show=False, tooltip="Move to the next field"),
        Binding("up", "app.focus_previous", "Previous field", show=False, tooltip="Move to the previous field"),
    ]

    def __init__(self, recipe_path: str | Path, overrides: list[str] | None = None) -> None:
        super().__init__()
        self.recipe_path = Path(recipe_path)
        self.base_overrides = list(overrides or [])
        self.loaded = False
        self.refused: str | None = None  # why the recipe does not validate (shown in the dialog)
        self.launching = False
        self._timer: Timer | None = None
        self._seq = 0

    # --- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            more = f" with {len(self.base_overrides)} unsaved change(s)" if self.base_overrides else ""
            yield Static(f"[b]Launch[/b] {self.recipe_path.name}{more}", id="launch-title")
            with FormScroll(id="launch-form"):
                with Horizontal(classes="knob-row", id="target-row"):
                    yield Label("  target", classes="knob-label")
                    yield FieldSelect([("local", "local")], value="local", allow_blank=False, id="target", compact=True,
                                      tooltip=TARGET.help)
                for knob in schema.knobs_in("launch"):
                    if knob is not TARGET:
                        yield KnobField(knob, compact=True)
            yield Static("[b]Preview[/b] (what Submit runs)", id="launch-preview-label")
            with VerticalScroll(id="launch-preview-box"):
                yield Static("reading the recipe…", id="launch-preview")
            yield Static("", id="launch-status")
            with Horizontal(id="launch-buttons"):
                yield Button("Submit (ctrl+s)", variant="primary", id="submit", compact=True)
                yield Button("Cancel (esc)", id="cancel", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#launch-status").display = False
        self.query_one("#launch-form").disabled = True
        self._load(self.recipe_path, self.base_overrides)

    @property
    def fields(self) -> list[KnobField]:
        return list(self.query(KnobField))

    def visible_fields(self) -> list[KnobField]:
        return [f for f in self.fields if f.display]

    @property
    def target(self) -> str:
        value = self.query_one("#target", Select).value
        return "local" if value is Select.NULL else str(value)

    def _shown(self, text: str) -> str:
        """Messages name the recipe file relative to its folder, the same on every machine, and
        say what is wrong in one readable sentence."""
        return readable(text.replace(str(self.recipe_path), self.recipe_path.name))

    # --- loading -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="launch-load", exit_on_error=False)
    def _load(self, path: Path, overrides: list[str]) -> None:
        from workbench.errors import UserError
        from workbench.launch.hosts import ssh_host_aliases
        from workbench.recipe import load_recipe

        try:
            recipe = load_recipe(path, overrides)
        except UserError as e:
            self.post_message(RecipeRefused(str(e)))
            return
        self.post_message(RecipeLoaded(recipe.section("launch"), ssh_host_aliases()))

    @on(RecipeLoaded)
    def _loaded(self, message: RecipeLoaded) -> None:
        options = target_options(message.aliases)
        current = message.launch["target"]
        if current not in options:
            options.append(current)
        select = self.query_one("#target", Select)
        select.set_options([(o, o) for o in options])
        select.value = current
        for field in self.fields:
            field.set_baseline(message.launch[field.knob.key])
        self.loaded = True
        self.query_one("#launch-form").disabled = False
        self._show_relevant()
        select.focus()
        self._schedule_preview(now=True)

    @on(RecipeRefused)
    def _refused(self, message: RecipeRefused) -> None:
        from rich.text import Text

        self.refused = self._shown(message.error)
        self.query_one("#launch-preview", Static).update(Text(self.refused))
        self.query_one("#launch-preview").add_class("error-text")
        self._status(f"The recipe does not validate: {self.refused}", error=True)

    # --- editing and the preview -------------------------------------------------------------------
    @on(Select.Changed, "#target")
    def _target_changed(self, event: Select.Changed) -> None:
        self._show_relevant()
        self._schedule_preview()

    @on(KnobField.Edited)
    def _edited(self, message: KnobField.Edited) -> None:
        self._schedule_preview()

    def _show_relevant(self) -> None:
        target = parse_target(self.target)
        for field in self.fields:
            field.display = relevant(field.knob.key, target)

    def overrides(self) -> list[str]:
        """The editor's overrides, then the dialog's: the target and every changed visible field."""
        out = [*self.base_overrides, f"launch.target={self.target}"]
        out += [f"{f.knob.name}={toml_text(f.value)}" for f in self.visible_fields() if f.changed and not f.error]
        return out

    def _schedule_preview(self, now: bool = False) -> None:
        if not self.loaded:
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if now:
            self._start_preview()
        else:
            self._timer = self.set_timer(PREVIEW_DELAY_S, self._start_preview)

    def _start_preview(self) -> None:
        self._timer = None
        self._seq += 1
        bad = [f for f in self.visible_fields() if f.error]
        if bad:
            self._show_preview("\n".join(f.error for f in bad if f.error), ok=False)
            return
        self._render_preview(self._seq, self.recipe_path, self.overrides(), self.app.store)

    @work(thread=True, exclusive=True, group="launch-preview", exit_on_error=False)
    def _render_preview(self, seq: int, path: Path, overrides: list[str], store: Path) -> None:
        from workbench.actions.launch import preview
        from workbench.errors import UserError
        from workbench.recipe import load_recipe

        try:
            shown = preview(load_recipe(path, overrides), store)
            text, ok = "\n".join([*(f"# {line}" for line in shown.notes), shown.script]), True
        except UserError as e:
            text, ok = str(e), False
        self.post_message(PreviewRendered(seq, text, ok))

    @on(PreviewRendered)
    def _preview_rendered(self, message: PreviewRendered) -> None:
        if message.seq == self._seq:
            self._show_preview(self._shown(message.text), message.ok)

    def _show_preview(self, text: str, ok: bool) -> None:
        from rich.text import Text

        preview = self.query_one("#launch-preview", Static)
        preview.update(Text(text))
        preview.set_class(not ok, "error-text")

    def _status(self, text: str, error: bool = False) -> None:
        from rich.text import Text

        status = self.query_one("#launch-status", Static)
        status.update(Text(text))
        status.set_class(error, "error-text")
        status.display = bool(text)

    # --- submit ------------------------------------------------------------------------------------
    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        if self.launching:
            self.notify("A launch is already under way", severity="warning")
            return
        if not self.loaded:
            if self.refused is None:
                self.notify("The recipe is still being read", severity="warning")
            else:  # the dialog says why already: a toast would only cover it
                self.app.bell()
            return
        bad = first_error(self.visible_fields())
        if bad is not None:  # the error is under the field and in the status line (no toast over them)
            bad.focus_input()
            self._status(f"Submit refused: {bad.error}", error=True)
            return
        self.launching = True
        self.query_one("#submit", Button).disabled = True
        self._status(f"launching on {self.target}…")
        overrides = self.overrides()
        try:
            rel = str(self.recipe_path.relative_to(Path.cwd()))
        except ValueError:
            rel = str(self.recipe_path)
        command = shlex.join(["workbench", "(tui)", "run", rel, *[a for o in overrides for a in ("--set", o)]])
        self._launch(self.recipe_path, overrides, self.app.store, command)

    @work(thread=True, exclusive=True, group="launch-submit", exit_on_error=False)
    def _launch(self, path: Path, overrides: list[str], store: Path, command: str) -> None:
        from workbench.actions import launch
        from workbench.errors import UserError

        def step(text: str) -> None:
            self.post_message(LaunchStepped(text))

        try:
            step("checking the recipe, the data and the model source")
            plan = launch.plan_run(store, str(path), overrides, command=command)
            if plan.is_sweep and not plan.recipe.launch.target.scheduler:
                # one after another, as `workbench run` does: that command itself, detached (run_group.py follows)
                sweep = launch.plan_sweep(plan)
                step(f"starting run 1 of {len(sweep.recipes)} ({sweep.description}) with `workbench run`")
                group = launch.start_group_detached(plan, sweep, str(path))
                first = launch.first_group_run(store, group)
                self.post_message(GroupSubmitted(group, first.run_id, first.run_dir))
                return
            if plan.is_sweep:  # seeds / methods / [sweep] on a scheduler: one group, one job array
                sweep = launch.plan_sweep(plan)
                runs = launch.start_sweep(plan, sweep, lambda _run: True, on_step=step)
                for other in runs[1:]:
                    self.app.post_message(RunLaunched(other.run_id, other.run_dir))
                run_dir = runs[0].run_dir
            else:  # the one run with its values (a one-value sweep, one seed, a methods entry's knobs)
                run_dir = launch.start_run(plan, on_step=step).run_dir
        except UserError as e:
            self.post_message(LaunchFailed(str(e)))
            return
        except OSError as e:  # a full disk, a missing program: shown in the dialog (a bug: ReportsWorkerErrors)
            self.post_message(LaunchFailed(f"{type(e).__name__}: {e}"))
            return
        self.post_message(RunSubmitted(run_dir.name, run_dir))

    @on(LaunchStepped)
    def _stepped(self, message: LaunchStepped) -> None:
        self._status(message.step + "…")

    @on(LaunchFailed)
    def _failed(self, message: LaunchFailed) -> None:
        message.stop()
        self.launching = False
        self.query_one("#submit", Button).disabled = False
        # In the dialog's status line only: a toast of the same text would cover it.
        self._status(f"Launch failed: {self._shown(message.error)}", error=True)

    @on(RunSubmitted)
    def _submitted(self, message: RunSubmitted) -> None:
        self.launching = False
        self.dismiss(None)
        self.app.post_message(RunLaunched(message.run_id, message.run_dir))

    @on(GroupSubmitted)
    def _group_submitted(self, message: GroupSubmitted) -> None:
        self.launching = False
        self.dismiss(None)
        self.app.follow_group(message.group)
        self.app.post_message(RunLaunched(message.run_id, message.run_dir))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self.launching:
            self.notify("The launch is under way; it will finish in a moment", severity="warning")
            return
        self.dismiss(None)
