"""Chat JSONL files for SFT of a decoder, where the assistant's last answer is a class label.

One JSON object per line: ``{"messages": [{"role": ..., "content": ...}, ...], ...}``. The last
message is the assistant's answer, i.e. the gold label text; the label is read from it with the
same lenient `parse_label` that reads generated answers, so gold and predictions go through one
parser. Pure standard library: this runs in the CLI before any model loads, so every bad record
is one line naming the file, the line and what was expected.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from workbench.errors import UserError
from workbench.textfile import read_text_file

ROLES = ("system", "user", "assistant")


@dataclass
class ChatRecord:
    # {"role", "content"} dicts; the last one is the assistant's answer (the gold label text)
    messages: list[dict[str, str]]
    label: str | None  # parse_label(last assistant content, labels); None: no answer (predict input)
    group: str | None  # the first group field's value as written; None without one or when the record says "" / null
    line: int  # 1-based line in the file
    # each group field's groups (data.group_columns): a name, a list of names, or names split by
    # data.group_separator; trimmed, blanks and fairness.no_group_values left out
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def prompt(self) -> list[dict[str, str]]:
        """The messages the model answers: all but the assistant's answer, when there is one."""
        return self.messages[:-1] if self.label is not None else self.messages


def _norm(s: str) -> str:
    # casefold + "_" as a space + runs of whitespace as one space: "Not_Hate" and "not  hate" read alike
    return " ".join(s.casefold().replace("_", " ").split())


def parse_label(answer: str, labels: list[str]) -> str | None:
    """The label a (generated) answer names, or None when it names none of them.

    Generated answers are messy ("Hate.", " offensive language", "I think neither"), so matching is
    case-insensitive, ignores surrounding punctuation and quotes, and takes the label whose
    whole-word match comes earliest in the answer (an answer that starts with a label gives that
    label). Whole words, with "-" counted as part of a word, so "hateful" and "non-hate" do not
    read as "hate"; when two labels match at the same place ("hate" and "hate speech"), the longer
    wins. Never raises: an unparseable answer is None, which the metrics count as wrong.
    """
    if not isinstance(answer, str):
        return None
    text = _norm(answer)
    best: tuple[int, int, int] | None = None  # (position, -length, index in labels)
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            continue
        key = _norm(label)
        if not key:
            continue
        m = re.search(r"(?<![\w-])" + re.escape(key) + r"(?![\w-])", text)
        if m is None:
            continue
        cand = (m.start(), -len(key), i)
        if best is None or cand < best:
            best = cand
    return None if best is None else labels[best[2]]


