"""NER data: CoNLL and instruction-JSON readers, the response text format and its parser,
entity metrics, and the synthetic demo data set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tools.synthetic.ner import (
    NAMES,
    TEMPLATES,
    conll_text,
    generate_splits,
    instruction_json_text,
    write_dataset,
)
from workbench.data.ner import (
    PROMPT,
    NerSentence,
    entities_to_bio,
    entity_types,
    parse_response,
    place_entities,
    prompt_for,
    read_conll,
    read_instruction_json,
    read_ner_file,
    response_for,
)
from workbench.errors import UserError
from workbench.metrics.entities import entity_report
from workbench.tasks.ner import score

DEMO_NER = ROOT / "recipes" / "demo" / "data" / "ner"
# ../shared beside the repository (see ../shared/datasets/README.md); the tests below skip without it
REAL_CONLL = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "conll2003" / "train.txt"
TYPES = ["LOC", "MISC", "ORG", "PER"]


def _error(fn, *args, **kw) -> UserError:
    with pytest.raises(UserError) as e:
        fn(*args, **kw)
    return e.value


# --------------------------------------------------------------------------- CoNLL


CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

Rome NNP B-NP I-LOC
Paris NNP I-NP B-LOC
Milan NNP I-NP I-LOC
New NNP B-NP I-LOC
York NNP I-NP I-ORG
"""


def test_read_conll_skips_docstart_converts_iob1_and_records_lines(write):
    path = write("train.txt", CONLL)
    sents = read_conll(path)
    assert [s.tokens for s in sents] == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn"],
        ["Rome", "Paris", "Milan", "New", "York"],
    ]
    assert sents[0].tags == ["B-ORG", "O", "B-MISC", "O", "O"]
    assert sents[1].tags == ["B-PER", "I-PER"]
    # IOB1 B-LOC between two LOC entities stays B; an I- of another type starts a new entity.
    assert sents[2].tags == ["B-LOC", "B-LOC", "I-LOC", "I-LOC", "B-ORG"]
    assert [s.line for s in sents] == [3, 9, 14]
    assert entity_types(sents) == ["LOC", "MISC", "ORG", "PER"]


def test_read_conll_two_columns_crlf_and_max_rows(write):
    path = write("two.conll", "John B-PER\r\nSmith I-PER\r\nsings O\r\n\r\nHi O\r\n\r\nBye O\r\n")
    sents = read_conll(path)
    assert [(s.tokens, s.tags, s.line) for s in sents] == [
        (["John", "Smith", "sings"], ["B-PER", "I-PER", "O"], 1), (["Hi"], ["O"], 5), (["Bye"], ["O"], 7)]
    assert len(read_conll(path, max_rows=2)) == 2
    assert read_ner_file(path, max_rows=1)[0].tokens == ["John", "Smith", "sings"]


@pytest.mark.parametrize("body, line, words", [
    ("EU NNP B-NP B-ORG\nrejects VBZ B-VP X-ORG\n", 2, "'X-ORG'"),
    ("EU NNP B-NP B-ORG\nrejects VBZ B-VP E-ORG\n", 2, "O, B-TYPE or I-TYPE"),
    ("EU NNP B-NP B-ORG\n\nrejects VBZ O\n", 3, "expected 4"),
    ("EU NNP B-NP B-ORG\nrejects VBZ B-VP O extra\n", 2, "got 5"),
    ("-DOCSTART- -X- -X- O\n\nlonely\n", 3, "got 1 field"),
    ("EU B-\n", 1, "'B-'"),
])
def test_read_conll_bad_line_names_file_and_line(write, body, line, words):
    path = write("bad.txt", body)
    err = _error(read_conll, path)
    assert err.path == path and err.line == line
    assert str(err).startswith(f"{path}:{line}: ") and words in str(err)
    assert "\n" not in str(err)


@pytest.mark.parametrize("body", ["", "\n\n", "-DOCSTART- -X- -X- O\n\n"])
def test_read_conll_without_sentences_is_an_error(write, body):
    path = write("empty.txt", body)
    err = _error(read_conll, path)
    assert str(err).startswith(f"{path}:1: no sentences")


