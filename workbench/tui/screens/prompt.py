"""A one-line question over the current screen (a new recipe's name, a path to save as), with
an optional choice (a template's task). Returns the answer, or None when cancelled."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast, overload

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from workbench.tui.widgets.knob_form import TypedInput

# What the screen dismisses with: the text (or None), or with choices (choice, text) (or None).
Answer = TypeVar("Answer", str | None, tuple[str, str] | None)


class PromptScreen(ModalScreen[Answer]):
    """`PromptScreen(question, value)` dismisses with the text; with `choices` it dismisses with
    (choice, text). `check(text)` returns an error shown under the input (the dialog stays)."""

    CSS_PATH = "../styles/prompt.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="Close without doing anything")]

    @overload
    def __init__(self: PromptScreen[str | None], question: str, value: str = "", *,
                 check: Callable[[str], str | None] | None = None, placeholder: str = "") -> None: ...

    @overload
    def __init__(self: PromptScreen[tuple[str, str] | None], question: str, value: str = "", *,
                 choices: tuple[str, ...], check: Callable[[str], str | None] | None = None,
                 placeholder: str = "") -> None: ...

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
            self.dismiss(cast(Answer, (str(self.query_one("#choice", Select).value), text)))
        else:
            self.dismiss(cast(Answer, text))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
