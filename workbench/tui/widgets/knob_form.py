"""Form fields generated from the recipe schema: one `KnobField` per `Knob`, its widget chosen
by the knob's kind, validated as it is typed (`schema.coerce(..., from_text=True)`), and marked
when its value differs from the baseline (the file on disk, or the recipe as loaded).

Kinds and widgets: int / float / str / path -> Input; str_list -> Input of comma-separated
items; str_map -> Input of `label=column, label2=column2`; choice -> Select; bool -> Switch.
A required knob (`required=True`) left empty is an error of its field; a check across knobs
(data.train_file, needed unless data.dataset is given) is set on a field by its form (`set_problem`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, cast

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingsMap
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.markup import escape
from textual.message import Message
from textual.widget import Widget
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
        # a str_map's value may hold commas (tune.space's "lora.r=4,8,16"): a part starts at a name=
        parts = re.split(r",(?=[^,=]*=)", text) if knob.kind == "str_map" else text.split(",")
        for part in (p.strip() for p in parts):
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


# Knobs required unless another is given: load_recipe's message (workbench/recipe/load.py, _check_cross_fields).
REQUIRED_UNLESS = {
    "data.train_file": "data.train_file is required (training data: a file, or a Hugging Face dataset in data.dataset)",
}


def required_message(knob: Knob) -> str:
    """What a required knob left empty says: one sentence (its help is shown above the field)."""
    return REQUIRED_UNLESS.get(knob.name) or f"{knob.name} is required (it cannot be empty)"


def is_empty(value: Any) -> bool:
    """Empty the way load_recipe checks a required knob: "", [] or {} (0 and false are values)."""
    return isinstance(value, (str, list, dict)) and not value


def same(a: Any, b: Any) -> bool:
    """Equal as recipe values (32 == 32.0, but True != 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


class TypedInput(Input):
    """An Input whose editing keys (ctrl+u, end, backspace, home, …) act the moment it reads them.

    Textual runs a widget's key bindings only once the key has bubbled up to the app, one widget
    at a time, while the characters typed next go straight to the Input: keys that arrive together
    (a busy machine, fast typing) were applied out of order, so `ctrl+u` then a path cut the path as
    well, `End` then text put the text before the end, and `backspace` then `8` on `0` left `0`."""

    _OWN_KEYS = BindingsMap(Input.BINDINGS)

    async def _on_key(self, event: events.Key) -> None:
        # Called before Input._on_key (Textual calls the handler of each class in the MRO), which the
        # key skips once handled here (prevent_default), as it skips the bubbling (stop).
        if event.is_printable:
            return
        for binding in self._OWN_KEYS.key_to_bindings.get(event.key, ()):
            if await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return


class FieldSelect(Select, inherit_bindings=False):
    """A Select in a form where up / down move from field to field (the editor's and the launch
    dialog's bindings): its list opens on enter or space only. Select's own up / down opened the list
    when the arrows passed over it, and escape then only closed that list: leaving took 2–3 presses."""

    BINDINGS = [Binding("enter,space", "show_overlay", "Show menu", show=False)]


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
        self.problem: str | None = None  # a check across knobs, set by the form (`set_problem`)
        self._shown_state: tuple[bool, str | None] | None = None
        self._value_widget: Widget | None = None

    # --- widgets ---------------------------------------------------------------------------
    def _widget(self):
        knob = self.knob
        tip = f"{knob.help}\nExpected: {knob.expected()}"
        if knob.kind == "bool":
            return Switch(value=bool(self.baseline), animate=False, id="value", tooltip=tip)
        if knob.kind == "choice":
            value = self.baseline if self.baseline in knob.choices else Select.NULL
            return FieldSelect([(c, c) for c in knob.choices], value=value, allow_blank=value is Select.NULL,
                          id="value", compact=True, tooltip=tip)
        placeholder = {"str_list": "item, item2", "int_list": "1, 2, 3", "str_map": "label=column, label2=column2",
                       "float_map": "name=0.1, name2=0.2"}.get(knob.kind, "")
        return TypedInput(self.baseline_text, placeholder=placeholder, id="value", compact=True, tooltip=tip,
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
        result = parse_field(self.knob, text)
        if self.knob.required and not result.error and is_empty(result.value):
            return Coerced(error=required_message(self.knob))
        return result

    @property
    def text(self) -> str:
        widget = self._value_widget or self.query_one("#value")
        if isinstance(widget, Switch):
            return "true" if widget.value else "false"
        if isinstance(widget, Select):
            return "" if widget.value is Select.NULL else str(widget.value)
        return cast(Input, widget).value

    @property
    def error(self) -> str | None:
        """What is wrong with the field: its own value, or a check across knobs (`problem`)."""
        return self.result.error or self.problem

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

    def set_problem(self, problem: str | None) -> None:
        """A check across knobs failed for this field (shown inline like a bad value), or passes again."""
        if problem != self.problem:
            self.problem = problem
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
            cast(Input, widget).value = text
        self.result = self._check(self._current_text())
        self._show()

    def _show(self) -> None:
        if not self.is_mounted:
            return
        changed, error = self.changed, self.error
        if (changed, error) == self._shown_state:
            return  # nothing to redraw (most key presses)
        self._shown_state = (changed, error)
        self.set_class(changed, "-changed")
        self.set_class(bool(error), "-invalid")
        self.query_one(".knob-label", Static).update(self._label_text())
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
