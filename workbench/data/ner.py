"""NER data for instruction SFT of a decoder: CoNLL files, instruction JSON, and the text format
that links them.

The model is trained to answer a fixed prompt with "LOC: Paris, Rome; PER: John Smith" and is
scored on BIO tags rebuilt from that answer, so one module owns the whole round trip:
gold tags -> response text (`response_for`), generated text -> entities (`parse_response`),
entities -> tags (`place_entities`: the tags, and the entities named that tag no token). Pure
standard library: it runs in the CLI before any model loads, and every bad line is reported as
one line naming the file and the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import UserError
from workbench.textfile import read_text_file

PROMPT = "### Instruction:\nExtract named entities from the sentence: '{sentence}'\n\n### Response:\n"

# Generation often runs past the answer: cut at the first of these (or at a new "### " section).
END_MARKERS = ("</s>", "<|endoftext|>", "<|end_of_text|>", "<|eot_id|>", "<|im_end|>", "<|end|>",
               "<end_of_turn>", "<eos>")

_TAG = re.compile(r"(?:O|[BI]-\S+)\Z")
_TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*\Z")
_PROMPT_HEAD, _PROMPT_TAIL = PROMPT.split("{sentence}")
_CONLL_FIELDS = (2, 3, 4)


@dataclass
class NerSentence:
    tokens: list[str]
    tags: list[str] | None  # IOB2 gold tags, len == len(tokens); None: unlabelled (predict input)
    line: int  # 1-based line (CoNLL) or record start line (JSON) in its file


@dataclass
class ParsedAnswer:
    entities: dict[str, list[str]]  # type (spelled as in `types`) -> entity strings, in answer order, no duplicates
    malformed: bool  # some part could not be parsed; the parsable parts are still in `entities`
    unknown_type: int = 0  # entities named under a type not in `types` (their parts make the answer malformed)


# --------------------------------------------------------------------------- reading files


def read_ner_file(path: str | Path, *, max_rows: int = 0, tags_optional: bool = False) -> list[NerSentence]:
    """A `.json` file is instruction JSON; anything else is read as CoNLL. `tags_optional`
    (predict input): CoNLL may also hold tokens only, one per line, giving unlabelled sentences."""
    if Path(path).suffix.lower() == ".json":
        return read_instruction_json(path, max_rows=max_rows)
    return read_conll(path, max_rows=max_rows, tags_optional=tags_optional)


def read_conll(path: str | Path, *, max_rows: int = 0, tags_optional: bool = False) -> list[NerSentence]:
    """CoNLL-2003 style: `token POS chunk NER` per line (or `token TAG`; the NER tag is the last
    column), a blank line between sentences, `-DOCSTART-` lines skipped.

    IOB1 tags (CoNLL-2003's original scheme) are converted to IOB2, so every entity starts with B-.
    Every token line must have as many fields as the file's first one.
    """
    text = read_text_file(path)
    sentences: list[NerSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    n_fields = 0

    def flush() -> None:
        nonlocal tokens, tags
        if tokens:
            sentences.append(NerSentence(tokens, _iob1_to_iob2(tags) if n_fields > 1 else None, start))
        tokens, tags = [], []

    for lineno, raw in enumerate(text.split("\n"), 1):
        fields = raw.split()
        if not fields or fields[0] == "-DOCSTART-":
            flush()
        else:
            if not n_fields:
                if len(fields) == 1 and tags_optional:
                    n_fields = 1  # tokens only: sentences to tag
                elif len(fields) not in _CONLL_FIELDS:
                    raise UserError(f"expected 'token POS chunk NER' or 'token TAG' (2 to 4 whitespace-separated "
                                    f"fields), got {len(fields)} field(s)", path=path, line=lineno)
                n_fields = len(fields)
            elif len(fields) != n_fields:
                raise UserError(f"expected {n_fields} whitespace-separated fields like the file's first token line, "
                                f"got {len(fields)}", path=path, line=lineno)
            tag = fields[-1]
            if n_fields > 1 and not _TAG.match(tag):
                raise UserError(f"NER tag {tag!r} (last column) must be O, B-TYPE or I-TYPE", path=path, line=lineno)
            if not tokens:
                start = lineno
            tokens.append(fields[0])
            tags.append(tag)
        if max_rows and len(sentences) >= max_rows:
            break
    flush()
    if max_rows:
        del sentences[max_rows:]
    if not sentences:
        raise UserError("no sentences: expected lines 'token POS chunk NER' (or 'token TAG') with a blank line "
                        "between sentences", path=path, line=1)
    return sentences


def _iob1_to_iob2(tags: list[str]) -> list[str]:
    """An I-X that does not continue an X entity starts one (IOB1 -> IOB2); IOB2 input is unchanged."""
    out: list[str] = []
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


def read_instruction_json(path: str | Path, *, max_rows: int = 0) -> list[NerSentence]:
    """A JSON list of `{"text": PROMPT + response}` records (the format of instruction-tuned NER
    data sets). Tokens are the sentence split on whitespace; gold tags come from the response."""
    text = read_text_file(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"invalid JSON: {e.msg} (column {e.colno})", path=path, line=e.lineno) from None
    except RecursionError:
        raise UserError("invalid JSON: nested too deeply; expected a list of {\"text\": ...} records", path=path,
                        line=1) from None
    except ValueError as e:  # an integer of more digits than Python converts
        raise UserError(f"invalid JSON: {str(e).splitlines()[0]}", path=path, line=1) from None
    if not isinstance(data, list):
        raise UserError(f"expected a JSON list of {{\"text\": ...}} records, got a {type(data).__name__}",
                        path=path, line=1)
    starts = _list_item_lines(text)
    sentences: list[NerSentence] = []
    for i, record in enumerate(data):
        line = starts[i]
        where = f"record {i}"
        if not isinstance(record, dict) or "text" not in record:
            raise UserError(f"{where}: expected an object with a \"text\" field", path=path, line=line)
        if not isinstance(record["text"], str):
            raise UserError(f"{where}: \"text\" must be a string", path=path, line=line)
        sentence, response = _split_prompt(record["text"])
        if sentence is None:
            raise UserError(f"{where}: \"text\" must be {PROMPT.format(sentence='<sentence>')!r} followed by "
                            "the response", path=path, line=line)
        tokens = sentence.split()
        if not tokens:
            raise UserError(f"{where}: empty sentence", path=path, line=line)
        parts = _parse_parts(response)
        entities: dict[str, list[str]] = {}
        for part in parts:
            if part.type is None or not _TYPE_NAME.match(part.type):
                raise UserError(f"{where}: response part {part.text!r} is not 'TYPE: entity, entity'",
                                path=path, line=line)
            bucket = entities.setdefault(part.type, [])
            bucket.extend(e for e in part.entities if e not in bucket)
        tags, placed = _place(tokens, entities)
        for typ, names in entities.items():
            for name in names:
                if (typ, name) not in placed:
                    found = _find(tokens, name.split()) is not None
                    why = "is inside another entity wherever it occurs" if found else "is not in the sentence"
                    raise UserError(f"{where}: {typ} entity {name!r} {why}", path=path, line=line)
        sentences.append(NerSentence(tokens, tags, line))
        if max_rows and len(sentences) >= max_rows:
            break
    if not sentences:
        raise UserError("no records: expected a JSON list of {\"text\": ...} records", path=path, line=1)
    return sentences


def _list_item_lines(text: str) -> list[int]:
    """1-based line where each item of the top-level JSON list starts (the text is valid JSON)."""
    decoder = json.JSONDecoder()

    def skip_space(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\n\r":
            pos += 1
        return pos

    pos = skip_space(0) + 1  # past "["
    lines: list[int] = []
    line, counted = 1, 0
    while True:
        pos = skip_space(pos)
        if text[pos] == "]":
            return lines
        line += text.count("\n", counted, pos)
        counted = pos
        lines.append(line)
        _, pos = decoder.raw_decode(text, pos)
        pos = skip_space(pos)
        if text[pos] == ",":
            pos += 1


def _split_prompt(text: str) -> tuple[str | None, str]:
    """(sentence, response) from PROMPT + response; (None, "") when the text is not in that form."""
    text = text.replace("\r\n", "\n")
    if not text.startswith(_PROMPT_HEAD):
        return None, ""
    end = text.find(_PROMPT_TAIL, len(_PROMPT_HEAD))
    if end < 0:
        bare = _PROMPT_TAIL.rstrip("\n")  # an empty response may come without the last newline
        if not text.endswith(bare):
            return None, ""
        return text[len(_PROMPT_HEAD):-len(bare)], ""
    return text[len(_PROMPT_HEAD):end], text[end + len(_PROMPT_TAIL):]


# --------------------------------------------------------------------------- the text format


def entity_types(sentences: list[NerSentence]) -> list[str]:
    """Sorted entity types seen in the gold tags."""
    return sorted({tag[2:] for s in sentences for tag in s.tags or () if tag != "O"})


def prompt_for(tokens: list[str], instruction: str = "", types: Sequence[str] = ()) -> str:
    """The prompt of one sentence: PROMPT, or data.instruction_template with {sentence} and
    {entity_types} (comma-separated) filled in."""
    return (instruction or PROMPT).format(sentence=" ".join(tokens), entity_types=", ".join(types))


def check_instruction(template: str) -> None:
    """ValueError unless `template` uses {sentence} and no field but {sentence} and {entity_types}."""
    import string

    names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    unknown = sorted(names - {"sentence", "entity_types"})
    if unknown:
        raise ValueError(f"unknown field {{{unknown[0]}}}; the fields are {{sentence}} and {{entity_types}}")
    if "sentence" not in names:
        raise ValueError("needs {sentence}, where the sentence goes")


def response_for(tokens: list[str], tags: list[str]) -> str:
    """"LOC: Paris, Rome; PER: John Smith": types alphabetical, entities in order of appearance,
    each listed once; "" when the sentence has no entity."""
    by_type: dict[str, list[str]] = {}
    for typ, begin, end in _spans(tags):
        name = " ".join(tokens[begin:end])
        names = by_type.setdefault(typ, [])
        if name not in names:
            names.append(name)
    return "; ".join(f"{typ}: {', '.join(by_type[typ])}" for typ in sorted(by_type))


def entity_mentions(tags: list[str]) -> list[str]:
    """The type of each entity mention in IOB2 tags, in order (a stray I-X starts one)."""
    return [typ for typ, _, _ in _spans(tags)]


def _spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, begin, end) of each entity in IOB2 tags (a stray I-X starts an entity)."""
    spans: list[tuple[str, int, int]] = []
    for i, tag in enumerate(tags):
        if tag == "O":
            continue
        typ = tag[2:]
        if tag.startswith("I-") and spans and spans[-1][0] == typ and spans[-1][2] == i:
            spans[-1] = (typ, spans[-1][1], i + 1)
        else:
            spans.append((typ, i, i + 1))
    return spans


@dataclass
class _Part:
    text: str
    type: str | None  # None: no "TYPE:" prefix
    entities: list[str]


def _parse_parts(body: str) -> list[_Part]:
    """Split a response on ";" (and newlines) into "TYPE: a, b" parts; empty parts are dropped."""
    parts: list[_Part] = []
    for chunk in re.split(r"[;\n]", body):
        chunk = chunk.strip()
        if not chunk:
            continue
        typ, colon, rest = chunk.partition(":")
        if not colon or not typ.strip():
            parts.append(_Part(chunk, None, []))
            continue
        names = [" ".join(n.split()) for n in rest.split(",")]
        parts.append(_Part(chunk, typ.strip(), [n for n in names if n]))
    return parts


def parse_response(text: str, types: list[str]) -> ParsedAnswer:
    """Entities from a generated answer, tolerant of what models add around it.

    Cut at an end-of-text marker or at the first line that starts a new "### " section, then read
    "TYPE: a, b; TYPE: c". Types match `types` case-insensitively. A part without a "TYPE:" prefix
    or with an unknown type makes the answer malformed (the entities of an unknown type are counted
    in `unknown_type`); the other parts are kept. Never raises.
    """
    cut = len(text)
    for marker in END_MARKERS:
        at = text.find(marker)
        if 0 <= at < cut:
            cut = at
    lines: list[str] = []
    for line in text[:cut].splitlines():
        if line.lstrip().startswith("### "):
            break
        lines.append(line)
    canonical = {t.lower(): t for t in reversed(types)}  # first spelling wins on case clashes
    entities: dict[str, list[str]] = {}
    malformed = False
    unknown: set[tuple[str, str]] = set()  # (type as lowered, entity)
    for part in _parse_parts("\n".join(lines)):
        typ = canonical.get(part.type.lower()) if part.type is not None else None
        if typ is None:
            malformed = True
            if part.type is not None:
                unknown.update((part.type.lower(), n) for n in part.entities)
            continue
        names = entities.setdefault(typ, [])
        names.extend(n for n in part.entities if n not in names)
    return ParsedAnswer({t: names for t, names in entities.items() if names}, malformed, len(unknown))


def place_entities(tokens: list[str], entities: dict[str, list[str]]) -> tuple[list[str], dict[str, list[str]]]:
    """(IOB2 tags, the entities that tag no token: {type: names}, in answer order).

    Every occurrence of each entity's token sequence is tagged, longer entities first, never over a
    token already tagged (so "New York City" wins over "York"). An entity tags no token when it is
    not in the sentence or only where another entity of the answer took the tokens: scoring counts
    those as invented (a false positive of their type, tasks/ner.py), since the tags cannot hold them.
    """
    tags, placed = _place(tokens, entities)
    unplaced: dict[str, list[str]] = {}
    for typ, names in entities.items():
        for name in names:
            if name.split() and (typ, name) not in placed and name not in unplaced.get(typ, ()):
                unplaced.setdefault(typ, []).append(name)
    return tags, unplaced


def entities_to_bio(tokens: list[str], entities: dict[str, list[str]]) -> list[str]:
    """The IOB2 tags of `place_entities`; the entities that tag no token are left out."""
    return place_entities(tokens, entities)[0]


def _place(tokens: list[str], entities: dict[str, list[str]]) -> tuple[list[str], set[tuple[str, str]]]:
    """(tags, the (type, entity) pairs tagged at least once)."""
    wanted: list[tuple[str, str, list[str]]] = []
    seen: set[tuple[str, str]] = set()
    for typ, names in entities.items():
        for name in names:
            words = name.split()
            if words and (typ, name) not in seen:
                seen.add((typ, name))
                wanted.append((typ, name, words))
    wanted.sort(key=lambda w: -len(w[2]))  # stable: equal lengths keep answer order
    tags = ["O"] * len(tokens)
    placed: set[tuple[str, str]] = set()
    for typ, name, words in wanted:
        n = len(words)
        i = 0
        while i + n <= len(tokens):
            if tokens[i:i + n] == words and all(t == "O" for t in tags[i:i + n]):
                tags[i] = "B-" + typ
                for j in range(i + 1, i + n):
                    tags[j] = "I-" + typ
                placed.add((typ, name))
                i += n
            else:
                i += 1
    return tags, placed


def _find(tokens: list[str], words: list[str]) -> int | None:
    n = len(words)
    for i in range(len(tokens) - n + 1):
        if tokens[i:i + n] == words:
            return i
    return None
