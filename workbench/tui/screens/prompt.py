"""A one-line question over the current screen (a new recipe's name, a path to save as), with
an optional choice (a template's task). Returns the answer, or None when cancelled."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from workbench.tui.widgets.knob_form import TypedInput


class PromptScreen(ModalScreen[tuple[str, str] | str | None]):
    """`PromptScreen(question, value)` dismisses with the text; with `choices` it dismisses with
    (choice, text). `check(text)` returns an error shown under the input (the dialog stays)."""

    CSS_PATH = "../styles/prompt.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="Close without doing anything")]

    def __init__(self, question: str, value: str = "", *, choices: tuple[str, ...] = (),
                 check: Callable[[str], str | None] | None = None, placeholder: str = "") -> None:
        super().__init__()
        self.question, self.value, self.choices, self.check = question, value, choices, check
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            if self.choices:
                yield Select([(c, c) for c in self.choices], value=self.choices[0], allow_blank=False,
                             id="choice", compact=True)
            # Editing keys act in the order typed (ctrl+u then a path keeps the path): TypedInput.
            yield TypedInput(self.value, placeholder=self.placeholder, id="answer", compact=True)
            yield Static("", id="problem", classes="error-text")
            with Horizontal(id="buttons"):
                yield Button("OK (enter)", variant="primary", id="ok")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#answer", Input).focus()
        self.query_one("#problem").display = False

    @on(Input.Submitted, "#answer")
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        text = self.query_one("#answer", Input).value.strip()
        problem = "an answer is needed" if not text else (self.check(text) if self.check else None)
        if problem:
            box = self.query_one("#problem", Static)
            box.update(problem)
            box.display = True
            return
        if self.choices:
            self.dismiss((str(self.query_one("#choice", Select).value), text))
        else:
            self.dismiss(text)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
