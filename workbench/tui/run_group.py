"""A group of runs the app launched on a target without a scheduler (methods, seeds, a sweep): `workbench run`
runs them one after another in a detached process (actions.launch.start_group_detached); the app follows that
process and each of its runs as it appears in the store, in the Monitor, where one line says which run of N is
running. A mixin of the app (AppBase): the group's state (GroupWatch) and its follower worker."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message
from textual.worker import get_current_worker

if TYPE_CHECKING:
    from pathlib import Path

    from textual.app import App as _App  # what it is mixed into (the app), for mypy

    from workbench.actions.launch import GroupStarted
    from workbench.launch.watch import RunWatch
else:
    _App = object

POLL_S = 0.5


@dataclass
class GroupWatch:
    """What the app knows of a group it launched: its runs so far (in order), and whether `workbench run`
    has ended (its exit status)."""

    group: str
    kind: str
    total: int
    run_ids: list[str] = field(default_factory=list)
    ended: bool = False
    exit_code: int | None = None

    def line(self, watches: dict[str, RunWatch]) -> str:
        """`methods group G: run 2 of 2 running · 1 completed`; once ended `2 of 2 runs ran · 2 completed`."""
        statuses = [watches[r].status if r in watches else "?" for r in self.run_ids]
        counts = {s: statuses.count(s) for s in dict.fromkeys(statuses) if s not in ("running", "queued")}
        done = ", ".join(f"{n} {s}" for s, n in counts.items())
        head = f"{self.kind} group {self.group}: "
        if self.ended:
            stopped = "" if len(self.run_ids) == self.total else " (the group stopped)"
            return head + f"{len(self.run_ids)} of {self.total} runs ran{stopped}" + (f" · {done}" if done else "")
        now = len(self.run_ids)
        current = statuses[-1] if statuses else "starting"
        return head + f"run {max(now, 1)} of {self.total} {current}" + (f" · {done}" if done else "")


class GroupRunAppeared(Message):
    def __init__(self, group: str, run_id: str, run_dir) -> None:
        super().__init__()
        self.group, self.run_id, self.run_dir = group, run_id, run_dir


class GroupEnded(Message):
    def __init__(self, group: str, exit_code: int | None) -> None:
        super().__init__()
        self.group, self.exit_code = group, exit_code


class FollowsGroups(_App):
    """The app's groups (`groups`, by name) and their followers."""

    store: Path
    groups: dict[str, GroupWatch]
    watches: dict[str, RunWatch]

    if TYPE_CHECKING:
        def follow_run(self, run_id: str, run_dir: Path) -> RunWatch: ...

    def follow_group(self, started: GroupStarted) -> GroupWatch:
        gw = self.groups.setdefault(started.group, GroupWatch(started.group, started.kind, started.total))
        self._follow_group(started)
        return gw

    @work(thread=True, group="follow-group", exit_on_error=False)
    def _follow_group(self, started: GroupStarted) -> None:
        """Until `workbench run` has ended: each new run of the group (in the store) is posted, to be followed."""
        from workbench.actions.launch import group_runs

        worker = get_current_worker()
        seen: set[str] = set()
        while not worker.is_cancelled:  # the app quitting: the group goes on without it
            ended = started.process.poll() is not None  # before the store: the last run is read after its end
            for run_id, run_dir in group_runs(self.store, started.group):
                if run_id not in seen:
                    seen.add(run_id)
                    self.post_message(GroupRunAppeared(started.group, run_id, run_dir))
            if ended:
                self.post_message(GroupEnded(started.group, started.process.returncode))
                return
            time.sleep(POLL_S)

    # handlers by name: Textual collects `@on` handlers of MessagePump classes only, and this mixin is none
    def on_group_run_appeared(self, message: GroupRunAppeared) -> None:
        gw = self.groups.get(message.group)
        if gw is not None and message.run_id not in gw.run_ids:
            gw.run_ids.append(message.run_id)
            self.follow_run(message.run_id, message.run_dir)  # the Monitor opens its tab in front

    def on_group_ended(self, message: GroupEnded) -> None:
        gw = self.groups.get(message.group)
        if gw is None:
            return
        gw.ended, gw.exit_code = True, message.exit_code
        self.notify(f"{gw.kind} group {gw.group}: {len(gw.run_ids)} of {gw.total} runs ran", title="group ended",
                    severity="information" if message.exit_code == 0 else "warning")
