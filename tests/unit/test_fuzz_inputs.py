"""Property-based fuzzing of everything a user hands `workbench run` before any model loads:
recipe files, `--set` overrides, classification CSVs, chat JSONL, CoNLL and instruction JSON.

The contract (docs/commands.md, "Bad input is one line naming the file ..."): every input gives either a
valid result or a `UserError` whose message is ONE line that starts with the file it is about
(`PATH: ...` or `PATH:LINE: ...`), which the CLI prints as `error: ...` with exit status 2.
Any other exception would reach the user as a traceback, so it fails the test.

Known bugs. Each bug found by these properties is pinned by one small example in
`test_known_bug` (marked xfail(strict=True)), and the properties tolerate exactly that failure
shape (`KNOWN_BUGS`, recorded as a hypothesis `event`) so that they keep guarding everything
else. Fixing a bug makes its pinned example XPASS, which fails strictly: then remove the xfail
mark AND its `KNOWN_BUGS` entry, so the properties enforce the fix from then on.

All examples are derandomized (reproducible in CI) and sized to keep the file well under 25 s on
two cores.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from workbench.data.chat_jsonl import GroupFields, read_chat_jsonl
from workbench.data.labeled import LabelSpec, read_labeled
from workbench.data.ner import PROMPT, read_ner_file
from workbench.errors import UserError
from workbench.recipe import load_recipe, schema, write_frozen
from workbench.recipe.schema import BY_NAME, KNOBS, SECTIONS


def read_labeled_csv(path, text_column, labels, *, id_column="", **kw):
    """A CSV of 0/1 label columns, as the classification task reads it."""
    return read_labeled(str(path), LabelSpec(text_column, columns=dict(labels), id_column=id_column), **kw)


DEMO_DIR = ROOT / "recipes" / "demo"
DEMO_RECIPES = sorted(DEMO_DIR.glob("*.toml"))
CLASSES = ["hate", "offensive", "neither"]


def fuzz(n: int):
    """Hypothesis settings of this file: reproducible, no example database, no deadline (a shared
    2-core CI machine has slow moments), fresh file per example under a function-scoped tmp_path."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


# --- the contract -------------------------------------------------------------------------------

# Failure shapes of bugs pinned in test_known_bug below; the properties tolerate exactly these.
# Remove an entry when its bug is fixed (its pinned example then XPASSes strictly).
KNOWN_BUGS: dict[str, Callable[[BaseException], bool]] = {}


def _multiline(msg: str) -> bool:
    # str.splitlines: what a terminal (and tests/integration's one_error_line) would see as lines
    return "\n" in msg or "\r" in msg or len(msg.splitlines()) > 1


def _known(e: BaseException) -> str | None:
    for name, matches in KNOWN_BUGS.items():
        if matches(e):
            return name
    return None


def attempt(call: Callable[[], Any], path: Path, *, need_line: bool = False, text: str | None = None):
    """Run `call`; return its result, or None after checking the UserError it raised.

    The error must be one line starting with `PATH: ` or `PATH:LINE: ` (LINE required when
    `need_line`), and LINE must be a line of the file (or the one just past its end) when `text`
    is given. Any other exception fails the test, unless it is a known bug's shape.
    """
    try:
        return call()
    except UserError as e:
        bug = _known(e)
        if bug:
            event(f"known bug: {bug}")
            return None
        msg = str(e)
        assert not _multiline(msg), f"UserError is not one line: {msg!r}"
        m = re.match(re.escape(str(path)) + r"(?::(\d+))?: (.*)\Z", msg, re.DOTALL)
        assert m, f"UserError does not start with the file {str(path)!r}: {msg!r}"
        assert m.group(2).strip(), f"UserError says nothing after the file: {msg!r}"
        if need_line:
            assert m.group(1) is not None, f"UserError names no line: {msg!r}"
        if m.group(1) is not None:
            line = int(m.group(1))
            assert line >= 1, msg
            if text is not None:
                assert line <= _n_lines(text) + 1, f"line {line} is past the end of the file: {msg!r}"
        event("clean error")
        return None
    except Exception as e:
        bug = _known(e)
        if bug:
            event(f"known bug: {bug}")
            return None
        raise AssertionError(f"{type(e).__name__} escaped instead of a one-line UserError: {e}"[:2000]) from e


def _n_lines(text: str) -> int:
    """Lines of a text, any line ending counted (\\n, \\r\\n and a lone \\r, as the csv module does)."""
    return len(re.split(r"\r\n|\r|\n", text))


def _decoded(data: bytes) -> str | None:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


# --- strategies: TOML ---------------------------------------------------------------------------

KNOB_KEYS = sorted({k.key for k in KNOBS})
ODD_KEYS = ["rank", "lr", "trian", "a.b", '"quoted key"', '"a\\nb"', "model.source", "data.labels",
            "lora.r", "train.lr", "x-y", "_", "1", '""']
IDENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-.0123456789", min_size=1, max_size=10)
TOML_KEY = st.one_of(st.sampled_from(KNOB_KEYS), st.sampled_from(ODD_KEYS), IDENT,
                     st.text(max_size=8).map(lambda s: json.dumps(s, ensure_ascii=False)))
SECTION_HEADER = st.one_of(
    st.sampled_from([f"[{s}]" for s in SECTIONS]),
    st.sampled_from(["[trian]", "[model.source]", "[data.labels]", "[lora.x]", '["x\\ny"]', "[[data]]",
                     "[ model ]", "[]", "[model", "[data]]", "['train']", "[fairness.group_limits]"]),
    IDENT.map(lambda s: f"[{s}]"),
)
HUGE_INT = "9" * 4400
# Integers past Python's int-from-text limit (4300 digits), drawn as a compact strategy.
HUGE_DIGITS = st.integers(4301, 4400).map(lambda n: "9" * n)
TOML_ATOM = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.integers().map(str),
    st.floats().map(repr),  # inf, nan, 1e+300: TOML spellings too
    st.sampled_from([
        "0", "-1", "1", "16", "0.5", "1e99999", "inf", "-inf", "nan", "+0", "0x10", "0o7", "0b1", "1_000",
        "1.5", "-0.0", "1e-400", "true", "false", "True", "1979-05-27", "07:32:00",
        "1979-05-27T07:32:00Z", '""', "''", '"tiny:distilbert"', '"tiny:llama"', '"tiny:bert"', '"tiny:gpt9"',
        '"classification"', '"chat_classification"', '"ner"', '"lora"', '"full"', '"\\u0000"', '"a\\nb"',
        "'''multi\nline'''", '"unterminated', "[", "{", "= =", "[1, 2", '{ a = "b" }', "{ a = 1 }", "[[1]]",
        '["a", 1]', "[]", "{}", '["hate", "offensive"]', '["lora", "full"]', "[1, 1]", "[1, 2]", "[-1]",
        '"slurm"', '"ssh:-oProxyCommand=sh"', '"gpu; rm -rf ~"', '"04:00:00"', '"64G"', '"data/reviews.csv"',
        '"/nonexistent/x.csv"', '"~/x.csv"', '{ hate = "x" }', "{ women = 2.0 }", "{ women = 0.05 }",
    ]),
    st.text(max_size=16).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.text(max_size=16).map(json.dumps),
    HUGE_DIGITS, HUGE_DIGITS.map(lambda d: "-" + d),
)


