"""Deterministic generator of a synthetic, harmless stand-in for hate-speech chat data.

Real hate-speech corpora (e.g. Davidson et al.'s hate / offensive / neither tweets) hold real
slurs; a demo that ships in the repository must not. So the classes here are marked by invented
words mixed into ordinary short sentences:

``hate``
    aimed at a target group, with the invented hate markers ("zargs", "vorpish", "zargle", ...).
``offensive``
    rude but not aimed at a group's identity, with the invented rude markers ("blorp", "snerky", ...).
``neither``
    ordinary chatter, no markers; it mentions the groups too (hard negatives for fairness).

Every record names a target group: ``gamers``, ``cyclists``, ``farmers``, ``teachers`` or
``none``. Hate never targets ``none``, and cyclists are over-represented in hate and
under-represented in neither, so a model that learns "cyclists" instead of the markers gets a
high false-positive rate on cyclists: the kind of group-fairness flag the recipe reports.

The class is decidable from a few marker words, texts are 6-16 words from a vocabulary of a few
hundred words, so a tiny randomly initialised decoder can learn it on a CPU in about a minute.
Only the standard library; every draw comes from one ``random.Random`` per split.

Command line::

    python -m tools.synthetic.hate OUT_DIR [--train 600 --validation 90 --test 90 --seed 13]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

__all__ = ["GROUPS", "LABELS", "SYSTEM_PROMPT", "generate_records", "write_splits"]

LABELS = ["hate", "offensive", "neither"]
GROUPS = ["gamers", "cyclists", "farmers", "teachers", "none"]
SYSTEM_PROMPT = "Classify the message as hate, offensive or neither. Answer with one word."

_CLASS_WEIGHTS = {"hate": 0.25, "offensive": 0.35, "neither": 0.40}
# P(group | class): the imbalance that makes a fairness flag plausible.
_GROUP_WEIGHTS = {
    "hate": {"gamers": 0.25, "cyclists": 0.40, "farmers": 0.20, "teachers": 0.15, "none": 0.0},
    "offensive": {"gamers": 0.15, "cyclists": 0.15, "farmers": 0.15, "teachers": 0.15, "none": 0.40},
    "neither": {"gamers": 0.18, "cyclists": 0.08, "farmers": 0.18, "teachers": 0.16, "none": 0.40},
}

# How a text names its group ({G}); plural forms, so templates can say "are".
_GROUP_FORMS = {
    g: [g, f"the {g}", f"those {g}", f"all the {g}", f"most {g}", f"these {g}"]
    for g in GROUPS if g != "none"
}

_SLOTS: dict[str, list[str]] = {
    # invented class markers: the only words that decide the class
    "hnoun": ["zargs", "vorplings", "grimshes", "zarglings"],
    "hadj": ["zarg", "vorpish", "grimsh"],
    "hverb": ["zargle", "vorp", "grimshify"],
    "onoun": ["blorp", "snerk", "fumpkin"],
    "oadj": ["blorpy", "snerky", "fumpy"],
    "oexcl": ["blorp it", "snerk off", "fump this"],
    # ordinary vocabulary, shared by all classes
    "place": ["park", "market", "station", "library", "cafe", "bridge", "gym", "school", "bakery", "pool",
              "office", "farm shop", "bike lane", "arcade", "town hall", "bus stop"],
    "thing": ["bus", "printer", "weather", "coffee", "traffic", "wifi", "laptop", "train", "meeting",
              "queue", "parking", "app", "game", "radio", "kettle", "elevator"],
    "food": ["lunch", "sandwich", "soup", "pizza", "salad", "toast", "noodles", "pancakes", "apple pie", "tea"],
    "when": ["today", "this morning", "last night", "again", "on monday", "this weekend", "after work",
             "at lunch", "yesterday", "all week", "right now", "every day"],
    "nadj": ["nice", "quiet", "busy", "sunny", "lovely", "calm", "decent", "great", "cozy", "new", "fine"],
    "person": ["neighbour", "boss", "cousin", "roommate", "landlord", "coworker", "brother", "uncle"],
    "town": ["the river", "downtown", "the old mill", "the harbour", "main street", "the north side"],
    "activity": ["a walk", "a quiz night", "a bake sale", "a board game night", "a picnic", "a concert",
                 "a match", "a workshop"],
    "topic": ["the harvest", "the new season", "the exam week", "the charity ride", "the tournament",
              "the school trip", "the weather", "the rent"],
}

_TEMPLATES: dict[str, list[str]] = {
    "hate": [
        "{G} are {hadj} {hnoun} and always will be",
        "honestly {G} are nothing but {hnoun}",
        "I {hverb} {G} every single day",
        "{G} are {hnoun}, total {hadj} {hnoun}",
        "why are {G} such {hadj} {hnoun}",
        "{G} ruin the {place}, {hadj} {hnoun} the lot of them",
        "saw {G} at the {place} {when}, {hadj} {hnoun}",
        "{G} should {hverb} off, {hnoun} all of them",
        "nobody wants {hadj} {G} near the {place}",
        "{hadj} {G} again, pure {hnoun}",
        "every time I see {G} I want to {hverb}",
        "{G} talking about {topic}, such {hnoun}",
    ],
    "offensive": [
        "this {thing} is so {oadj} {when}",
        "what a {oadj} {thing}, {onoun} everywhere",
        "my {person} is such a {oadj} {onoun}",
        "{oexcl}, the {thing} broke {when}",
        "the {thing} at the {place} is {oadj} {when}",
        "ugh {oadj} {thing} and a {oadj} {person}",
        "shut it you {oadj} {onoun}",
        "{oexcl}, I am done with this {thing}",
        "who made this {thing}, what a {onoun}",
        "{G} left the {place} {oadj} {when}",
        "{G} keep talking about {topic}, {oexcl}",
        "the {place} was full of {G}, {oadj} {thing} too",
    ],
    "neither": [
        "the {place} was {nadj} {when}",
        "had a {nadj} {food} at the {place} {when}",
        "anyone know a {nadj} {place} near {town}",
        "just finished my {food}, {nadj}",
        "going to {activity} at the {place} {when}",
        "the {thing} works again, {nadj}",
        "my {person} made {food} {when}",
        "{G} were at the {place} {when}",
        "met some {G} at {activity} {when}, {nadj} people",
        "{G} are talking about {topic} {when}",
        "{G} meetup at the {place} {when}",
        "had {activity} with {G} near {town}",
    ],
}

_OPENERS = ["honestly", "lol", "ok so", "well", "so", "hey", "btw", "wow"]
_TAILS = ["lol", "for real", "as usual", "smh", "haha", "i guess", "no joke", "oh well"]

_MIN_WORDS, _MAX_WORDS = 6, 16


def _fill(template: str, group: str, rng: random.Random) -> str:
    out = []
    for part in template.split("{"):
        if "}" not in part:
            out.append(part)
            continue
        slot, rest = part.split("}", 1)
        if slot == "G":
            out.append(rng.choice(_GROUP_FORMS[group]))
        else:
            out.append(rng.choice(_SLOTS[slot]))
        out.append(rest)
    return "".join(out)


def _text(label: str, group: str, rng: random.Random) -> str:
    # Templates with {G} only for records with a group; a "none" record never names a group.
    pool = [t for t in _TEMPLATES[label] if ("{G}" in t) == (group != "none")]
    while True:
        text = _fill(rng.choice(pool), group, rng)
        if rng.random() < 0.25:
            text = f"{rng.choice(_OPENERS)} {text}"
        if rng.random() < 0.25:
            text = f"{text} {rng.choice(_TAILS)}"
        while len(text.split()) < _MIN_WORDS:
            text = f"{text} {rng.choice(_TAILS)}"
        if len(text.split()) <= _MAX_WORDS:
            break
    r = rng.random()
    if r < 0.3:
        text = text[0].upper() + text[1:]
    r = rng.random()
    if r < 0.2:
        text += "!"
    elif r < 0.35:
        text += "."
    return text


def generate_records(n: int, seed: int = 13, *, seen: set[str] | None = None) -> list[dict]:
    """``n`` chat records, deterministic for ``(n, seed, seen)``.

    Texts already in ``seen`` are redrawn (a few tries) and new texts are added to it, so splits
    generated with one shared set do not repeat each other's texts.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    seen = set() if seen is None else seen
    labels = list(_CLASS_WEIGHTS)
    out = []
    for _ in range(n):
        label = rng.choices(labels, [_CLASS_WEIGHTS[c] for c in labels])[0]
        gw = _GROUP_WEIGHTS[label]
        group = rng.choices(GROUPS, [gw[g] for g in GROUPS])[0]
        for _try in range(50):
            text = _text(label, group, rng)
            if text not in seen:
                break
        seen.add(text)
        out.append({
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": text},
                {"role": "assistant", "content": label},
            ],
            "group": group,
        })
    return out


def write_splits(out_dir, train: int = 600, validation: int = 90, test: int = 90, seed: int = 13) -> dict[str, Path]:
    """Write train.jsonl, validation.jsonl and test.jsonl (UTF-8, one record a line) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    paths = {}
    for k, (split, n) in enumerate([("train", train), ("validation", validation), ("test", test)]):
        records = generate_records(n, seed * 1000 + k, seen=seen)
        p = out / f"{split}.jsonl"
        p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
        paths[split] = p
    return paths


def _main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.synthetic.hate",
                                 description="Write a synthetic hate / offensive / neither chat dataset.")
    ap.add_argument("out_dir")
    ap.add_argument("--train", type=int, default=600)
    ap.add_argument("--validation", type=int, default=90)
    ap.add_argument("--test", type=int, default=90)
    ap.add_argument("--seed", type=int, default=13)
    a = ap.parse_args(argv)
    for name in ("train", "validation", "test"):
        if getattr(a, name) < 0:
            ap.error(f"--{name} must be >= 0")
    write_splits(a.out_dir, a.train, a.validation, a.test, a.seed)
    print(f"wrote {a.train} train / {a.validation} validation / {a.test} test records (seed={a.seed}) to {a.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
