"""Clone and change, mixed into the Runs list and a run's detail: a run's frozen recipe written as a new
recipe in the user's recipes folder (workbench.actions.clone, as `workbench run --from RUN` starts from
it), under a name the user gives, then opened in the editor to change and launch. The key is `d`, the
Recipes screen's Duplicate (`c` is Compare)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.message import Message

if TYPE_CHECKING:
    from textual.dom import DOMNode as _Node  # what it is mixed into (a screen), for mypy

    from workbench.tui.app_base import AppBase
else:
    _Node = object

CLONE_BINDING = Binding("d", "clone_run", "Clone", show=False,
                        tooltip="Clone and change: the run's frozen recipe as a new recipe, opened in the editor")


class RunCloned(Message):
    """A run's frozen recipe was written as the new recipe `path`."""

    def __init__(self, run_id: str, path: Path) -> None:
        super().__init__()
        self.run_id, self.path = run_id, path


class RunNotCloned(Message):
    """A run's recipe could not be cloned (its folder not here, the file taken): why, in one line."""

    def __init__(self, run_id: str, error: str) -> None:
        super().__init__()
        self.run_id, self.error = run_id, error


def default_name(run_id: str) -> str:
    """The run's recipe name (a run id starts with it) and the end of its id: `demo_from_ced5`."""
    return f"{run_id.rsplit('-', 3)[0]}_from_{run_id[-4:]}"


class ClonesRuns(_Node):
    app: AppBase

    def clone_run(self, run_id: str) -> None:
        """Ask the new recipe's name, then write it in a worker (RunCloned / RunNotCloned)."""
        from workbench.recipe import catalog
        from workbench.tui.screens.prompt import PromptScreen
        from workbench.tui.screens.recipes import check_name, user_dir

        dirs = catalog.recipe_dirs()
        dest_dir = user_dir(dirs)

        def check(text: str) -> str | None:
            return check_name(text) or ((f"{text}.toml already exists there")
                                        if (dest_dir / f"{text}.toml").exists() else None)

        def answered(name: str | None) -> None:
            if name:
                self.run_worker(lambda: self._write_clone(run_id, dest_dir / f"{name}.toml", name), thread=True,
                                group="clone-run", exit_on_error=False)

        where = catalog.relative_name(dest_dir / "x", dirs).rpartition("/")[0] or dest_dir.name
        self.app.push_screen(PromptScreen(f"Clone run {run_id}'s recipe as a new recipe named (written in {where}/):",
                                          default_name(run_id), check=check), answered)

    def _write_clone(self, run_id: str, dest: Path, name: str) -> None:
        from workbench.actions.clone import run_origin, write_recipe
        from workbench.errors import UserError

        try:
            path = write_recipe(run_origin(self.app.store, run_id, read_only=False), dest, name)
        except (UserError, OSError) as e:
            self.post_message(RunNotCloned(run_id, str(e)))
            return
        self.post_message(RunCloned(run_id, path))

    def on_run_cloned(self, message: RunCloned) -> None:
        from workbench.tui.screens.editor import EditorScreen

        self.app.notify(f"{message.path.name}: run {message.run_id}'s recipe, to change and launch", title="new recipe")
        self.app.push_screen(EditorScreen(message.path))

    def on_run_not_cloned(self, message: RunNotCloned) -> None:
        self.app.notify(message.error, title=f"could not clone {message.run_id}", severity="error")