def _toml_containers(children):
    pair = st.tuples(TOML_KEY, children).map(lambda kv: f"{kv[0]} = {kv[1]}")
    return st.one_of(
        st.lists(children, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(pair, max_size=3).map(lambda xs: "{ " + ", ".join(xs) + " }"),
    )


TOML_VALUE = st.recursive(TOML_ATOM, _toml_containers, max_leaves=6)
TOML_LINE = st.one_of(
    st.tuples(TOML_KEY, st.sampled_from([" = ", "=", " =", " = = ", " "]), TOML_VALUE).map("".join),
    SECTION_HEADER,
    st.sampled_from(["", "# comment", "   ", "\t", "\ufeff", "[[x]]\ny = 1"]),
    st.text(max_size=30),
)
TOML_TEXT = st.lists(TOML_LINE, max_size=20).map("\n".join)


def toml_value_for(knob: schema.Knob) -> st.SearchStrategy[str]:
    """A TOML value text for `knob`: mostly plausible for its kind (often valid), sometimes not."""
    kind = knob.kind
    lo = -10**6 if knob.min is None else int(knob.min) - 2
    hi = 10**9 if knob.max is None else int(min(knob.max, 10**12)) + 2
    strings = st.text(max_size=12).map(lambda s: json.dumps(s, ensure_ascii=False))
    per_kind = {
        "int": st.integers(lo, hi).map(str),
        "float": st.one_of(st.floats(lo, hi).map(repr), st.integers(lo, hi).map(str)),
        "bool": st.sampled_from(["true", "false"]),
        "str": strings,
        "path": strings,
        "choice": st.sampled_from(knob.choices or ("x",)).map(json.dumps),
        "str_list": st.lists(strings, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        "int_list": st.lists(st.integers(-2, 6).map(str), max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        "str_map": st.lists(st.tuples(IDENT, strings), max_size=3).map(
            lambda kv: "{ " + ", ".join(f'"{k}" = {v}' for k, v in kv) + " }"),
        "float_map": st.lists(st.tuples(IDENT, st.floats(-1, 2).map(repr)), max_size=3).map(
            lambda kv: "{ " + ", ".join(f'"{k}" = {v}' for k, v in kv) + " }"),
    }[kind]
    return st.one_of(per_kind, per_kind, TOML_VALUE)


# --- recipe files -------------------------------------------------------------------------------

def check_recipe(recipe, path: Path, tmp: Path) -> None:
    """What a returned Recipe promises: every knob, each value valid for it, and the frozen copy a
    run starts from loads back to the same values."""
    assert set(recipe.values) == set(BY_NAME)
    for name, value in recipe.values.items():
        got = schema.coerce(BY_NAME[name], value)
        assert got.error is None, f"Recipe holds an invalid value: {got.error}"
    assert recipe.name
    frozen = tmp / "frozen" / "recipe.toml"
    frozen.parent.mkdir(exist_ok=True)
    write_frozen(recipe, frozen, f"frozen from {path.name}")
    again = load_recipe(frozen)
    assert again.values == recipe.values, "the frozen recipe does not load back to the same values"


def load_and_check(path: Path, tmp: Path, overrides=()) -> None:
    text = _decoded(path.read_bytes())
    recipe = attempt(lambda: load_recipe(path, overrides), path, text=text)
    if recipe is not None:
        event("valid recipe")
        check_recipe(recipe, path, tmp)


@fuzz(200)
@given(text=st.one_of(TOML_TEXT, st.text(max_size=200)))
def test_fuzz_recipe_text(tmp_path, text):
    path = tmp_path / "fuzz.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    load_and_check(path, tmp_path)


@fuzz(60)
@given(data=st.binary(max_size=200))
def test_fuzz_recipe_bytes(tmp_path, data):
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    load_and_check(path, tmp_path)


_KV = re.compile(r"^(\s*)([A-Za-z0-9_.\-\"']+)(\s*=\s*)(.*)$")


def _mutate_recipe(draw, text: str) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "duplicate", "value", "value", "knob_value", "insert_key",
                                   "insert_line", "rename_section", "move"]))
        if not lines:
            lines.append("")
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
        elif op in ("value", "knob_value"):
            kv_lines = [j for j, ln in enumerate(lines) if _KV.match(ln)]
            if not kv_lines:
                continue
            j = draw(st.sampled_from(kv_lines))
            indent, key, eq, _ = _KV.match(lines[j]).groups()
            knob = _knob_for_line(lines, j, key)
            value = draw(toml_value_for(knob) if (op == "knob_value" and knob) else TOML_VALUE)
            lines[j] = f"{indent}{key}{eq}{value}"
        elif op == "insert_key":
            lines.insert(i, f"{draw(TOML_KEY)} = {draw(TOML_VALUE)}")
        elif op == "insert_line":
            lines.insert(i, draw(TOML_LINE))
        elif op == "rename_section":
            headers = [j for j, ln in enumerate(lines) if ln.startswith("[")]
            if headers:
                lines[draw(st.sampled_from(headers))] = draw(SECTION_HEADER)
        elif op == "move":
            lines.insert(draw(st.integers(0, len(lines))), lines.pop(i))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))


def _knob_for_line(lines: list[str], j: int, key: str) -> schema.Knob | None:
    section = ""
    for ln in lines[:j]:
        m = re.match(r"^\s*\[([A-Za-z0-9_.\-]+)\]", ln)
        if m:
            section = m.group(1)
    key = key.strip("\"'")
    return BY_NAME.get(f"{section}.{key}" if section else key) or BY_NAME.get(key)


@fuzz(200)
@given(data=st.data())
def test_fuzz_demo_recipe_mutations(tmp_path, data):
    demo = data.draw(st.sampled_from(DEMO_RECIPES), label="demo")
    text = _mutate_recipe(data.draw, demo.read_text(encoding="utf-8"))
    path = tmp_path / demo.name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    load_and_check(path, tmp_path)


def test_demo_recipes_load_unmutated(tmp_path):
    """The base of the mutations: every demo recipe is a valid recipe (and round-trips frozen)."""
    assert DEMO_RECIPES
    for demo in DEMO_RECIPES:
        check_recipe(load_recipe(demo), demo, tmp_path)


# --- --set overrides ----------------------------------------------------------------------------

def set_value_for(knob: schema.Knob) -> st.SearchStrategy[str]:
    """Text typed after `--set NAME=`: by the knob's kind, plus anything at all."""
    kind = knob.kind
    lo = -10**6 if knob.min is None else int(knob.min) - 2
    hi = 10**9 if knob.max is None else int(min(knob.max, 10**12)) + 2
    words = st.text(alphabet="abcxyz_-./: 019", max_size=10)
    per_kind = {
        "int": st.integers(lo, hi).map(str),
        "float": st.one_of(st.floats(lo, hi).map(repr), st.integers(lo, hi).map(str)),
        "bool": st.sampled_from(["true", "false", "yes", "no", "on", "off", "1", "0", "TRUE", "maybe"]),
        "str": words,
        "path": words,
        "choice": st.sampled_from(knob.choices or ("x",)),
        "str_list": st.lists(words, max_size=3).map(",".join),
        "int_list": st.lists(st.integers(-2, 6).map(str), max_size=3).map(",".join),
        "str_map": st.lists(st.tuples(IDENT, words), max_size=3).map(
            lambda kv: "{" + ", ".join(f'"{k}" = {json.dumps(v)}' for k, v in kv) + "}"),
        "float_map": st.lists(st.tuples(IDENT, st.floats(-1, 2).map(repr)), max_size=3).map(
            lambda kv: "{" + ", ".join(f'"{k}" = {v}' for k, v in kv) + "}"),
    }[kind]
    anything = st.one_of(
        st.text(max_size=16),
        TOML_VALUE,
        HUGE_DIGITS,
        st.sampled_from(["", " ", "=", "x=y", "[", "{", '"', "'", '"quoted"', "'single'", "[]", "{}", "a,b",
                         "1,1", "nan", "inf", "-inf", "1e999", "[1, 2]", '["a", 1]', "[[[[[[[[]]]]]]]]"]),
    )
    return st.one_of(per_kind, per_kind, anything)


