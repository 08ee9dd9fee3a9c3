"""Deterministic generator of a synthetic binary sentiment dataset of movie-review sentences.

The rows imitate SST-2: lower-cased, tokenised-looking sentences ("it 's", "does n't", spaces
around punctuation) of 5-20 words, with one label column:

``label``
    1 = positive, 0 = negative.

The sentiment is carried by cue words: positive and negative adjectives ("gripping",
"tedious", ...) and stock phrases ("a joy to watch", "a waste of time", ...), set in neutral
movie-talk filler (subjects such as "the second half" or "the director 's latest", intensifiers,
neutral tails).  About 15% of the sentences are negated ("is n't funny", "never boring",
"not bad"), which flips the cue's polarity: non-trivial, but learnable from the negation word
next to the cue, so a tiny randomly initialised decoder can learn it on a CPU in about a minute.

Each split is exactly balanced (half positive, the odd row negative).  Only the standard
library is used; every draw comes from one ``random.Random`` per split, and no sentence repeats
across the splits.

Command line::

    python -m tools.synthetic.sentiment OUT_DIR [--train 800 --validation 200 --seed 5]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from tools.synthetic.reviews import rows_to_csv_text

__all__ = ["COLUMNS", "NEGATIONS", "NEGATIVE", "POSITIVE", "generate_sentences", "sentences_to_csv_text",
           "write_splits"]

COLUMNS = ["sentence", "label"]

# Cue words and phrases, by polarity (label 1 / 0).  No token is shared between the two.
POSITIVE: dict[str, list[str]] = {
    "adj": [
        "wonderful", "moving", "funny", "charming", "brilliant", "gripping", "delightful",
        "beautiful", "smart", "heartfelt", "engaging", "witty", "masterful", "memorable",
        "touching", "entertaining", "superb", "fresh", "clever", "good", "great", "thrilling",
        "lovely", "inventive",
    ],
    "phrase": [
        "a joy to watch", "a must-see", "worth the price of admission", "one of the year 's best",
        "a real treat", "a pleasure from start to finish", "an absolute triumph", "a crowd-pleaser",
        "pure cinematic magic", "a small gem",
    ],
}
NEGATIVE: dict[str, list[str]] = {
    "adj": [
        "dull", "boring", "tedious", "clumsy", "lifeless", "predictable", "bland", "awful",
        "pointless", "forgettable", "shallow", "flat", "tiresome", "incoherent", "bad", "terrible",
        "sloppy", "lazy", "stale", "dreary", "painful", "uninspired", "mediocre", "hollow",
    ],
    "phrase": [
        "a waste of time", "a chore to sit through", "a total mess", "an embarrassment",
        "a misfire", "an exercise in tedium", "a train wreck", "a letdown from the first frame",
        "utter nonsense", "a slog",
    ],
}
# Negation words: "<subject> is n't <adj>" / "never <adj>" flip the adjective's polarity.
NEGATIONS = ["n't", "not", "never", "hardly"]

_FILLER: dict[str, list[str]] = {
    "subj": [
        "the film", "this movie", "the director 's latest", "the cast", "the script",
        "the acting", "the second half", "its premise", "the story", "the dialogue",
        "the lead actress", "the soundtrack", "this sequel", "the final act", "the picture",
        "the whole thing", "the screenplay", "this remake",
    ],
    "noun": ["movie", "film", "comedy", "thriller", "drama", "documentary", "ride", "debut", "romance", "western"],
    "verb": ["is", "feels", "remains", "seems", "turns out to be", "proves"],
    "int": ["very", "remarkably", "quite", "thoroughly", "often", "consistently", "genuinely", "simply", "truly"],
    "tail": [
        "from the opening scene", "for most of its ninety minutes", "in every scene", "as a family drama",
        "for a summer movie", ", and it knows it", "in its own quiet way", "by any standard",
        "despite its length", "for fans of the genre", "on the big screen", "at two hours",
    ],
    "open": ["ultimately ,", "frankly ,", "in the end ,", "as a whole ,", "overall ,", "well ,"],
}

# (template, negated): {adj}/{adj2}/{phrase} take the row's polarity, except in negated
# templates, where {adj} takes the opposite one (negation flips it back to the row's label).
_TEMPLATES: list[tuple[str, bool]] = [
    ("{subj} {verb} {int} {adj} {tail}", False),
    ("{subj} {verb} {adj} and {adj2}", False),
    ("{open} {subj} {verb} {int} {adj}", False),
    ("a {adj} , {adj2} {noun} {tail}", False),
    ("{adj} and {int} {adj2} , {subj} {verb} {phrase}", False),
    ("{subj} {verb} {phrase}", False),
    ("{phrase} , {tail}", False),
    ("{open} it 's {phrase}", False),
    ("it 's a {int} {adj} {noun}", False),
    ("what a {adj} {noun}", False),
    ("{subj} {verb} {adj} , and {subj2} {verb2} {int} {adj2}", False),
    ("an {int} {adj} {noun} that {verb} {phrase}", False),
    ("{subj} is n't {int} {adj} {tail}", True),
    ("{subj} is never {adj}", True),
    ("this is not a {adj} {noun}", True),
    ("{open} {subj} is hardly {adj}", True),
    ("it 's not {adj} , not {adj2} either", True),
    ("{subj} does n't feel {adj} {tail}", True),
]
_NEGATED_SHARE = 0.15
_MIN_WORDS, _MAX_WORDS = 5, 20


def _fill(template: str, cues: dict[str, list[str]], flip: dict[str, list[str]], negated: bool,
          rng: random.Random) -> str:
    adjs = (flip if negated else cues)["adj"]
    adj = rng.choice(adjs)
    adj2 = rng.choice([a for a in adjs if a != adj])
    values = {
        "adj": adj, "adj2": adj2, "phrase": rng.choice(cues["phrase"]),
        "subj": rng.choice(_FILLER["subj"]), "subj2": rng.choice(_FILLER["subj"]),
        "verb": rng.choice(_FILLER["verb"]), "verb2": rng.choice(_FILLER["verb"]),
        "noun": rng.choice(_FILLER["noun"]), "int": rng.choice(_FILLER["int"]),
        "tail": rng.choice(_FILLER["tail"]), "open": rng.choice(_FILLER["open"]),
    }
    return _tokenise(template.format(**values))


def _tokenise(text: str) -> str:
    """SST-2 look: commas as tokens (no doubled or leading ones) and "a" / "an" agreeing."""
    words = text.replace(",", " , ").split()
    out: list[str] = []
    for w in words:
        if w == "," and (not out or out[-1] == ","):
            continue
        out.append(w)
    for i, w in enumerate(out[:-1]):
        if w in ("a", "an"):
            out[i] = "an" if out[i + 1][0] in "aeiou" and out[i + 1] != "one" else "a"
    return " ".join(out)


def _sentence(label: int, rng: random.Random) -> str:
    cues, flip = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
    negated = rng.random() < _NEGATED_SHARE
    pool = [t for t, neg in _TEMPLATES if neg == negated]
    while True:
        text = _fill(rng.choice(pool), cues, flip, negated, rng)
        if rng.random() < 0.7:
            text += rng.choice([" .", " .", " .", " !"])
        if _MIN_WORDS <= len(text.split()) <= _MAX_WORDS:
            return text


def generate_sentences(n: int, seed: int = 5, *, seen: set[str] | None = None) -> list[dict[str, object]]:
    """``n`` rows ``{"sentence": str, "label": 0 | 1}``, deterministic for ``(n, seed, seen)``.

    ``n // 2`` rows are positive and ``n - n // 2`` negative, in shuffled order.  Sentences
    already in ``seen`` are redrawn (a few tries) and new ones are added to it.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    seen = set() if seen is None else seen
    labels = [1] * (n // 2) + [0] * (n - n // 2)
    rng.shuffle(labels)
    rows: list[dict[str, object]] = []
    for label in labels:
        for _try in range(50):
            text = _sentence(label, rng)
            if text not in seen:
                break
        seen.add(text)
        rows.append({"sentence": text, "label": label})
    return rows


def sentences_to_csv_text(rows: list[dict[str, object]]) -> str:
    """Serialise rows as CSV text (header = COLUMNS, "\\n" line ends)."""
    return rows_to_csv_text(rows, COLUMNS, "\n")


def write_splits(out_dir, train: int = 800, validation: int = 200, seed: int = 5) -> dict[str, Path]:
    """Write train.csv and validation.csv (UTF-8, no BOM) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    paths: dict[str, Path] = {}
    for k, (split, n) in enumerate([("train", train), ("validation", validation)]):
        rows = generate_sentences(n, seed * 1000 + k, seen=seen)
        p = out / f"{split}.csv"
        with open(p, "w", encoding="utf-8", newline="") as fh:
            fh.write(sentences_to_csv_text(rows))
        paths[split] = p
    return paths


def _main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.synthetic.sentiment",
                                 description="Write a synthetic SST-2 style binary sentiment dataset.")
    ap.add_argument("out_dir")
    ap.add_argument("--train", type=int, default=800)
    ap.add_argument("--validation", type=int, default=200)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args(argv)
    for name in ("train", "validation"):
        if getattr(a, name) < 0:
            ap.error(f"--{name} must be >= 0")
    write_splits(a.out_dir, a.train, a.validation, a.seed)
    print(f"wrote {a.train} train / {a.validation} validation sentences (seed={a.seed}) to {a.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