def test_read_conll_missing_and_non_utf8_files(tmp_path, write):
    assert "not found" in str(_error(read_ner_file, tmp_path / "nope.txt"))
    path = write("latin1.txt", "Caf\xe9 B-LOC\n".encode("latin-1"))
    assert str(_error(read_conll, path)).startswith(f"{path}:1: not UTF-8")


# --------------------------------------------------------------------------- instruction JSON


def _record(sentence: str, response: str) -> dict:
    return {"text": PROMPT.format(sentence=sentence) + response}


def test_read_instruction_json_tags_and_record_lines(write):
    records = [
        _record("John Smith visited New York City and York .", "LOC: New York City, York; PER: John Smith"),
        _record("Nothing here .", ""),
        _record("O'Neill 's team won in Paris", "LOC: Paris; PER: O'Neill"),
    ]
    path = write("train.json", json.dumps(records, indent=2))
    sents = read_ner_file(path)
    assert sents[0].tokens == ["John", "Smith", "visited", "New", "York", "City", "and", "York", "."]
    assert sents[0].tags == ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O", "B-LOC", "O"]
    assert sents[1].tags == ["O", "O", "O"]
    assert sents[2].tags == ["B-PER", "O", "O", "O", "O", "B-LOC"]
    assert [s.line for s in sents] == [2, 5, 8]
    assert len(read_instruction_json(path, max_rows=2)) == 2


def test_read_instruction_json_compact_lines(write):
    first, second = json.dumps(_record("A b", "")["text"]), json.dumps(_record("Rome c", "LOC: Rome")["text"])
    text = f'[{{"text": {first}}},\n\n  {{"text": {second}}}]'
    sents = read_instruction_json(write("c.json", text))
    assert [s.line for s in sents] == [1, 3]
    assert sents[1].tags == ["B-LOC", "O"]


@pytest.mark.parametrize("payload, line, words", [
    ('{"text": "x"}', 1, "expected a JSON list"),
    ('[\n {"text": "x"},\n', 3, "invalid JSON"),
    ('[\n {"tex": "x"}\n]', 2, "record 0: expected an object with a \"text\" field"),
    ('[\n "just a string"\n]', 2, "record 0"),
    ('[\n {"text": 5}\n]', 2, "must be a string"),
    ("[]", 1, "no records"),
])
def test_read_instruction_json_bad_structure(write, payload, line, words):
    path = write("bad.json", payload)
    err = _error(read_instruction_json, path)
    assert err.line == line and str(err).startswith(f"{path}:{line}: ") and words in str(err)


@pytest.mark.parametrize("text, words", [
    ("Extract entities: Paris\n### Response:\nLOC: Paris", "must be"),
    (PROMPT.format(sentence="Paris is nice") + "Paris", "'Paris' is not 'TYPE: entity, entity'"),
    (PROMPT.format(sentence="Paris is nice") + "LOC: Rome", "LOC entity 'Rome' is not in the sentence"),
    (PROMPT.format(sentence="Paris is nice") + "LOC: Paris; PER: Paris", "inside another entity"),
    (PROMPT.format(sentence="   ") + "", "empty sentence"),
])
def test_read_instruction_json_bad_record_names_line_and_index(write, text, words):
    good = _record("Rome is old", "LOC: Rome")
    path = write("bad.json", json.dumps([good, good, {"text": text}], indent=1))
    err = _error(read_instruction_json, path)
    assert err.line == 8, str(err)
    assert str(err).startswith(f"{path}:8: record 2: ") and words in str(err)


# --------------------------------------------------------------------------- text format


def test_prompt_and_response_for():
    tokens = ["John", "Smith", "met", "Mary", "in", "Paris", ",", "Rome", "and", "Paris", "."]
    tags = ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC", "O", "B-LOC", "O", "B-LOC", "O"]
    assert prompt_for(tokens) == ("### Instruction:\nExtract named entities from the sentence: "
                                  "'John Smith met Mary in Paris , Rome and Paris .'\n\n### Response:\n")
    assert response_for(tokens, tags) == "LOC: Paris, Rome; PER: John Smith, Mary"
    assert response_for(tokens, ["O"] * len(tokens)) == ""


