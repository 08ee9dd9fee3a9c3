"""Messages the app's workers post: past-tense facts. Workers never touch widgets; handlers
(`@on(...)`) change state and widgets re-render from it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from workbench.events import Event
    from workbench.launch.watch import RunWatch


class RunLaunched(Message):
    """A run was created and started or submitted (`resumed`: an ended run was started again)."""

    def __init__(self, run_id: str, run_dir: Path, resumed: bool = False) -> None:
        super().__init__()
        self.run_id, self.run_dir, self.resumed = run_id, run_dir, resumed


class LaunchFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class EventsReceived(Message):
    """A follower read new events of a run from its folder (one message per poll round: telemetry bursts
    arrive coalesced). `watch`: the RunWatch the follower feeds (None: the run's current one); a message
    for an earlier watch of the run (before a resume) is dropped."""

    def __init__(self, run_id: str, events: list[Event], warnings: list[str], watch: RunWatch | None = None) -> None:
        super().__init__()
        self.run_id, self.events, self.warnings, self.watch = run_id, events, warnings, watch


class RunEnded(Message):
    """A followed run reached its final status (settled against the process / scheduler); `watch` as in
    EventsReceived."""

    def __init__(self, run_id: str, status: str, error: str | None, quiet: bool = False,
                 watch: RunWatch | None = None) -> None:
        super().__init__()
        self.run_id, self.status, self.error, self.quiet, self.watch = run_id, status, error, quiet, watch


class FollowInterrupted(Message):
    """A follower lost its host (ssh down) and is retrying; or it stopped with an error."""

    def __init__(self, run_id: str, reason: str) -> None:
        super().__init__()
        self.run_id, self.reason = run_id, reason