KNOB_NAME = st.one_of(
    st.sampled_from([k.name for k in KNOBS]),
    st.sampled_from([k.name for k in KNOBS]).map(str.upper),
    st.sampled_from([k.key for k in KNOBS]),
    st.sampled_from(["lora.rank", "train.lr", "trian.epochs", "", " ", ".", "lora.", ".r", "a.b.c",
                     "lo\nra.r", "data.labels.x", "launch", "model"]),
    st.text(max_size=12),
)


@st.composite
def override(draw) -> str:
    name = draw(KNOB_NAME)
    knob = BY_NAME.get(name)
    value = draw(set_value_for(knob) if knob is not None else st.text(max_size=12))
    sep = draw(st.sampled_from(["=", "=", "=", " = ", "==", ""]))
    return f"{name}{sep}{value}"


@fuzz(250)
@given(overrides=st.lists(override(), min_size=1, max_size=3), base=st.sampled_from(DEMO_RECIPES))
def test_fuzz_set_overrides(tmp_path, overrides, base):
    load_and_check(base, tmp_path, overrides)


# --- classification CSV -------------------------------------------------------------------------

COLUMNS = ["text", "a", "b", "id", "", " text ", "A", "a,b", 'q"q', "text\n2"]
CELL = st.one_of(
    st.sampled_from(["0", "1", "2", " 1 ", "1.0", "0.0", "-0", "", " ", "yes", "true", "hello world", "text",
                     "a", "b", "x,y", 'say "hi"', "line\nbreak", "\r", "\ufeff", "\x00", "caf\u00e9", "\u2028"]),
    st.text(max_size=12),
)
LABEL_MAPS = st.sampled_from([{"a": "a", "b": "b"}, {"a": "a"}, {"label b": "b"}, {"x": "zz"}, {}])


def _csv_cell(draw, cell: str) -> str:
    quoting = draw(st.sampled_from(["auto", "auto", "always", "never", "broken"]))
    needs = any(c in cell for c in ',"\r\n')
    if quoting == "always" or (quoting == "auto" and needs):
        return '"' + cell.replace('"', '""') + '"'
    if quoting == "broken":
        return '"' + cell  # an unterminated or stray quote
    return cell


@st.composite
def csv_bytes(draw) -> bytes:
    header = draw(st.lists(st.one_of(st.sampled_from(COLUMNS), st.text(max_size=6)), min_size=0, max_size=5))
    if draw(st.booleans()):
        header = ["text", "a", "b"] + header[:1]
    width = len(header)
    rows = draw(st.lists(st.lists(CELL, min_size=max(0, width - 1), max_size=width + 1), max_size=6))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = [",".join(_csv_cell(draw, c) for c in row) for row in [header, *rows]]
    text = eol.join(lines) + draw(st.sampled_from([eol, "", eol + eol]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    data = text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "latin-1"])), "replace")
    for _ in range(draw(st.integers(0, 2))):  # byte-level damage: invalid UTF-8, NUL, cut
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xe2\x80", b'"', b"\n"])) + data[pos:]
    if draw(st.integers(0, 9)) == 0:
        data = data[:draw(st.integers(0, len(data)))]
    return data


@st.composite
def demo_csv_bytes(draw) -> bytes:
    """The first rows of the demo's reviews.csv (BOM, real header), damaged at the byte level."""
    data = bytearray(b"\n".join((DEMO_DIR / "data" / "reviews.csv").read_bytes().split(b"\n")[:8]) + b"\n")
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        pos = draw(st.integers(0, len(data) - 1))
        byte = draw(st.sampled_from([ord(c) for c in ',"\n\r0129 x'] + [0, 0xff, 0xc3]))
        if op == "insert":
            data.insert(pos, byte)
        elif op == "delete" and len(data) > 1:
            del data[pos]
        else:
            data[pos] = byte
    return bytes(data)


DEMO_CSV_LABELS = {"advertisement": "advertisement", "irrelevant_content": "relevance",
                   "non_visitor_rant": "rant", "toxicity": "toxicity"}


