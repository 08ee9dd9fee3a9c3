"""`launch.target`: where a run trains and who starts it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    kind: str            # local | ssh | slurm | pbs
    host: str | None     # ssh host / alias that runs the agent; None: this machine

    @property
    def scheduler(self) -> str | None:
        return self.kind if self.kind in ("slurm", "pbs") else None

    @property
    def remote(self) -> bool:
        return self.host is not None

    def __str__(self) -> str:
        return self.kind if self.host is None else f"{self.kind}:{self.host}"


def parse_target(text: str) -> Target:
    """The recipe schema has already checked the syntax (launch.target's pattern)."""
    kind, _, host = text.partition(":")
    return Target(kind, host or None)
