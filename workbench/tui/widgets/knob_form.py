"""Form fields generated from the recipe schema: one `KnobField` per `Knob`, its widget chosen
by the knob's kind, validated as it is typed (`schema.coerce(..., from_text=True)`), and marked
when its value differs from the baseline (the file on disk, or the recipe as loaded).

Kinds and widgets: int / float / str / path -> Input; str_list -> Input of comma-separated
items; str_map -> Input of `label=column, label2=column2`; choice -> Select; bool -> Switch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.markup import escape
from textual.message import Message
from textual.widgets import Input, Label, Select, Static, Switch

from workbench.recipe import schema
from workbench.recipe.schema import Coerced, Knob


def value_text(knob: Knob, value: Any) -> str:
    """The text a field shows for a typed value (the inverse of `parse_field`)."""
    if knob.kind in ("str_list", "int_list") and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if knob.kind in ("str_map", "float_map") and isinstance(value, dict):
        return ", ".join(f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items())
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else str(value)


def toml_text(value: Any) -> str:
    """A value as TOML text, for `section.key=VALUE` overrides (what `--set` parses back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_text(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value), ensure_ascii=False)


def shown(knob: Knob, value: Any) -> str:
    """A value for a change summary: strings quoted, lists in [], tables in {}."""
    text = value_text(knob, value)
    if knob.kind in ("str", "path"):
        return f'"{text}"'
    if knob.kind in ("str_list", "int_list"):
        return f"[{text}]"
    if knob.kind in ("str_map", "float_map"):
        return "{" + text + "}"
    return text


def parse_field(knob: Knob, text: str) -> Coerced:
    """Check the text of a field against its knob: the typed value, or what was expected."""
    if knob.kind == "float_map" and text.strip() in knob.choices:
        return schema.coerce(knob, text.strip())
    if knob.kind in ("str_map", "float_map"):
        out: dict[str, Any] = {}
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            label, eq, column = part.partition("=")
            if not eq or not label.strip() or not column.strip():
                return Coerced(error=f"{knob.name}: {part!r} is not label=column "
                                     f"(expected {knob.expected()}, written label=column, label2=column2)")
            value = column.strip()
            if knob.kind == "float_map":
                try:
                    out[label.strip()] = float(value)
                except ValueError:
                    return Coerced(error=f"{knob.name}: {part!r} is not name=number (expected {knob.expected()})")
                continue
            out[label.strip()] = value
        return schema.coerce(knob, out)
    return schema.coerce(knob, text, from_text=True)