def test_parse_response_cuts_generation_and_matches_types_case_insensitively():
    got = parse_response("  loc: Paris ,Rome; per: John  Smith</s>ORG: Acme\n", TYPES)
    assert got.entities == {"LOC": ["Paris", "Rome"], "PER": ["John Smith"]} and not got.malformed
    got = parse_response("LOC: Paris\n\n### Instruction:\nExtract ... PER: Bob", TYPES)
    assert got.entities == {"LOC": ["Paris"]} and not got.malformed
    got = parse_response("LOC: Paris\nPER: Bob;", TYPES)
    assert got.entities == {"LOC": ["Paris"], "PER": ["Bob"]} and not got.malformed
    for empty in ("", "   \n", "</s>", "### Response:\nLOC: Paris"):
        assert parse_response(empty, TYPES).entities == {} and not parse_response(empty, TYPES).malformed


@pytest.mark.parametrize("text, entities", [
    ("Paris", {}),
    ("LOC: Paris; Rome", {"LOC": ["Paris"]}),
    ("LOC: Paris; DATE: Monday", {"LOC": ["Paris"]}),
    ("The entities are: none", {}),
    (": Paris; PER: Bob, Bob", {"PER": ["Bob"]}),
])
def test_parse_response_malformed_keeps_the_parsable_parts(text, entities):
    got = parse_response(text, TYPES)
    assert got.malformed and got.entities == entities


def test_parse_response_counts_entities_of_unknown_types():
    got = parse_response("LOC: Paris; DATE: Monday, May 1; Note: none; Rome", TYPES)
    assert got.entities == {"LOC": ["Paris"]} and got.malformed
    assert got.unknown_type == 3  # Monday, May 1 and "none": a part without a "TYPE:" prefix names no entity
    assert parse_response("LOC: Paris", TYPES).unknown_type == 0


def test_entities_to_bio_longest_first_every_occurrence_never_overwrites():
    tokens = ["York", "and", "New", "York", "City", "and", "York"]
    tags = entities_to_bio(tokens, {"LOC": ["York", "New York City"], "ORG": ["City and York"], "PER": ["Nobody"]})
    assert tags == ["B-LOC", "O", "B-LOC", "I-LOC", "I-LOC", "O", "B-LOC"]
    # partial overlap: "City and York" cannot be placed over the tagged "City"; entities of equal length keep order
    assert entities_to_bio(["A", "B"], {"PER": ["A B"], "ORG": ["A B"]}) == ["B-PER", "I-PER"]
    assert entities_to_bio(["A", "A"], {"PER": ["A"]}) == ["B-PER", "B-PER"]
    assert entities_to_bio([], {"PER": ["A"]}) == []


def test_place_entities_names_what_tags_no_token():
    """Not in the sentence, or only where a longer (or earlier) entity already took the tokens."""
    tokens = ["New", "York", "and", "Paris"]
    tags, unplaced = place_entities(tokens, {"LOC": ["New York", "Paris", "Atlantis"], "ORG": ["York", "Paris"]})
    assert tags == ["B-LOC", "I-LOC", "O", "B-LOC"]
    assert unplaced == {"LOC": ["Atlantis"], "ORG": ["York", "Paris"]}
    assert place_entities(tokens, {"LOC": ["Paris"]}) == (["O", "O", "O", "B-LOC"], {})


def _demo(split: str) -> list[NerSentence]:
    return read_ner_file(DEMO_NER / f"{split}.txt")


def test_round_trip_reproduces_gold_tags_on_every_demo_sentence():
    for split in ("train", "valid", "test"):
        sents = _demo(split)
        types = entity_types(sents)
        assert types == TYPES
        for s in sents:
            answer = parse_response(response_for(s.tokens, s.tags), types)
            assert not answer.malformed
            assert entities_to_bio(s.tokens, answer.entities) == s.tags, (split, s.line)


# --------------------------------------------------------------------------- metrics