def check_csv(path: Path, data: bytes, labels: dict[str, str], require_labels: bool, max_rows: int,
              id_column: str) -> None:
    text = _decoded(data)
    table = attempt(lambda: read_labeled_csv(path, "text", labels, require_labels=require_labels,
                                             max_rows=max_rows, id_column=id_column),
                    path, need_line=text is not None, text=text)
    if table is None:
        return
    event("valid table")
    n = len(table.texts)
    assert n >= 1 and len(table.lines) == n
    assert not max_rows or n <= max_rows
    assert all(t.strip() for t in table.texts)
    assert table.lines == sorted(table.lines) and len(set(table.lines)) == n
    assert table.lines[0] >= 2 and table.lines[-1] <= _n_lines(text)
    assert table.label_names == list(labels)
    if table.labels is not None:
        assert len(table.labels) == n
        assert all(len(r) == len(labels) and set(r) <= {0, 1} for r in table.labels)
    else:
        assert not require_labels
    assert (table.ids is None) == (not id_column)
    if table.ids is not None:
        assert len(table.ids) == n


@fuzz(250)
@given(data=st.one_of(csv_bytes(), demo_csv_bytes(), st.binary(max_size=120)), labels=LABEL_MAPS,
       require_labels=st.booleans(), max_rows=st.sampled_from([0, 0, 1, 3]), id_column=st.sampled_from(["", "", "id"]))
def test_fuzz_csv(tmp_path, data, labels, require_labels, max_rows, id_column):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    if data.startswith(b"\xef\xbb\xbftext,advertisement") and labels == {"a": "a", "b": "b"}:
        labels = DEMO_CSV_LABELS
    check_csv(path, data, labels, require_labels, max_rows, id_column)


# --- chat JSONL ---------------------------------------------------------------------------------

JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=10), st.sampled_from(CLASSES + ["user", "assistant", "system", "group"]))
JSON_VALUE = st.recursive(JSON_SCALAR, lambda c: st.one_of(st.lists(c, max_size=3),
                                                           st.dictionaries(st.text(max_size=8), c, max_size=3)),
                          max_leaves=8)


def base_chat_record() -> dict:
    return {"messages": [{"role": "system", "content": "Classify the message as hate, offensive or neither."},
                         {"role": "user", "content": "gamers meetup at the arcade this weekend!"},
                         {"role": "assistant", "content": "neither"}],
            "group": "gamers"}


@st.composite
def chat_line(draw) -> str:
    kind = draw(st.sampled_from(["record", "record", "record", "json", "garbage", "blank", "fragment"]))
    if kind == "json":
        return json.dumps(draw(JSON_VALUE), ensure_ascii=draw(st.booleans()))
    if kind == "garbage":
        return draw(st.text(max_size=40)).replace("\n", " ")
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "\t", "\r"]))
    if kind == "fragment":
        return draw(st.sampled_from([
            '{"messages": ' + HUGE_INT + "}", "[" * 3000, "{" * 3000, '{"messages": NaN}', "NaN", "Infinity",
            '{"messages": [}', '{"a": 1} {"b": 2}', '{"messages": []}', '"\\ud800"', '{"messages": "x"}']))
    rec: Any = base_chat_record()
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["messages", "drop_message", "role", "content", "answer", "drop_group", "group",
                                   "extra", "top", "message_value"]))
        if not isinstance(rec, dict):
            break
        msgs = rec.get("messages")
        if op == "messages":
            rec["messages"] = draw(JSON_VALUE)
        elif op == "drop_message" and isinstance(msgs, list) and msgs:
            del msgs[draw(st.integers(0, len(msgs) - 1))]
        elif op in ("role", "content", "answer", "message_value") and isinstance(msgs, list) and msgs:
            k = len(msgs) - 1 if op == "answer" else draw(st.integers(0, len(msgs) - 1))
            if not isinstance(msgs[k], dict):
                continue
            if op == "role":
                msgs[k]["role"] = draw(st.one_of(st.sampled_from(["user", "assistant", "system", "tool", ""]),
                                                 JSON_VALUE))
            elif op == "content":
                msgs[k]["content"] = draw(JSON_VALUE)
            elif op == "answer":
                msgs[k]["content"] = draw(st.one_of(
                    st.sampled_from(["Hate.", " OFFENSIVE language", "I think neither", "non-hate", "hateful",
                                     "", "neither hate", "\u00a0hate\u00a0"]),
                    st.text(max_size=20)))
            else:
                msgs[k] = draw(JSON_VALUE)
        elif op == "drop_group":
            rec.pop("group", None)
        elif op == "group":
            rec["group"] = draw(JSON_VALUE)
        elif op == "extra":
            rec[draw(st.text(max_size=6))] = draw(JSON_VALUE)
        elif op == "top":
            rec = draw(JSON_VALUE)
    line = json.dumps(rec, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 7)) == 0:
        line = line[:draw(st.integers(0, len(line)))]  # a torn line
    return line


