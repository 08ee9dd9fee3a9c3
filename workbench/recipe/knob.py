"""What a knob is: its kind, default, bounds and help (`Knob`), and `knob(...)`, which declares one as
a field of a recipe section's dataclass (workbench/recipe/sections.py). The knob table
(`schema.KNOBS`) is read off those fields: the section is the dataclass's, the key the field's name."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Knob kinds. "path" is a string naming a file, resolved relative to the recipe file (or to
# the working directory when it comes from --set); "" means "not given".
KINDS = ("int", "float", "bool", "str", "choice", "path", "str_list", "int_list", "str_map", "float_map")

# Where a knob's declaration sits in its field's metadata.
META = "knob"


@dataclass(frozen=True)
class Knob:
    section: str
    key: str
    kind: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    # Values that mean "off"/"automatic" and are allowed outside [min, max] (e.g. max_steps = -1).
    sentinel: Any = None
    # For str / str_list knobs whose values reach a shell, a batch-script directive or an ssh
    # command line: the whole value (each item) must match, else the recipe is refused.
    pattern: Pattern | None = None
    # The methods (model.method) that read this knob; empty: every method. A sweep varies a knob only
    # in the runs of the methods that read it (workbench/recipe/sweep.py).
    methods: tuple[str, ...] = ()
    # The knob selects the data runs are judged on (the validation and test rows): the runs of one group
    # (a sweep, seeds, methods) are compared on them, so a sweep or a methods entry cannot vary it.
    judged_on: bool = False

    def used_by(self, method: str) -> bool:
        """Whether runs of `method` read this knob."""
        return not self.methods or method in self.methods

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}" if self.section else self.key

    def expected(self) -> str:
        """Human description of what the knob accepts, for error messages and docs."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind in ("int", "float"):
            lo = "-inf" if self.min is None else _fmt(self.min)
            hi = "inf" if self.max is None else _fmt(self.max)
            rng = f"{self.kind} in [{lo}, {hi}]"
            if self.sentinel is not None:
                rng += f" (or {self.sentinel} for off)"
            return rng
        if self.pattern is not None and self.kind in ("str", "str_list"):
            return ("a list of " if self.kind == "str_list" else "") + self.pattern.what
        return {
            "bool": "true or false",
            "str": "a string",
            "path": "a file path (string)",
            "str_list": "a list of strings",
            "int_list": "a list of integers",
            "str_map": "a table of string = string",
            "float_map": "a table of string = number" + "".join(f" or {c!r}" for c in self.choices),
        }[self.kind]


@dataclass(frozen=True)
class Pattern:
    regex: str
    what: str  # for messages: "a SLURM name (letters, digits, _ . - + @)"

    def fullmatch(self, value: str) -> bool:
        return re.fullmatch(self.regex, value) is not None


@dataclass(frozen=True)
class Declared:
    """A field's knob (section and key still empty: the dataclass and the field name give them) and
    how its checked flat value becomes the typed one (None: as it is)."""

    knob: Knob
    parse: Callable[[Any], Any] | None = None


def knob(kind: str, default: Any, help: str, *, min: float | None = None, max: float | None = None,
         choices: tuple[str, ...] = (), required: bool = False, sentinel: Any = None,
         pattern: Pattern | None = None, parse: Callable[[Any], Any] | None = None,
         judged_on: bool = False) -> Any:
    """A recipe section's field that is a knob. `default` is the flat (TOML) default; the field's own
    default is `parse(default)` where a parse is given (launch.target's text becomes a Target).
    `judged_on`: the knob selects the rows runs are scored on (Knob.judged_on). A section's `USED_BY`
    (the methods that read its knobs) becomes each of its knobs' `methods`.
    Typed Any so that `batch_size: int = knob("int", 8, ...)` reads as an int field to mypy."""
    assert kind in KINDS, kind
    declared = Declared(Knob("", "", kind, default, help, min, max, choices, required, sentinel, pattern,
                             judged_on=judged_on), parse)
    metadata = {META: declared}
    if isinstance(default, (list, dict)):
        return field(default_factory=functools.partial(copy.copy, default), metadata=metadata)
    return field(default=parse(default) if parse is not None else default, metadata=metadata)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)