def same(a: Any, b: Any) -> bool:
    """Equal as recipe values (32 == 32.0, but True != 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


class KnobField(Vertical):
    """One knob: label (with a marker when changed), help and default, the input, the inline error."""

    class Edited(Message):
        """The field's value changed (typed, toggled or chosen)."""

        def __init__(self, field: KnobField) -> None:
            super().__init__()
            self.field = field

    def __init__(self, knob: Knob, value: Any = None, *, compact: bool = False, **kwargs) -> None:
        classes = " ".join(filter(None, [kwargs.pop("classes", ""), "knob-field", "-compact" if compact else ""]))
        super().__init__(id=kwargs.pop("id", "field-" + knob.name.replace(".", "-")), classes=classes, **kwargs)
        self.knob = knob
        self.compact = compact
        self.baseline: Any = knob.default if value is None else value
        self.baseline_text = value_text(knob, self.baseline)
        self.result: Coerced = self._check(self.baseline_text)
        self._shown_state: tuple[bool, str | None] | None = None
        self._value_widget = None

    # --- widgets ---------------------------------------------------------------------------
    def _widget(self):
        knob = self.knob
        tip = f"{knob.help}\nExpected: {knob.expected()}"
        if knob.kind == "bool":
            return Switch(value=bool(self.baseline), animate=False, id="value", tooltip=tip)
        if knob.kind == "choice":
            value = self.baseline if self.baseline in knob.choices else Select.NULL
            return Select([(c, c) for c in knob.choices], value=value, allow_blank=value is Select.NULL,
                          id="value", compact=True, tooltip=tip)
        placeholder = {"str_list": "item, item2", "int_list": "1, 2, 3", "str_map": "label=column, label2=column2",
                       "float_map": "name=0.1, name2=0.2"}.get(knob.kind, "")
        return Input(self.baseline_text, placeholder=placeholder, id="value", compact=True, tooltip=tip,
                     select_on_focus=False)

    def compose(self) -> ComposeResult:
        if self.compact:
            with Horizontal(classes="knob-row"):
                yield Label(self._label_text(), classes="knob-label")
                yield self._widget()
        else:
            # One Static for name, default and help: forms have ~65 fields, widgets cost.
            yield Static(self._label_text(), classes="knob-label")
            yield self._widget()
        yield Static("", classes="knob-error error-text")

    def on_mount(self) -> None:
        self._value_widget = self.query_one("#value")
        self._show()

    def _label_text(self) -> str:
        marker = "● " if self.changed else "  "
        if self.compact:
            return marker + self.knob.key
        knob = self.knob
        default = "(required)" if knob.required else (value_text(knob, knob.default) or '""')
        return (f"[b]{marker}{escape(knob.name)}[/b]  [dim]default {escape(default)}[/dim]\n"
                f"[dim]{escape(knob.help)}[/dim]")

    # --- state -----------------------------------------------------------------------------
    def _check(self, text: str) -> Coerced:
        return parse_field(self.knob, text)

    @property
    def text(self) -> str:
        widget = self._value_widget or self.query_one("#value")
        if isinstance(widget, Switch):
            return "true" if widget.value else "false"
        if isinstance(widget, Select):
            return "" if widget.value is Select.NULL else str(widget.value)
        return widget.value

    @property
    def error(self) -> str | None:
        return self.result.error

    @property
    def value(self) -> Any:
        return self.result.value

    @property
    def changed(self) -> bool:
        if self.result.error:
            return self._current_text() != self.baseline_text
        return not same(self.result.value, self.baseline)

    def _current_text(self) -> str:
        try:
            return self.text
        except NoMatches:  # not composed yet
            return self.baseline_text

    def set_baseline(self, value: Any, *, reset: bool = True) -> None:
        """A new reference value (the file was read or saved); `reset` also puts it in the widget."""
        self.baseline = value
        self.baseline_text = value_text(self.knob, value)
        if reset:
            self.set_text(self.baseline_text)
        self.result = self._check(self._current_text())
        self._show()

    def set_text(self, text: str) -> None:
        widget = self.query_one("#value")
        if isinstance(widget, Switch):
            widget.value = text.lower() in ("true", "1", "yes", "on")
        elif isinstance(widget, Select):
            if text in self.knob.choices:
                widget.value = text
            else:
                widget.clear()
        else:
            widget.value = text
        self.result = self._check(self._current_text())
        self._show()

    def _show(self) -> None:
        if not self.is_mounted:
            return
        changed, error = self.changed, self.result.error
        if (changed, error) == self._shown_state:
            return  # nothing to redraw (most key presses)
        self._shown_state = (changed, error)
        self.set_class(changed, "-changed")
        self.set_class(bool(error), "-invalid")
        self.query_one(".knob-label").update(self._label_text())
        err = self.query_one(".knob-error", Static)
        err.update(Text(error or ""))
        err.display = bool(error)

    @on(Input.Changed, "#value")
    @on(Select.Changed, "#value")
    @on(Switch.Changed, "#value")
    def _edited(self, event: Message) -> None:
        event.stop()
        self.result = self._check(self.text)
        self._show()
        self.post_message(self.Edited(self))

    def focus_input(self) -> None:
        self.query_one("#value").focus()


def fields_of(root) -> list[KnobField]:
    return list(root.query(KnobField))


def changes_of(fields: Iterable[KnobField]) -> dict[str, Any]:
    """{knob name: new typed value} of valid changed fields."""
    return {f.knob.name: f.value for f in fields if f.changed and not f.error}


def first_error(fields: Iterable[KnobField]) -> KnobField | None:
    return next((f for f in fields if f.error), None)


def summary_lines(fields: Iterable[KnobField]) -> list[str]:
    """`key: old → new` for every changed field (invalid ones show their text and `(invalid)`)."""
    out = []
    for f in fields:
        if not f.changed:
            continue
        new = f"{f.text!r} (invalid)" if f.error else shown(f.knob, f.value)
        out.append(f"{f.knob.name}: {shown(f.knob, f.baseline)} → {new}")
    return out