def test_entity_report_one_of_two_entities_right():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "O"]]
    per_type, agg, text = entity_report(gold, pred)
    assert set(per_type) == {"LOC", "ORG", "PER"}
    assert per_type["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1.0, "invented_rate": 0.0}
    assert per_type["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1.0, "invented_rate": 0.0}
    assert per_type["ORG"]["support"] == 0.0 and per_type["ORG"]["precision"] == 0.0
    assert agg["recall_micro"] == pytest.approx(0.5)
    assert agg["precision_micro"] == pytest.approx(0.5)
    assert agg["f1_micro"] == pytest.approx(0.5)
    assert agg["f1_macro"] == pytest.approx(1 / 3)
    assert agg["f1_weighted"] == pytest.approx(0.5)  # (1 * 1.0 + 1 * 0.0 + 0 * 0.0) / 2
    assert agg["examples"] == 2.0
    assert "0.5000" in text and "PER" in text


def test_entity_report_strict_boundaries_and_no_entities():
    # a truncated span is wrong in strict mode
    per_type, agg, _ = entity_report([["B-PER", "I-PER"]], [["B-PER", "O"]])
    assert per_type["PER"]["f1"] == 0.0 and agg["f1_micro"] == 0.0
    per_type, agg, text = entity_report([["O", "O"]], [["O", "O"]])
    assert per_type == {} and agg["f1_micro"] == 0.0 and agg["examples"] == 1.0 and text
    with pytest.raises(ValueError):
        entity_report([["O"]], [["O", "O"]])


def test_invented_entities_are_false_positives_of_their_type():
    """Entities the answer names that are not in the sentence lower their type's precision (and the
    micro / macro / weighted figures built on it) by exactly what counting them as false positives gives."""
    records = [NerSentence("John Smith flew to Paris .".split(), ["B-PER", "I-PER", "O", "O", "B-LOC", "O"], 1),
               NerSentence("Acme hired Bob .".split(), ["B-ORG", "O", "B-PER", "O"], 8)]
    answers = ["PER: John Smith; LOC: Paris, Atlantis", "ORG: Acme; PER: Bob, Alice; FOO: Bar"]
    got = score(records, answers, TYPES)
    # every entity of the sentences found; Atlantis (LOC) and Alice (PER) invented; FOO is no type of the run
    loc, per, org = got.labels["LOC"], got.labels["PER"], got.labels["ORG"]
    assert loc["precision"] == pytest.approx(1 / 2) and loc["recall"] == 1.0 and loc["f1"] == pytest.approx(2 / 3)
    assert per["precision"] == pytest.approx(2 / 3) and per["recall"] == 1.0 and per["f1"] == pytest.approx(0.8)
    assert org["precision"] == 1.0 and org["f1"] == 1.0
    assert (loc["invented_rate"], per["invented_rate"], org["invented_rate"]) == pytest.approx((1 / 2, 1 / 3, 0.0))
    assert [loc["support"], per["support"], org["support"]] == [1.0, 2.0, 1.0]  # gold entities, unchanged
    agg = got.aggregates
    assert agg["precision_micro"] == pytest.approx(4 / 6) and agg["recall_micro"] == 1.0
    assert agg["f1_micro"] == pytest.approx(0.8)
    assert agg["precision_macro"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert agg["f1_macro"] == pytest.approx((2 / 3 + 0.8 + 1) / 3)
    assert agg["f1_weighted"] == pytest.approx((2 / 3 * 1 + 0.8 * 2 + 1 * 1) / 4)
    assert agg["invented"] == 2.0 and agg["invented_rate"] == pytest.approx(2 / 6)
    assert agg["invented_unknown_type"] == 1.0 and agg["malformed"] == 1.0
    assert [r["invented"] for r in got.rows] == [{"LOC": ["Atlantis"]}, {"PER": ["Alice"]}]
    assert got.rows[0]["tags"] == ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]  # the sentence's tags only
    assert "0.5000" in got.report and "0.6667" in got.report  # seqeval's report counts them too


def test_an_answer_that_only_invents_scores_zero_precision():
    records = [NerSentence(["It", "rains", "."], ["O", "O", "O"], 1)]
    got = score(records, ["PER: Alice"], TYPES)
    assert got.labels["PER"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0.0, "invented_rate": 1.0}
    assert got.aggregates["precision_micro"] == 0.0 and got.aggregates["invented"] == 1.0
    got = score(records, [""], TYPES)
    assert got.labels == {} and got.aggregates["invented"] == 0.0 and got.aggregates["invented_rate"] == 0.0
    unlabelled = [NerSentence(["It", "rains", "."], None, 1)]  # predict input: counted, nothing scored
    assert score(unlabelled, ["PER: Alice, It"], TYPES).aggregates["invented"] == 1.0


# --------------------------------------------------------------------------- property


_TAGS = st.sampled_from(["O", "B-A", "I-A", "B-B", "I-B"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.lists(st.tuples(_TAGS, _TAGS), max_size=6), st.lists(st.sampled_from("AB"), max_size=3)),
                min_size=1, max_size=4))
def test_invented_entities_add_to_seqeval_counts_of_the_found_ones(sentences):
    """Per type: precision = tp / (predicted + invented), recall = tp / gold, with seqeval's strict counts
    of the tagged entities; micro precision from the totals."""
    from seqeval.scheme import IOB2, Entities

    gold = [_iob2([g for g, _ in pairs]) for pairs, _ in sentences]
    pred = [_iob2([p for _, p in pairs]) for pairs, _ in sentences]
    invented = [list(extra) for _, extra in sentences]
    per_type, agg, _ = entity_report(gold, pred, invented)
    true, found = Entities(gold, IOB2), Entities(pred, IOB2)
    totals = [0, 0, 0]
    for typ in "AB":
        tp = len(true.filter(typ) & found.filter(typ))
        n_pred = len(found.filter(typ)) + sum(e.count(typ) for e in invented)
        totals = [totals[0] + tp, totals[1] + n_pred, totals[2] + len(true.filter(typ))]
        if typ in per_type:
            assert per_type[typ]["precision"] == pytest.approx(tp / n_pred if n_pred else 0.0)
            assert per_type[typ]["support"] == len(true.filter(typ))
        else:
            assert n_pred == 0 and not true.filter(typ)
    assert agg["precision_micro"] == pytest.approx(totals[0] / totals[1] if totals[1] else 0.0)
    assert agg["recall_micro"] == pytest.approx(totals[0] / totals[2] if totals[2] else 0.0)
    assert agg["invented"] == sum(map(len, invented))


def _iob2(tags: list[str]) -> list[str]:
    """Valid IOB2 (an I- that continues nothing of its type begins the entity), as scoring gets it."""
    out: list[str] = []
    for tag in tags:
        if tag.startswith("I-") and (not out or out[-1] == "O" or out[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


@settings(max_examples=300, deadline=None)
@given(st.text(), st.lists(st.text(max_size=8), max_size=5))
def test_parse_response_never_raises(text, types):
    got = parse_response(text, types)
    assert isinstance(got.malformed, bool)
    for typ, names in got.entities.items():
        assert typ in types and names and all(n and n == n.strip() for n in names)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ABab ;:,\n#</s>", max_size=40))
def test_parse_response_on_format_like_text(text):
    got = parse_response(text, ["A", "B"])
    tags = entities_to_bio(["A", "b", "B", "a", "A"], got.entities)
    assert len(tags) == 5


# --------------------------------------------------------------------------- synthetic data


def test_synthetic_names_have_one_type_and_sentences_fit():
    tokens = [t for names in NAMES.values() for n in names for t in n.split()]
    assert len(tokens) == len(set(tokens)), "a token shared by two names"
    template_words = {w for t in TEMPLATES for w in t.split()} | {t.split()[0].capitalize() for t in TEMPLATES}
    assert not set(tokens) & template_words
    assert all(30 <= len(v) <= 50 for v in NAMES.values()) and len(TEMPLATES) >= 35
    splits = generate_splits(60, 10, 10, seed=1)
    assert [len(v) for v in splits.values()] == [60, 10, 10]
    assert all(5 <= len(t) <= 14 and len(t) == len(g) for rows in splits.values() for t, g in rows)
    assert generate_splits(60, 10, 10, seed=1) == splits != generate_splits(60, 10, 10, seed=2)


def test_demo_files_match_the_generator(tmp_path):
    counts = write_dataset(tmp_path, json_path=tmp_path / "train_instructions.json", json_rows=200)
    assert counts == {"train": 600, "valid": 80, "test": 80, "json": 200}
    for name in ("train.txt", "valid.txt", "test.txt", "train_instructions.json"):
        assert (DEMO_NER / name).read_bytes() == (tmp_path / name).read_bytes(), (
            f"{name} is stale: python tools/prepare.py")


def test_demo_splits_reuse_training_names_and_json_matches_conll():
    train = _demo("train")
    train_sentences = {" ".join(s.tokens) for s in train}

    def names(sents):
        return {" ".join(s.tokens[i:j]) for s in sents for i, j in _spans(s.tags)}

    for split in ("valid", "test"):
        sents = _demo(split)
        assert names(sents) <= names(train)
        with_entities = [s for s in sents if set(s.tags) != {"O"}]
        assert len(with_entities) >= 0.7 * len(sents)
        assert not [s for s in with_entities if " ".join(s.tokens) in train_sentences]
    js = read_ner_file(DEMO_NER / "train_instructions.json")
    assert [(s.tokens, s.tags) for s in js] == [(s.tokens, s.tags) for s in train[:200]]
    assert js[1].line == 5


def _spans(tags):
    out = []
    for i, t in enumerate(tags):
        if t.startswith("B-"):
            j = i + 1
            while j < len(tags) and tags[j] == "I-" + t[2:]:
                j += 1
            out.append((i, j))
    return out


def test_conll_and_json_text_read_back(write):
    rows = generate_splits(20, 0, 0, seed=5)["train"]
    conll = read_conll(write("s.txt", conll_text(rows)))
    js = read_instruction_json(write("s.json", instruction_json_text(rows)))
    assert [(s.tokens, s.tags) for s in conll] == [(s.tokens, s.tags) for s in js] == [(t, g) for t, g in rows]


# --------------------------------------------------------------------------- the real CoNLL-2003


@pytest.mark.skipif(not REAL_CONLL.exists(), reason=f"{REAL_CONLL} not present on this machine")
def test_real_conll2003_reads():
    sents = read_conll(REAL_CONLL, max_rows=200)
    assert len(sents) == 200
    assert sents[0].tokens[:3] == ["EU", "rejects", "German"] and sents[0].tags[:3] == ["B-ORG", "O", "B-MISC"]
    assert sents[0].line == 3
    assert entity_types(sents) == TYPES
    for s in sents:
        assert len(s.tokens) == len(s.tags)
        assert not any(t.startswith("I-") and (i == 0 or s.tags[i - 1][2:] != t[2:]) for i, t in enumerate(s.tags))


@pytest.mark.skipif(not REAL_CONLL.exists(), reason=f"{REAL_CONLL} not present on this machine")
def test_real_conll2003_round_trip_is_nearly_exact():
    # Known losses: entities holding "," ("Goldman , Sachs") and one string with two types in a sentence.
    sents = read_conll(REAL_CONLL)
    assert len(sents) > 10_000
    lost = [s for s in sents
            if entities_to_bio(s.tokens, parse_response(response_for(s.tokens, s.tags), TYPES).entities) != s.tags]
    assert len(lost) < 0.005 * len(sents)


def test_tokens_only_conll_is_predict_input(tmp_path):
    from workbench.data.ner import read_conll

    f = tmp_path / "s.txt"
    f.write_text("-DOCSTART-\n\nEU\nrejects\nGerman\n\nPeter\n")
    sents = read_conll(f, tags_optional=True)
    assert [(s.tokens, s.tags, s.line) for s in sents] == [(["EU", "rejects", "German"], None, 3), (["Peter"], None, 7)]
    with pytest.raises(UserError, match="2 to 4 whitespace-separated"):
        read_conll(f)  # training data must have tags
    f.write_text("EU\nrejects O\n")
    with pytest.raises(UserError, match=r":2: expected 1 whitespace-separated"):
        read_conll(f, tags_optional=True)


def test_unlabelled_sentences_get_entities_and_tags_but_no_scores():
    from workbench.data.ner import NerSentence
    from workbench.tasks.ner import pairs, score

    sents = [NerSentence(["EU", "rejects", "German", "call"], None, 1), NerSentence(["Peter"], None, 6)]
    assert [a for _, a in pairs(sents)] == ["", ""]
    scored = score(sents, ["ORG: EU; MISC: German", "PER Peter"], ["MISC", "ORG", "PER"])
    assert scored.labels == {} and scored.extra == {"scored": False}
    assert scored.aggregates == {"examples": 2.0, "malformed": 1.0, "invented": 0.0}
    assert scored.rows[0]["tags"] == ["B-ORG", "O", "B-MISC", "O"] and "gold" not in scored.rows[0]
    assert scored.rows[0]["predicted"] == {"ORG": ["EU"], "MISC": ["German"]}
