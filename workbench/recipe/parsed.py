"""Knob values that are parsed, once, when a recipe loads: where a run trains (`launch.target`) and
what model it starts from (`model.source`). The recipe's typed view holds these objects
(`recipe.launch.target`, `recipe.model.source`); the flat values keep the text as written."""

from __future__ import annotations

from dataclasses import dataclass

TINY = "tiny:"


@dataclass(frozen=True)
class Target:
    """`launch.target`: where a run trains and who starts it."""

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


@dataclass(frozen=True)
class ModelSource:
    """`model.source` as far as it can be told apart without the machine it loads on: a tiny:<arch>
    model, or a hub id / model folder. Which of the last two it is (and whether it loads) is decided
    where the model loads: workbench/models/source.py (`parse_source`, `check_source`)."""

    spec: str  # as written in the recipe

    @property
    def tiny_arch(self) -> str | None:
        """The architecture of a tiny:<arch> source (not checked here: models/tiny.py knows them); else None."""
        s = self.spec.strip()
        return s[len(TINY):] if s.startswith(TINY) else None

    @property
    def tiny(self) -> bool:
        return self.tiny_arch is not None

    def __str__(self) -> str:
        return self.spec


def parse_model_source(text: str) -> ModelSource:
    return ModelSource(text)
