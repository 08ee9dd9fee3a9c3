"""Deterministic generator of a synthetic multi-label product categorisation dataset.

The rows imitate Amazon-13k style product listings (a short title plus a one-sentence
description) with five independent 0/1 category columns:

``electronics``
    chargers, earbuds, webcams, keyboards, ... ("wireless", "rechargeable", "bluetooth").
``home_kitchen``
    skillets, cutting boards, teapots, duvet covers, ... ("nonstick", "ceramic", "stainless").
``sports_outdoors``
    tents, yoga mats, dumbbells, trekking poles, ... ("waterproof", "breathable", "insulated").
``toys_games``
    jigsaw puzzles, plush bears, board games, kites, ... ("educational", "cuddly", "preschool").
``beauty``
    lipstick, mascara, serums, shampoo, ... ("hydrating", "matte", "nourishing").

About 70% of products have one category and 30% two (a bundle, or a product of one category
with a cue adjective or use phrase of another, e.g. "rechargeable camping lantern").  The
category is decidable from cue words: every category owns 20-30 nouns, adjectives and use
phrases, no cue token is shared between two categories, and the shared filler (brands,
colours, pack sizes, generic adjectives such as "durable" or "premium") appears in every
category alike.  Texts are 8-25 words, so a tiny randomly initialised decoder can learn the
labels on a CPU in about a minute.

Only the standard library is used; every draw comes from one ``random.Random`` per split, and
no text repeats across the splits.  Ids (``P000001``, ...) run on across train, validation and
test.

Command line::

    python -m tools.synthetic.products OUT_DIR [--train 500 --validation 100 --test 100 --seed 21]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from tools.synthetic.reviews import rows_to_csv_text

__all__ = ["CATEGORIES", "COLUMNS", "CUES", "FILLER", "generate_products", "products_to_csv_text", "write_splits"]

CATEGORIES = ["electronics", "home_kitchen", "sports_outdoors", "toys_games", "beauty"]
COLUMNS = ["id", "text", *CATEGORIES]

# Per category: nouns (title heads), adjectives and use phrases.  Every one of them is a cue:
# no lower-cased token occurs in two categories or in FILLER (the unit tests check this).
CUES: dict[str, dict[str, list[str]]] = {
    "electronics": {
        "noun": [
            "earbuds", "headphones", "power bank", "phone charger", "bluetooth speaker", "usb hub",
            "webcam", "mechanical keyboard", "gaming mouse", "monitor", "hdmi adapter", "smartwatch",
            "wifi router", "flash drive", "soundbar", "tablet stylus", "dash cam", "laptop stand",
            "microphone", "ssd",
        ],
        "adj": [
            "wireless", "rechargeable", "bluetooth", "usb-c", "digital", "smart", "noise cancelling",
            "hd", "fast charging", "4k",
        ],
        "use": [
            "for your laptop and phone", "for gaming and streaming", "for music and calls",
            "for your home office setup", "with a long battery life",
        ],
    },
    "home_kitchen": {
        "noun": [
            "frying pan", "saucepan", "chef knife", "cutting board", "mixing bowls", "skillet",
            "spatula", "colander", "dinner plates", "coffee mugs", "tea towels", "pillowcases",
            "bath towels", "duvet cover", "storage jars", "baking sheet", "whisk", "teapot",
            "cookware", "curtains", "throw blanket", "spice rack",
        ],
        "adj": [
            "nonstick", "ceramic", "stainless steel", "dishwasher safe", "cast iron", "oven safe",
            "bamboo", "linen", "porcelain",
        ],
        "use": [
            "for everyday cooking", "for your kitchen counter", "for the dining table",
            "for a cozy bedroom", "for baking and roasting",
        ],
    },
    "sports_outdoors": {
        "noun": [
            "camping tent", "sleeping bag", "hiking backpack", "yoga mat", "dumbbells",
            "resistance bands", "water bottle", "trekking poles", "camping lantern", "cycling gloves",
            "jump rope", "fishing rod", "kayak paddle", "running shorts", "climbing harness",
            "soccer ball", "tennis racket", "compass", "hammock", "bike helmet",
        ],
        "adj": [
            "waterproof", "breathable", "insulated", "ultralight", "anti-slip", "sweat-wicking",
            "rugged", "windproof",
        ],
        "use": [
            "for hiking and camping", "for the gym", "for trail running", "for outdoor adventures",
            "for cycling and climbing",
        ],
    },
    "toys_games": {
        "noun": [
            "trivia game", "jigsaw puzzle", "building blocks", "teddy bear", "action figure",
            "dollhouse", "card game", "wooden train", "kite", "hand puppet", "marbles", "play dough",
            "stacking rings", "dinosaur figures", "magic kit", "chess pieces", "dice", "toy truck",
            "doll", "spinning top",
        ],
        "adj": [
            "educational", "cuddly", "plush", "preschool", "kids", "montessori", "pretend play",
            "multiplayer",
        ],
        "use": [
            "for ages 3 and up", "for family game night", "for toddlers", "for boys and girls",
            "for birthday party fun",
        ],
    },
    "beauty": {
        "noun": [
            "lipstick", "mascara", "moisturizer", "face serum", "shampoo", "conditioner",
            "nail polish", "eyeliner", "foundation", "perfume", "clay mask", "lip balm",
            "makeup brushes", "body lotion", "sunscreen", "eyeshadow palette", "hair oil",
            "cleanser", "concealer", "blush",
        ],
        "adj": [
            "hydrating", "matte", "fragrance-free", "paraben-free", "nourishing", "long-lasting",
            "shimmer", "cruelty-free",
        ],
        "use": [
            "for dry skin", "for all skin types", "for soft shiny hair", "for a natural look",
            "for sensitive complexions",
        ],
    },
}

# Shared filler: drawn the same way whatever the category, so it carries no signal.
FILLER: dict[str, list[str]] = {
    "brand": [
        "Norvik", "Altora", "Brightway", "Kellan", "Zenra", "Maple & Co", "Vexa", "Orbita",
        "Lumio", "Tandem", "Corvo", "Silvan", "Pakko", "Rivet", "Quill", "Nimbus",
    ],
    "colour": ["Black", "White", "Blue", "Grey", "Red", "Green", "Navy", "Beige"],
    "pack": ["2 Pack", "Set of 2", "Pack of 4", "Large", "Small", "Medium", "XL", "Mini"],
    "gadj": [
        "durable", "lightweight", "compact", "premium", "classic", "portable", "sturdy",
        "stylish", "versatile", "simple", "reliable", "elegant",
    ],
    "extra": [
        "great gift idea", "comes with a one year warranty", "available in several colours",
        "easy to use", "loved by thousands of customers", "backed by our satisfaction guarantee",
        "ships in recyclable packaging", "a perfect daily choice",
    ],
}

# Single-category products: 70%; pairs of categories: 30%, any pair alike.
_PAIR_SHARE = 0.30
_MIN_WORDS, _MAX_WORDS = 8, 25


_TITLE_CASE = {"ssd": "SSD", "usb": "USB", "usb-c": "USB-C", "hdmi": "HDMI", "hd": "HD", "4k": "4K", "wifi": "WiFi",
               "xl": "XL", "of": "of", "and": "and"}


def _title(words: list[str]) -> str:
    """Title-case a product title ("usb hub" -> "USB Hub", "pack of 4" -> "Pack of 4")."""
    return " ".join(_TITLE_CASE.get(w.lower(), w[:1].upper() + w[1:]) for w in " ".join(words).split())


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _A(word: str) -> str:
    return _a(word).capitalize()


def _maybe(rng: random.Random, p: float, value: str) -> list[str]:
    return [value] if rng.random() < p else []


def _single_text(cat: str, rng: random.Random) -> str:
    c = CUES[cat]
    noun, adj = rng.choice(c["noun"]), rng.choice(c["adj"])
    title = [rng.choice(FILLER["brand"]), *_maybe(rng, 0.6, adj), noun,
             *_maybe(rng, 0.3, "- " + rng.choice(FILLER["colour"])),
             *_maybe(rng, 0.25, "- " + rng.choice(FILLER["pack"]))]
    adj2 = rng.choice(c["adj"])
    gadj = rng.choice(FILLER["gadj"])
    desc = rng.choice([
        f"{_A(gadj)} {adj2} {noun} {rng.choice(c['use'])}.",
        f"{gadj.capitalize()} and {adj2} {noun} {rng.choice(c['use'])}.",
        f"{adj2.capitalize()} and {gadj} {rng.choice(c['use'])}, {rng.choice(FILLER['extra'])}.",
        f"Our {noun}: {gadj} and {adj2}, {rng.choice(FILLER['extra'])}.",
        f"{_A(gadj)} pick {rng.choice(c['use'])}, {rng.choice(FILLER['extra'])}.",
    ])
    return f"{_title(title)}. {desc}"


def _pair_text(a: str, b: str, rng: random.Random) -> str:
    ca, cb = CUES[a], CUES[b]
    brand, gadj = rng.choice(FILLER["brand"]), rng.choice(FILLER["gadj"])
    style = rng.randrange(3)
    if style == 0:  # a bundle of one product from each category
        na, nb = rng.choice(ca["noun"]), rng.choice(cb["noun"])
        title = _title([brand, na, "and", nb, "Bundle"])
        desc = rng.choice([
            (f"{_A(gadj)} {rng.choice(ca['adj'])} {na} with {rng.choice(cb['adj'])} {nb}, "
             f"{rng.choice(FILLER['extra'])}."),
            f"Two {gadj} picks in one box, {rng.choice(ca['use'])} and {rng.choice(cb['use'])}.",
        ])
    elif style == 1:  # a product of `a` with a cue adjective of `b`
        na, adjb = rng.choice(ca["noun"]), rng.choice(cb["adj"])
        title = _title([brand, adjb, na, *_maybe(rng, 0.3, "- " + rng.choice(FILLER["colour"]))])
        desc = rng.choice([
            f"{_A(gadj)} {rng.choice(ca['adj'])} {na} {rng.choice(cb['use'])}.",
            f"Our {adjb} {na}: {gadj} and {rng.choice(ca['adj'])}, {rng.choice(FILLER['extra'])}.",
        ])
    else:  # a product of `a` described for a use of `b`
        na = rng.choice(ca["noun"])
        title = _title([brand, *_maybe(rng, 0.5, rng.choice(ca["adj"])), na])
        desc = rng.choice([
            f"{_A(gadj)} {rng.choice(cb['adj'])} design {rng.choice(cb['use'])}, {rng.choice(FILLER['extra'])}.",
            f"{gadj.capitalize()} and {rng.choice(cb['adj'])}, made {rng.choice(cb['use'])}.",
        ])
    return f"{title}. {desc}"


def _text(cats: tuple[str, ...], rng: random.Random) -> str:
    while True:
        if len(cats) == 1:
            text = _single_text(cats[0], rng)
        else:
            a, b = cats if rng.random() < 0.5 else cats[::-1]
            text = _pair_text(a, b, rng)
        if _MIN_WORDS <= len(text.split()) <= _MAX_WORDS:
            return text


def generate_products(n: int, seed: int = 21, *, start_id: int = 1,
                      seen: set[str] | None = None) -> list[dict[str, object]]:
    """``n`` product rows, deterministic for ``(n, seed, start_id, seen)``.

    Each row is a dict with the :data:`COLUMNS` keys: ``id`` ("P000001" on from ``start_id``),
    ``text`` and the category columns as ints 0/1 (one or two of them 1).  Texts already in
    ``seen`` are redrawn (a few tries) and new texts are added to it.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    seen = set() if seen is None else seen
    rows: list[dict[str, object]] = []
    for k in range(n):
        if rng.random() < _PAIR_SHARE:
            cats = tuple(sorted(rng.sample(CATEGORIES, 2), key=CATEGORIES.index))
        else:
            cats = (rng.choice(CATEGORIES),)
        for _try in range(50):
            text = _text(cats, rng)
            if text not in seen:
                break
        seen.add(text)
        row: dict[str, object] = {"id": f"P{start_id + k:06d}", "text": text}
        for c in CATEGORIES:
            row[c] = 1 if c in cats else 0
        rows.append(row)
    return rows