@st.composite
def valid_chat_line(draw) -> str:
    """A record the reader must accept: lenient answers, optional system message, group str / null / ""."""
    rec = base_chat_record()
    if draw(st.booleans()):
        del rec["messages"][0]
    rec["messages"][-2]["content"] = draw(st.text(max_size=20))
    rec["messages"][-1]["content"] = draw(st.sampled_from(
        ["hate", "Hate.", " OFFENSIVE language", "I think neither", "neither", "\"offensive\"", "Not_Hate hate"]))
    rec["group"] = draw(st.one_of(st.text(max_size=8), st.none()))
    return json.dumps(rec, ensure_ascii=draw(st.booleans()))


@st.composite
def jsonl_bytes(draw) -> bytes:
    if draw(st.booleans()):  # mostly valid: good records, blank lines, at most one damaged line
        lines = draw(st.lists(st.one_of(valid_chat_line(), valid_chat_line(), st.just("")), min_size=1, max_size=5))
        if draw(st.booleans()):
            lines.insert(draw(st.integers(0, len(lines))), draw(chat_line()))
    else:
        lines = draw(st.lists(chat_line(), max_size=6))
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["\n", ""]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\n"])) + data[pos:]
    return data


@fuzz(200)
@given(data=st.one_of(jsonl_bytes(), st.binary(max_size=80)), group_field=st.sampled_from(["group", "group", ""]),
       max_rows=st.sampled_from([0, 0, 2]))
def test_fuzz_chat_jsonl(tmp_path, data, group_field, max_rows):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(data)
    text = _decoded(data)
    fields = GroupFields((group_field,) if group_field else ())
    records = attempt(lambda: read_chat_jsonl(path, CLASSES, groups=fields, max_rows=max_rows),
                      path, need_line=True, text=text)
    if records is None:
        return
    event("valid records")
    assert records and (not max_rows or len(records) <= max_rows)
    n_lines = _n_lines(text)
    assert [r.line for r in records] == sorted({r.line for r in records})
    for r in records:
        assert r.label in CLASSES
        assert 1 <= r.line <= n_lines
        assert r.messages and r.messages[-1]["role"] == "assistant"
        assert all(isinstance(m["content"], str) for m in r.messages)
        assert r.group is None or (isinstance(r.group, str) and r.group)
        if not group_field:
            assert r.group is None


# --- NER: CoNLL and instruction JSON ------------------------------------------------------------

TAGS = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-", "B-", "X", "o", "B-PER-x", "E-PER", "S-LOC"]
TOKEN = st.one_of(st.sampled_from(["John", "Paris", "the", ".", "-DOCSTART-", "-X-", "NNP", "B-NP", "O"]),
                  st.text(alphabet=st.characters(blacklist_categories=("Zs", "Cc")), min_size=1, max_size=6))


@st.composite
def conll_line(draw) -> str:
    kind = draw(st.sampled_from(["token", "token", "token", "token", "blank", "docstart", "garbage"]))
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "\t", "\r"]))
    if kind == "docstart":
        return "-DOCSTART- -X- O O"
    if kind == "garbage":
        return draw(st.text(max_size=30)).replace("\n", " ")
    n = draw(st.sampled_from([2, 4, 4, 3, 1, 5]))
    fields = [draw(TOKEN) for _ in range(n - 1)] + [draw(st.one_of(st.sampled_from(TAGS), TOKEN))]
    return draw(st.sampled_from([" ", "\t", "  "])).join(fields)


@st.composite
def valid_conll_lines(draw) -> list[str]:
    """Sentences of one field count with O / B- / I- tags (IOB1 or IOB2), blank lines, -DOCSTART-."""
    n = draw(st.sampled_from([2, 4]))
    sep = draw(st.sampled_from([" ", "\t"]))
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        for _ in range(draw(st.integers(1, 4))):
            fields = [draw(TOKEN) for _ in range(n - 1)] + [draw(st.sampled_from(TAGS[:6]))]
            lines.append(sep.join(fields))
        lines.append(draw(st.sampled_from(["", "", "-DOCSTART- -X- O O" if n == 4 else ""])))
    return lines


@st.composite
def conll_bytes(draw) -> bytes:
    if draw(st.booleans()):
        lines = draw(valid_conll_lines())
        if draw(st.booleans()):
            lines.insert(draw(st.integers(0, len(lines))), draw(conll_line()))
    else:
        lines = draw(st.lists(conll_line(), max_size=12))
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    data = (draw(st.sampled_from(["", "\ufeff"])) + text).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 7)) == 0:
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + draw(st.sampled_from([b"\xff", b"\x00", b"\n"])) + data[pos:]
    return data


WORDS = st.lists(st.sampled_from(["John", "Smith", "lives", "in", "New", "York", "Paris", ".", "'", "ACME"]),
                 min_size=0, max_size=6)


