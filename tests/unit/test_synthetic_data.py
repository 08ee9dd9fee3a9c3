"""The synthetic product (multi-label) and sentiment (binary) generators and their shipped demo files."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tools.synthetic import products as products
from tools.synthetic import sentiment as sentiment
from workbench.data.labeled import LabelSpec, read_labeled


def read_labeled_csv(path, text_column, labels, *, id_column="", **kw):
    """A CSV of 0/1 label columns, as the classification task reads it."""
    return read_labeled(str(path), LabelSpec(text_column, columns=dict(labels), id_column=id_column), **kw)


PRODUCTS_DIR = ROOT / "recipes" / "demo" / "data" / "products"
SENTIMENT_DIR = ROOT / "recipes" / "demo" / "data" / "sentiment"
PRODUCT_SPLITS = {"train": 500, "validation": 100, "test": 100}
SENTIMENT_SPLITS = {"train": 800, "validation": 200}
CATS = ["electronics", "home_kitchen", "sports_outdoors", "toys_games", "beauty"]
# function words the cue phrases of several categories / polarities may share
_FUNCTION_WORDS = {"a", "an", "and", "for", "the", "your", "with", "of", "to", "on", "in", "from", "all", "'s"}


def _cli(module: str, out: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", f"tools.synthetic.{module}", str(out), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9&'-]+", text.lower())


def _phrase_tokens(phrases) -> set[str]:
    return {t for p in phrases for t in _tokens(p)} - _FUNCTION_WORDS


# --------------------------------------------------------------------------- both generators


@pytest.mark.parametrize("module, names", [("products", list(PRODUCT_SPLITS)),
                                           ("sentiment", list(SENTIMENT_SPLITS))])
def test_generator_is_deterministic_and_seeded(tmp_path, module, names):
    _cli(module, tmp_path / "a")
    _cli(module, tmp_path / "b")
    _cli(module, tmp_path / "c", "--seed", "99")
    for name in names:
        a = (tmp_path / "a" / f"{name}.csv").read_bytes()
        assert a == (tmp_path / "b" / f"{name}.csv").read_bytes()
        assert a != (tmp_path / "c" / f"{name}.csv").read_bytes()
        # UTF-8 without a BOM, "\n" line ends
        assert not a.startswith(b"\xef\xbb\xbf") and b"\r" not in a and a.endswith(b"\n")
        a.decode("utf-8")


@pytest.mark.parametrize("module, demo_dir, names", [
    ("products", PRODUCTS_DIR, list(PRODUCT_SPLITS)),
    ("sentiment", SENTIMENT_DIR, list(SENTIMENT_SPLITS)),
])
def test_demo_files_are_what_the_generator_writes(tmp_path, module, demo_dir, names):
    _cli(module, tmp_path)
    for name in names:
        assert (demo_dir / f"{name}.csv").read_bytes() == (tmp_path / f"{name}.csv").read_bytes(), (
            f"{demo_dir.name}/{name}.csv is stale: python tools/prepare.py")


def test_cli_sizes(tmp_path):
    _cli("products", tmp_path / "p", "--train", "7", "--validation", "2", "--test", "3", "--seed", "5")
    assert {s: len(_rows(tmp_path / "p" / f"{s}.csv")) for s in PRODUCT_SPLITS} == {
        "train": 7, "validation": 2, "test": 3}
    _cli("sentiment", tmp_path / "s", "--train", "9", "--validation", "4", "--seed", "5")
    assert {s: len(_rows(tmp_path / "s" / f"{s}.csv")) for s in SENTIMENT_SPLITS} == {"train": 9, "validation": 4}


def test_negative_sizes_are_refused(tmp_path):
    for module in ("products", "sentiment"):
        proc = subprocess.run([sys.executable, "-m", f"tools.synthetic.{module}", str(tmp_path), "--train", "-1"],
                              capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
        assert proc.returncode == 2 and "--train must be >= 0" in proc.stderr
    with pytest.raises(ValueError):
        products.generate_products(-1)
    with pytest.raises(ValueError):
        sentiment.generate_sentences(-1)


# --------------------------------------------------------------------------- products


def test_product_demo_rows_have_one_or_two_categories_and_every_category_in_every_split():
    assert products.CATEGORIES == CATS and products.COLUMNS == ["id", "text", *CATS]
    ids, texts = [], []
    for split, n in PRODUCT_SPLITS.items():
        rows = _rows(PRODUCTS_DIR / f"{split}.csv")
        assert len(rows) == n and list(rows[0]) == products.COLUMNS
        for r in rows:
            assert all(r[c] in ("0", "1") for c in CATS)
            assert 1 <= sum(int(r[c]) for c in CATS) <= 2, r
            assert 8 <= len(r["text"].split()) <= 25, r["text"]
            assert re.fullmatch(r"P\d{6}", r["id"])
        for c in CATS:
            assert sum(int(r[c]) for r in rows) >= 5, f"{c} is (almost) missing from {split}"
        assert any(sum(int(r[c]) for c in CATS) == 2 for r in rows)
        ids += [r["id"] for r in rows]
        texts += [r["text"] for r in rows]
    assert ids == [f"P{i:06d}" for i in range(1, 701)]
    assert len(set(texts)) == len(texts), "a product text repeats"


def test_product_cue_words_are_owned_by_one_category():
    owned = {c: _phrase_tokens(p for part in products.CUES[c].values() for p in part) for c in CATS}
    filler = _phrase_tokens(p for part in products.FILLER.values() for p in part)
    for i, a in enumerate(CATS):
        assert 15 <= len(products.CUES[a]["noun"]) + len(products.CUES[a]["adj"]) <= 40
        assert not owned[a] & filler, (a, owned[a] & filler)
        for b in CATS[i + 1:]:
            assert not owned[a] & owned[b], (a, b, owned[a] & owned[b])


def test_product_categories_are_decidable_from_cue_words():
    owned = {c: _phrase_tokens(p for part in products.CUES[c].values() for p in part) for c in CATS}
    for split in PRODUCT_SPLITS:
        for r in _rows(PRODUCTS_DIR / f"{split}.csv"):
            toks = set(_tokens(r["text"]))
            assert {c for c in CATS if toks & owned[c]} == {c for c in CATS if r[c] == "1"}, r


def test_product_files_load_with_the_project_reader():
    for split, n in PRODUCT_SPLITS.items():
        table = read_labeled_csv(PRODUCTS_DIR / f"{split}.csv", "text", {c: c for c in CATS}, id_column="id")
        assert len(table) == n and table.label_names == CATS
        assert table.ids is not None and table.ids[0].startswith("P")
        assert all(1 <= sum(row) <= 2 for row in table.labels)


def test_generate_products_in_process_matches_seed():
    a = products.generate_products(40, seed=3)
    assert a == products.generate_products(40, seed=3) != products.generate_products(40, seed=4)
    assert products.products_to_csv_text(a).splitlines()[0] == ",".join(products.COLUMNS)


# --------------------------------------------------------------------------- sentiment


def test_sentiment_demo_is_balanced_lowercased_and_short():
    sentences = []
    for split, n in SENTIMENT_SPLITS.items():
        rows = _rows(SENTIMENT_DIR / f"{split}.csv")
        assert len(rows) == n and list(rows[0]) == sentiment.COLUMNS == ["sentence", "label"]
        assert {r["label"] for r in rows} == {"0", "1"}
        share = sum(r["label"] == "1" for r in rows) / n
        assert 0.4 <= share <= 0.6, (split, share)
        for r in rows:
            s = r["sentence"]
            assert s == s.lower() and 5 <= len(s.split()) <= 20, s
        sentences += [r["sentence"] for r in rows]
    assert len(set(sentences)) == len(sentences), "a sentence repeats"
    assert any(" n't " in s or " not " in s or " never " in s for s in sentences)


def test_sentiment_is_decidable_from_cues_and_negations():
    pos = _phrase_tokens(sentiment.POSITIVE["adj"] + sentiment.POSITIVE["phrase"])
    neg = _phrase_tokens(sentiment.NEGATIVE["adj"] + sentiment.NEGATIVE["phrase"])
    only_pos, only_neg = pos - neg, neg - pos
    negations = set(sentiment.NEGATIONS)
    assert not negations & (pos | neg)
    for split in SENTIMENT_SPLITS:
        for r in _rows(SENTIMENT_DIR / f"{split}.csv"):
            toks = set(_tokens(r["sentence"]))
            has_pos, has_neg = bool(toks & only_pos), bool(toks & only_neg)
            assert has_pos != has_neg, r  # cues of exactly one polarity
            negated = bool(toks & negations)
            assert int(has_pos != negated) == int(r["label"]), r


def test_sentiment_files_load_with_the_project_reader():
    for split, n in SENTIMENT_SPLITS.items():
        table = read_labeled_csv(SENTIMENT_DIR / f"{split}.csv", "sentence", {"positive": "label"})
        assert len(table) == n and table.label_names == ["positive"]
        assert {row[0] for row in table.labels} == {0, 1}


def test_generate_sentences_in_process_is_exactly_balanced():
    a = sentiment.generate_sentences(51, seed=3)
    assert a == sentiment.generate_sentences(51, seed=3) != sentiment.generate_sentences(51, seed=4)
    assert sum(r["label"] for r in a) == 25


def test_prepare_regenerates_every_demo_file_byte_for_byte(tmp_path):
    from tools.prepare import DEMO_DATA, prepare

    written = {p.relative_to(tmp_path) for p in prepare(tmp_path)}
    shipped = {p.relative_to(DEMO_DATA) for p in DEMO_DATA.rglob("*") if p.is_file()}
    assert written == shipped
    for rel in sorted(shipped):
        assert (tmp_path / rel).read_bytes() == (DEMO_DATA / rel).read_bytes(), f"{rel} is stale: python tools/prepare.py"