def products_to_csv_text(rows: list[dict[str, object]]) -> str:
    """Serialise rows as CSV text (header = COLUMNS, "\\n" line ends)."""
    return rows_to_csv_text(rows, COLUMNS, "\n")


def write_splits(out_dir, train: int = 500, validation: int = 100, test: int = 100,
                 seed: int = 21) -> dict[str, Path]:
    """Write train.csv, validation.csv and test.csv (UTF-8, no BOM) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    paths: dict[str, Path] = {}
    next_id = 1
    for k, (split, n) in enumerate([("train", train), ("validation", validation), ("test", test)]):
        rows = generate_products(n, seed * 1000 + k, start_id=next_id, seen=seen)
        next_id += n
        p = out / f"{split}.csv"
        with open(p, "w", encoding="utf-8", newline="") as fh:
            fh.write(products_to_csv_text(rows))
        paths[split] = p
    return paths


def _main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.synthetic.products",
                                 description="Write a synthetic multi-label product categorisation dataset.")
    ap.add_argument("out_dir")
    ap.add_argument("--train", type=int, default=500)
    ap.add_argument("--validation", type=int, default=100)
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--seed", type=int, default=21)
    a = ap.parse_args(argv)
    for name in ("train", "validation", "test"):
        if getattr(a, name) < 0:
            ap.error(f"--{name} must be >= 0")
    write_splits(a.out_dir, a.train, a.validation, a.test, a.seed)
    print(f"wrote {a.train} train / {a.validation} validation / {a.test} test products (seed={a.seed}) to {a.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