@st.composite
def ner_record(draw) -> Any:
    kind = draw(st.sampled_from(["good", "good", "good", "json", "no_text"]))
    if kind == "json":
        return draw(JSON_VALUE)
    if kind == "no_text":
        return {"txt": "x"}
    words = draw(WORDS)
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        typ = draw(st.sampled_from(["PER", "LOC", "ORG", "per", "", "1X", "A B", "PER:"]))
        ents = draw(st.lists(st.one_of(st.sampled_from(words or ["x"]),
                                       st.sampled_from([" ".join(words[:2]), "Nowhere", ""])), max_size=2))
        parts.append(f"{typ}: {', '.join(ents)}" if draw(st.integers(0, 5)) else ", ".join(ents))
    response = draw(st.sampled_from(["; ", ";", "\n"])).join(parts)
    text = PROMPT.format(sentence=" ".join(words)) + response
    if draw(st.integers(0, 6)) == 0:
        text = draw(st.sampled_from([text.replace("### Response:\n", ""), text.replace("\n", "\r\n"),
                                     text[:draw(st.integers(0, len(text)))], "garbage"]))
    return {"text": text}


@st.composite
def valid_ner_record(draw) -> dict:
    """A record the reader must accept: each entity a distinct word of the sentence, of one type."""
    words = draw(WORDS.filter(bool))
    picked = draw(st.lists(st.sampled_from(words), unique=True, max_size=3))
    by_type: dict[str, list[str]] = {}
    for w in picked:
        by_type.setdefault(draw(st.sampled_from(["PER", "LOC", "ORG"])), []).append(w)
    response = "; ".join(f"{t}: {', '.join(ws)}" for t, ws in by_type.items())
    return {"text": PROMPT.format(sentence=" ".join(words)) + response}


@st.composite
def ner_json_bytes(draw) -> bytes:
    kind = draw(st.sampled_from(["valid", "records", "records", "records", "value", "fragment"]))
    if kind == "valid":
        text = json.dumps(draw(st.lists(valid_ner_record(), min_size=1, max_size=3)),
                          indent=draw(st.sampled_from([None, 2])))
    elif kind == "value":
        text = json.dumps(draw(JSON_VALUE))
    elif kind == "fragment":
        text = draw(st.sampled_from(["", "[]", "[", "{}", "[" * 3000 + "]" * 3000, "[" * 3000, "[" + HUGE_INT + "]",
                                     "[1, 2,]", "[NaN]", '[{"text": 1}]', "null", "\ufeff[]"]))
    else:
        records = draw(st.lists(ner_record(), max_size=4))
        text = json.dumps(records, indent=draw(st.sampled_from([None, 1, 2, "\t"])),
                          ensure_ascii=draw(st.booleans()))
        if draw(st.integers(0, 7)) == 0:
            text = text[:draw(st.integers(0, len(text)))]
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + b"\xff" + data[pos:]
    return data


def check_ner(path: Path, data: bytes, max_rows: int) -> None:
    text = _decoded(data)
    sentences = attempt(lambda: read_ner_file(path, max_rows=max_rows), path, need_line=text is not None, text=text)
    if sentences is None:
        return
    event("valid sentences")
    assert sentences and (not max_rows or len(sentences) <= max_rows)
    for s in sentences:
        assert s.tokens and len(s.tokens) == len(s.tags)
        assert 1 <= s.line <= _n_lines(text)
        prev = "O"
        for tag in s.tags:
            assert tag == "O" or re.fullmatch(r"[BI]-\S+", tag), tag
            if tag.startswith("I-"):
                assert prev != "O" and prev[2:] == tag[2:], f"not IOB2: {s.tags}"
            prev = tag


@fuzz(200)
@given(data=st.one_of(conll_bytes(), st.binary(max_size=60)), max_rows=st.sampled_from([0, 0, 1]))
def test_fuzz_conll(tmp_path, data, max_rows):
    path = tmp_path / "fuzz.txt"
    path.write_bytes(data)
    check_ner(path, data, max_rows)


@fuzz(200)
@given(data=ner_json_bytes(), max_rows=st.sampled_from([0, 0, 1]))
def test_fuzz_ner_instruction_json(tmp_path, data, max_rows):
    path = tmp_path / "fuzz.json"
    path.write_bytes(data)
    check_ner(path, data, max_rows)


# --- the bugs found, pinned ---------------------------------------------------------------------

def _demo_text() -> str:
    return (DEMO_DIR / "encoder_multilabel.toml").read_text(encoding="utf-8")


def bug_recipe_key_with_newline(tmp: Path):
    path = tmp / "r.toml"
    path.write_text(_demo_text() + '\n"a\\nb" = 1\n', encoding="utf-8")  # a quoted key holding a newline
    return path, lambda: load_recipe(path)


def bug_recipe_section_with_newline(tmp: Path):
    path = tmp / "r.toml"
    path.write_text(_demo_text() + '\n["x\\ny"]\nq = 1\n', encoding="utf-8")
    return path, lambda: load_recipe(path)


def bug_recipe_huge_integer(tmp: Path):
    path = tmp / "r.toml"
    path.write_text(_demo_text().replace("r = 16\n", f"r = {HUGE_INT}\n"), encoding="utf-8")
    return path, lambda: load_recipe(path)


