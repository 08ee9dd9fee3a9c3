"""One handler for failed workers, mixed into the app and every screen that starts workers.

Textual posts `Worker.StateChanged` to the node that started the worker only (it does not
bubble), and workers here run with exit_on_error=False so a failure never takes the app down.
Without this handler such a failure would be lost: now its error is one line in the app (a
notification naming the worker) and its traceback goes to the Textual log.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from textual.message_pump import MessagePump as _Node  # what it is mixed into, for mypy

    from workbench.tui.app_base import AppBase
else:
    _Node = object


class ReportsWorkerErrors(_Node):
    app: AppBase  # for mypy (Textual types it App[object]): the app and its screens run in WorkbenchApp, an AppBase

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR or event.worker.error is None:
            return
        error = event.worker.error
        first = (str(error).strip().splitlines() or [""])[0]
        app = self.app
        app.log.error("".join(traceback.format_exception(error)))
        app.notify(f"{type(error).__name__}: {first}" if first else type(error).__name__,
                   title=f"{event.worker.group or event.worker.name} failed", severity="error")
