"""The knob table and what is done with it.

Every knob is declared once, as a field of its section's dataclass (workbench/recipe/sections.py);
`KNOBS` is read off those declarations. From it come validation of TOML recipes
(`workbench.recipe.load`), `--set section.key=value` overrides, the TUI form fields, and the
reference table in docs/recipes.md (`workbench schema --markdown`). Never list fields anywhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from workbench.recipe.knob import KINDS, Knob, Pattern, _fmt
from workbench.recipe.sections import METHODS, declared_knobs

KNOBS: tuple[Knob, ...] = declared_knobs()

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(k.section for k in KNOBS if k.section))
BY_NAME: dict[str, Knob] = {k.name: k for k in KNOBS}


@dataclass
class Coerced:
    value: Any = None
    error: str | None = None


def coerce(knob: Knob, value: Any, *, from_text: bool = False) -> Coerced:
    """Check (and for --set text, parse) one value against its knob.

    Returns the typed value, or an error describing what was expected.
    """
    if from_text:
        parsed = _parse_text(knob, value)
        if parsed.error:
            return parsed
        value = parsed.value
    kind = knob.kind
    bad = Coerced(error=f"{knob.name} = {value!r} is not {knob.expected()}")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return bad
        return _in_range(knob, value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return bad
        return _in_range(knob, float(value))
    if kind == "bool":
        return Coerced(value) if isinstance(value, bool) else bad
    if kind in ("str", "path"):
        if not isinstance(value, str):
            return bad
        if knob.pattern is not None and not knob.pattern.fullmatch(value):
            return Coerced(error=f"{knob.name} = {value!r} is not {knob.expected()}")
        return Coerced(value)
    if kind == "choice":
        return Coerced(value) if isinstance(value, str) and value in knob.choices else bad
    if kind == "str_list":
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return bad
        pattern = knob.pattern
        wrong = [v for v in value if pattern is not None and not pattern.fullmatch(v)]
        if wrong and pattern is not None:
            return Coerced(error=f"{knob.name} item {wrong[0]!r} is not one of {pattern.what}")
        return Coerced(list(value))
    if kind == "int_list":
        if not (isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            return bad
        lo, hi = knob.min if knob.min is not None else 0, knob.max if knob.max is not None else float("inf")
        if len(set(value)) != len(value) or any(not lo <= v <= hi for v in value):
            return Coerced(error=f"{knob.name} = {value!r} is not a list of distinct integers in "
                                 f"[{_fmt(lo)}, {_fmt(hi) if hi != float('inf') else 'inf'}]")
        return Coerced(list(value))
    if kind == "str_map":
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return Coerced(dict(value))
        return bad
    if kind == "float_map":
        if isinstance(value, str) and value in knob.choices:  # a word standing for a computed table
            return Coerced({} if value == "none" else value)
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                                           and math.isfinite(v) for k, v in value.items()):
            out = {k: float(v) for k, v in value.items()}
            wrong = [k for k, v in out.items()
                     if (knob.min is not None and v < knob.min) or (knob.max is not None and v > knob.max)]
            if wrong:
                return Coerced(error=f"{knob.name}.{wrong[0]} = {out[wrong[0]]!r} is out of range "
                                     f"(expected numbers in [{'-inf' if knob.min is None else _fmt(knob.min)}, "
                                     f"{'inf' if knob.max is None else _fmt(knob.max)}])")
            return Coerced(out)
        return bad
    raise AssertionError(f"unknown knob kind {kind}")


def _in_range(knob: Knob, value: float) -> Coerced:
    if knob.sentinel is not None and value == knob.sentinel:
        return Coerced(value)
    if (knob.min is not None and value < knob.min) or (knob.max is not None and value > knob.max):
        return Coerced(error=f"{knob.name} = {value!r} is out of range (expected {knob.expected()})")
    return Coerced(value)


def _parse_text(knob: Knob, text: str) -> Coerced:
    """Parse the right-hand side of `--set section.key=VALUE` by the knob's kind."""
    import tomllib

    if knob.kind in ("str", "path", "choice"):
        # Plain text is taken literally; a TOML-quoted string is unquoted.
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            return _parse_toml_value(knob, text, tomllib)
        return Coerced(text)
    if knob.kind == "str_list" and not text.lstrip().startswith("["):
        return Coerced([t.strip() for t in text.split(",") if t.strip()])
    if knob.kind == "int_list" and not text.lstrip().startswith("["):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not all(t.lstrip("-").isdigit() for t in items):
            return Coerced(error=f"{knob.name} = {text!r} is not {knob.expected()}")
        return Coerced([int(t) for t in items])
    if knob.kind == "float_map" and text.strip().strip("\"'") in knob.choices:
        return Coerced(text.strip().strip("\"'"))
    if knob.kind == "bool" and text.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return Coerced(text.lower() in ("true", "yes", "on", "1"))
    return _parse_toml_value(knob, text, tomllib)


def _parse_toml_value(knob: Knob, text: str, tomllib) -> Coerced:
    try:
        return Coerced(tomllib.loads(f"v = {text}")["v"])
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):  # ValueError: an integer of > 4300 digits
        return Coerced(error=f"{knob.name} = {text[:40]!r}{'…' if len(text) > 40 else ''} is not {knob.expected()}")


def defaults() -> dict[str, Any]:
    """Flat {section.key: default} for every knob (lists and maps copied)."""
    out: dict[str, Any] = {}
    for k in KNOBS:
        d = k.default
        out[k.name] = list(d) if isinstance(d, list) else dict(d) if isinstance(d, dict) else d
    return out


def knobs_in(section: str) -> list[Knob]:
    return [k for k in KNOBS if k.section == section]


def markdown_table() -> str:
    """The recipe reference, generated from the declarations (docs/recipes.md embeds this)."""
    rows = ["| key | type / range | default | what it does |", "|---|---|---|---|"]
    for k in KNOBS:
        default = "(required)" if k.required else _toml_repr(k.default)
        rows.append(f"| `{k.name}` | {k.expected()} | `{default}` | {k.help} |")
    return "\n".join(rows)


def _toml_repr(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '""' if v == "" else f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(f'"{x}"' if isinstance(x, str) else repr(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f'{a} = "{b}"' if isinstance(b, str) else f"{a} = {b!r}" for a, b in v.items()) + "}"
    return repr(v)


__all__ = ["KINDS", "METHODS", "Knob", "Pattern", "KNOBS", "SECTIONS", "BY_NAME", "coerce", "defaults", "knobs_in",
           "markdown_table"]