def _record(obj, labels: list[str], groups_of: GroupFields, path, line: int, answered: bool = True) -> ChatRecord:
    def fail(msg: str):
        raise UserError(msg, path=path, line=line)

    if not isinstance(obj, dict):
        fail(f"expected a JSON object with a 'messages' list, got a JSON {type(obj).__name__}")
    messages = obj.get("messages")
    if not isinstance(messages, list):
        fail("no 'messages' list (expected {\"messages\": [{\"role\": ..., \"content\": ...}, ...]})")
    if not messages:
        fail("'messages' is empty; expected a user message and the assistant's answer")
    out: list[dict[str, str]] = []
    for k, m in enumerate(messages, 1):
        if not isinstance(m, dict):
            fail(f"message {k} is not an object; expected {{\"role\": ..., \"content\": ...}}")
        role, content = m.get("role"), m.get("content")
        if not isinstance(role, str):
            fail(f"message {k} has no string 'role' (expected one of {', '.join(ROLES)})")
        if not isinstance(content, str):
            fail(f"message {k} (role {role!r}) has no string 'content'")
        if role not in ROLES:
            fail(f"message {k} has unknown role {role!r} (expected one of {', '.join(ROLES)})")
        out.append({"role": role, "content": content})
    if not any(m["role"] == "user" for m in out):
        fail("no user message; expected at least one message with role 'user'")
    if not answered:
        if out[-1]["role"] == "assistant":
            fail("the last message is the assistant's answer, but the file's first record has none: give every "
                 "record its answer (to score them) or none (to label them)")
        label = None
    elif out[-1]["role"] != "assistant":
        fail(f"the last message is from {out[-1]['role']!r}; expected the assistant's answer (the label) last")
    else:
        label = parse_label(out[-1]["content"], labels)
    if answered and label is None:
        answer = out[-1]["content"]
        shown = answer if len(answer) <= 60 else answer[:57] + "..."
        fail(f"the assistant's answer {shown!r} names none of the labels (expected one of: {', '.join(labels)})")
    group, groups = None, {}
    for name in groups_of.fields:
        if not (answered or name in obj):  # unlabelled input needs no groups (no fairness)
            continue
        if name not in obj:
            fail(f"no group field {name!r} in the record; add it or change data.group_columns")
        g = obj[name]
        items = g if isinstance(g, list) else [] if g is None else [g]
        if not all(isinstance(i, str) for i in items):
            fail(f"group field {name!r} must be a string or a list of strings, got {json.dumps(g)[:40]}")
        if name == groups_of.fields[0] and isinstance(g, str):
            group = g or None
        groups[name] = groups_of.kept(items)
    return ChatRecord(out, label, group, line, groups)


@dataclass(frozen=True)
class GroupFields:
    """The record fields naming each record's groups (data.group_columns) and how they read."""
    fields: tuple[str, ...] = ()
    separator: str = ""                 # data.group_separator: several names in one string
    no_group: tuple[str, ...] = ()      # fairness.no_group_values, compared ignoring case

    @cached_property
    def _none(self) -> frozenset[str]:
        return frozenset(v.strip().lower() for v in self.no_group)

    def kept(self, items: list[str]) -> tuple[str, ...]:
        """The groups of a field's strings: split, trimmed, blanks and no-group values left out, each once."""
        names = (n.strip() for i in items for n in (i.split(self.separator) if self.separator else [i]))
        return tuple(dict.fromkeys(n for n in names if n and n.lower() not in self._none))


def read_chat_jsonl(path: str | Path, labels: list[str], *, groups: GroupFields = GroupFields(),
                    max_rows: int = 0, answers_optional: bool = False) -> list[ChatRecord]:
    """Read and validate a chat JSONL file; blank lines are skipped. `max_rows` > 0 stops after that many.
    `answers_optional` (predict input): records may end with the user's turn instead of the
    assistant's answer — all of them, as the first record does, or none."""
    if not labels:
        raise UserError("no labels given; expected the class names the answers use", path=path)
    text = read_text_file(path)
    records: list[ChatRecord] = []
    # split on "\n" only: JSON strings may hold a raw U+2028, which str.splitlines would break on
    for n, raw in enumerate(text.split("\n"), 1):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise UserError(f"not valid JSON ({e.msg} at column {e.colno}); expected one JSON object per line",
                            path=path, line=n) from None
        except RecursionError:
            raise UserError("JSON nested too deeply; expected one flat chat object per line", path=path, line=n) from None
        except ValueError as e:  # an integer of more digits than Python converts
            raise UserError(f"not valid JSON ({str(e).splitlines()[0]})", path=path, line=n) from None
        answered = True
        if answers_optional:
            answered = records[0].label is not None if records else _ends_with_answer(obj)
        records.append(_record(obj, labels, groups, path, n, answered))
        if max_rows and len(records) >= max_rows:
            break
    if not records:
        raise UserError("file is empty; expected one JSON object per line with a 'messages' list",
                        path=path, line=1)
    return records


def _ends_with_answer(obj) -> bool:
    messages = obj.get("messages") if isinstance(obj, dict) else None
    return bool(isinstance(messages, list) and messages and isinstance(messages[-1], dict)
                and messages[-1].get("role") == "assistant")