def bug_set_huge_integer(tmp: Path):
    path = DEMO_DIR / "encoder_multilabel.toml"
    return path, lambda: load_recipe(path, [f"lora.r={HUGE_INT}"])


def bug_set_without_equals(tmp: Path):
    path = DEMO_DIR / "encoder_multilabel.toml"
    return path, lambda: load_recipe(path, ["lora.r"])


def bug_set_key_with_newline(tmp: Path):
    path = DEMO_DIR / "encoder_multilabel.toml"
    return path, lambda: load_recipe(path, ["lo\nra.r=4"])


def bug_csv_header_with_newline(tmp: Path):
    path = tmp / "d.csv"
    path.write_text('"te\nxt",a\nhello,1\n', encoding="utf-8")  # no 'text' column; a header name holds a newline
    return path, lambda: read_labeled_csv(path, "text", {"a": "a"})


def bug_csv_label_header_with_newline(tmp: Path):
    path = tmp / "d.csv"
    path.write_text('text,"a\nb"\nhello,1\n', encoding="utf-8")
    return path, lambda: read_labeled_csv(path, "text", {"a": "a"})


def bug_jsonl_huge_integer(tmp: Path):
    path = tmp / "d.jsonl"
    path.write_text('{"messages": ' + HUGE_INT + "}\n", encoding="utf-8")
    return path, lambda: read_chat_jsonl(path, CLASSES, groups=GroupFields(("group",)))


def bug_ner_json_huge_integer(tmp: Path):
    path = tmp / "d.json"
    path.write_text("[" + HUGE_INT + "]", encoding="utf-8")
    return path, lambda: read_ner_file(path)


def bug_ner_json_deep_nesting(tmp: Path):
    path = tmp / "d.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    return path, lambda: read_ner_file(path)


_PINNED = {
    bug_recipe_key_with_newline: "recipe: unknown quoted key holding a newline -> the 'one line' UserError has "
                                 "two lines (load.py puts the key into the message raw, not repr)",
    bug_recipe_section_with_newline: "recipe: unknown [section] name holding a newline -> multi-line UserError",
    bug_recipe_huge_integer: "recipe: an integer of > 4300 digits -> ValueError from tomllib escapes "
                             "(only TOMLDecodeError / RecursionError are caught)",
    bug_set_huge_integer: "--set lora.r=<4400 digits> -> ValueError escapes from schema._parse_toml_value",
    bug_set_without_equals: "--set lora.r (no '=') -> UserError without the recipe path "
                            "(_parse_override raises it without path=)",
    bug_set_key_with_newline: "--set with a newline in the key -> multi-line UserError",
    bug_csv_header_with_newline: "CSV: header names joined raw into 'no text column ... (columns: ...)' -> "
                                 "multi-line UserError",
    bug_csv_label_header_with_newline: "CSV: header names joined raw into 'no label column ... (columns: ...)'",
    bug_jsonl_huge_integer: "chat JSONL: an integer of > 4300 digits -> ValueError from json.loads escapes",
    bug_ner_json_huge_integer: "instruction JSON: an integer of > 4300 digits -> ValueError escapes",
    bug_ner_json_deep_nesting: "instruction JSON nested 100000 deep -> RecursionError escapes (chat JSONL "
                               "catches it, read_instruction_json does not)",
}


def assert_clean(call: Callable[[], Any], path: Path) -> None:
    """The strict contract, with no known-bug tolerance: a result, or a one-line UserError that starts
    with the file."""
    try:
        call()
    except UserError as e:
        msg = str(e)
        assert not _multiline(msg), f"not one line: {msg!r}"
        assert msg.startswith(f"{path}:"), f"does not start with {str(path)!r}: {msg!r}"


@pytest.mark.parametrize("make", [
    pytest.param(make, id=make.__name__[len("bug_"):]) for make in _PINNED
])
def test_once_found_bug_stays_fixed(tmp_path, make):
    path, call = make(tmp_path)
    assert_clean(call, path)


def test_known_bug_shapes_are_only_tolerated_where_pinned():
    """Every KNOWN_BUGS entry is a shape some pinned example shows (a stale entry would hide a fix)."""
    shapes = set()
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        for make in _PINNED:
            _path, call = make(Path(d))
            try:
                call()
            except BaseException as e:  # noqa: BLE001
                shapes.add(_known(e))
    assert set(KNOWN_BUGS) <= shapes, f"KNOWN_BUGS entries no pinned example shows: {set(KNOWN_BUGS) - shapes}"


@pytest.mark.parametrize("override", ["train.seed=4294967296", "seeds=[1, 4294967296]"])
def test_seed_past_numpy_range_is_refused_up_front(override):
    path = DEMO_DIR / "encoder_multilabel.toml"
    with pytest.raises(UserError) as exc:
        load_recipe(path, [override])
    msg = str(exc.value)
    assert msg.startswith(f"{path}: ") and not _multiline(msg) and "seed" in msg, msg
