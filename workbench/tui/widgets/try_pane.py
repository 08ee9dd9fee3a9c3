"""The run detail's Try tab: a text typed and Enter runs the run's tuned model and the base model it was
trained from on it (workbench/actions/try_text.py, in a thread worker), their answers side by side in the
task's own words. The models load at the first try and are kept for the next ones; `release` (the detail
screen closing) frees them. A run without weights (failed, cancelled, its folder gone) says why in one line."""

from __future__ import annotations

import threading

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from workbench.actions.try_text import TryAnswer, TryModels
from workbench.errors import UserError
from workbench.tui.worker_errors import ReportsWorkerErrors

LOADING = "loading models…"


class TryModelsLoaded(Message):
    """The models a try needed were loaded (they are kept for the next tries)."""

    def __init__(self, models: TryModels, loaded: tuple[str, ...]) -> None:
        super().__init__()
        self.models, self.loaded = models, loaded


class TryAnswered(Message):
    """The tuned and the base model answered the text."""

    def __init__(self, text: str, tuned: TryAnswer, base: TryAnswer | None) -> None:
        super().__init__()
        self.text, self.tuned, self.base = text, tuned, base


class TryFailed(Message):
    """The run's models cannot answer (no such weights, a text the task refuses): the one line why."""

    def __init__(self, text: str, error: str) -> None:
        super().__init__()
        self.text, self.error = text, error


class TryPane(ReportsWorkerErrors, Vertical):
    DEFAULT_CSS = """
    TryPane { height: 1fr; }
    TryPane #try-status { height: auto; }
    TryPane #try-answers { height: 1fr; }
    TryPane .try-column { width: 1fr; padding: 0 1; }
    """

    def __init__(self, run_id: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.models: TryModels | None = None  # kept between tries once the first has loaded them
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Input(placeholder="a text to try: Enter runs the tuned and the base model on it", id="try-input")
        yield Static(Text("type a text and press Enter", style="dim"), id="try-status")
        with Horizontal(id="try-answers"):
            yield Static("", id="try-tuned", classes="try-column")
            yield Static("", id="try-base", classes="try-column")

    @on(Input.Submitted, "#try-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value
        status = self.query_one("#try-status", Static)
        if not text.strip():
            status.update(Text("type a text first", style="yellow"))
            return
        if self.busy:
            status.update(Text("still answering the last text", style="yellow"))
            return
        self.busy = True
        status.update(Text(LOADING if self.models is None else "answering…", style="dim"))
        self._try(text, self.models)

    @work(thread=True, group="try-text", exit_on_error=False)
    def _try(self, text: str, models: TryModels | None) -> None:
        try:
            if models is None:
                models = TryModels(self.app.store, self.run_id, read_only=False)
            before = len(models.loads)
            tuned, base = models.try_text(text)
        except UserError as e:
            self.post_message(TryFailed(text, str(e)))
            return
        if len(models.loads) > before:
            self.post_message(TryModelsLoaded(models, tuple(models.loads[before:])))
        self.post_message(TryAnswered(text, tuned, base))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A try that failed otherwise than in one line (a bug, the machine): notified as every failed worker
        is, and the pane takes the next text."""
        super().on_worker_state_changed(event)
        if event.worker.group == "try-text" and event.state is WorkerState.ERROR:
            self.busy = False
            error = event.worker.error
            self.query_one("#try-status", Static).update(Text(f"the try failed: {type(error).__name__}: {error}"
                                                              .splitlines()[0], style="red"))

    @on(TryModelsLoaded)
    def _models_loaded(self, message: TryModelsLoaded) -> None:
        self.models = message.models

    @on(TryFailed)
    def _failed(self, message: TryFailed) -> None:
        self.busy = False
        self.query_one("#try-status", Static).update(Text(message.error, style="yellow"))
        for column in ("#try-tuned", "#try-base"):
            self.query_one(column, Static).update("")

    @on(TryAnswered)
    def _answered(self, message: TryAnswered) -> None:
        self.busy = False
        self.query_one("#try-status", Static).update(Text(f"answers to: {message.text}", style="dim"))
        self.query_one("#try-tuned", Static).update(_column(f"tuned ({self.run_id})", message.tuned))
        self.query_one("#try-base", Static).update(
            _column("base model (before tuning)", message.base) if message.base is not None else "")

    def on_unmount(self) -> None:
        self.release()  # the detail screen closed: its models go with it

    def release(self) -> None:
        """Free the kept models, off the UI thread (a try still running finishes first); a thread of its own,
        not a worker: the app may be closing."""
        models, self.models = self.models, None
        if models is not None:
            threading.Thread(target=models.release, name="try-release", daemon=True).start()


def _column(title: str, answer: TryAnswer) -> Text:
    out = Text(title + "\n", style="bold")
    out.append("\n".join(answer.lines))
    return out
