"""Deterministic generator of a small synthetic English NER data set in CoNLL-2003 format.

It feeds the offline QLoRA NER demo, where a tiny randomly initialised decoder learns in a
minute or two on a CPU to answer "PER: ...; LOC: ..." for a sentence. A model that small
cannot generalise to names it never saw, so the data set is built to be learnable:

- one fixed list of names per type (PER, ORG, LOC, MISC; MISC holds nationality adjectives and
  events), 1-3 tokens each, and no token shared between two names — so a name always has one
  type and the response -> BIO round trip is exact;
- about 40 short lowercase sentence templates (5-14 tokens), some without an entity, some with
  two or three;
- validation and test draw the same names into new template / name combinations (a sentence
  with an entity that already appeared in an earlier split is redrawn).

Only the standard library is used and every draw goes through one ``random.Random(seed)``.

Command line::

    python -m tools.synthetic.ner OUT_DIR [--train 600 --valid 80 --test 80 --seed 13]
        [--json FILE [--json-rows N]]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from workbench.data.ner import prompt_for, response_for

__all__ = ["NAMES", "SLOT_TYPES", "TEMPLATES", "conll_text", "generate_sentence", "generate_splits",
           "instruction_json_text", "write_dataset"]

MIN_TOKENS, MAX_TOKENS = 5, 14

NAMES: dict[str, list[str]] = {
    "PER": [
        "John Smith", "Maria Garcia", "Ahmed Khan", "Li Wei", "Anna Kowalski", "Peter Blackburn",
        "Yuki Tanaka", "Carlos Mendes", "Sofia Rossi", "David Okafor", "Elena Petrova", "Hans Mueller",
        "Fatima Zahra", "Lucas Martin", "Nina Berg", "Oscar Lindqvist", "Priya Sharma", "Tom Baker",
        "Grace Lee", "Kenji Sato", "Ingrid Olsen", "Pablo Ruiz", "Chloe Dubois", "Samuel Adeyemi",
        "Mary Ann Jones", "Juan Miguel Ortega", "Ali Hassan Rahimi", "Ronaldo", "Madonna", "Kowalczyk",
        "Erik Johansson", "Olga Ivanova", "Marco Bianchi", "Aisha Bello", "Daniel Weber", "Laura Chen",
        "Victor Hugo Lima", "Rosa Silva", "Igor Novak", "Emma Wilson",
    ],
    "ORG": [
        "United Nations", "Red Cross", "Acme Corp", "Globex", "Initech", "Reuters", "European Commission",
        "World Bank", "Nordic Airlines", "Bluewave Energy", "Apex Motors", "Northwind Traders",
        "Stellar Finance", "Harbor Group", "Pinecrest University", "Summit Health", "Ironclad Security",
        "Vertex Labs", "Silverline Rail", "Golden Foods", "Atlas Insurance", "Crescent Media",
        "Falcon Systems", "Orion Telecom", "Quantum Dynamics", "Riverside Hospital", "Maple Leaf Credit",
        "Evergreen Capital", "Horizon Press", "Cobalt Mining", "Redwood Partners", "Bright Ocean Shipping",
        "Ajax", "Celtic", "Boca Juniors", "Nasdaq", "Interpol", "Unicef", "Oxfam", "Labour Party",
    ],
    "LOC": [
        "Paris", "Berlin", "Tokyo", "London", "Madrid", "Rome", "Cairo", "Lagos", "Nairobi", "Oslo",
        "Vienna", "Prague", "Dublin", "Lisbon", "Athens", "Toronto", "Sydney", "Mumbai", "Seoul",
        "New York", "Buenos Aires", "Cape Town", "Hong Kong", "Rio de Janeiro", "Los Angeles",
        "Salt Lake City", "Kuala Lumpur", "Germany", "France", "Brazil", "Japan", "Kenya", "Canada",
        "Mexico", "Egypt", "India", "Norway", "Chile", "Patagonia", "Sahara",
    ],
    "MISC": [
        # nationality adjectives (slot NAT)
        "German", "French", "Brazilian", "Japanese", "Kenyan", "Canadian", "Mexican", "Egyptian",
        "Indian", "Norwegian", "Chilean", "Italian", "Spanish", "British", "Dutch", "Swedish",
        # events, works, products (slot EVT)
        "Davis Cup", "Olympic Games", "Nobel Prize", "Super Bowl", "Grand Prix", "Champions League",
        "Wimbledon", "Christmas", "Ramadan", "Oscars", "Eurovision", "Boxing Day", "Cold War",
        "Mardi Gras", "Black Friday", "Formula One", "Diwali", "Thanksgiving", "Boston Marathon",
        "Kyoto Protocol", "Brexit", "Bitcoin", "Renaissance", "Windows XP",
    ],
}
_N_NAT = 16

# Slot -> (entity type, candidate names). A template may use a slot twice as SLOT and SLOT2.
SLOT_TYPES: dict[str, tuple[str, list[str]]] = {
    "PER": ("PER", NAMES["PER"]),
    "ORG": ("ORG", NAMES["ORG"]),
    "LOC": ("LOC", NAMES["LOC"]),
    "NAT": ("MISC", NAMES["MISC"][:_N_NAT]),
    "EVT": ("MISC", NAMES["MISC"][_N_NAT:]),
}

TEMPLATES: list[str] = [
    # no entity
    "the meeting was moved to next week .",
    "prices rose sharply in the third quarter .",
    "officials said the talks would continue tomorrow .",
    "heavy rain caused long delays across the region .",
    "the company did not comment on the report .",
    "analysts expect the market to recover slowly .",
    # one entity
    "{PER} won the final in straight sets .",
    "{PER} said the plan was a mistake .",
    "police arrested {PER} after a long chase .",
    "{ORG} reported higher profits this year .",
    "shares of {ORG} fell sharply yesterday .",
    "the storm hit {LOC} late last night .",
    "thousands of tourists visited {LOC} this summer .",
    "the {EVT} drew a huge crowd .",
    "{NAT} officials rejected the proposal .",
    "she bought two tickets for the {EVT} .",
    "workers at {ORG} went on strike .",
    "house prices in {LOC} doubled in ten years .",
    # two entities
    "{PER} joined {ORG} last month .",
    "{PER} arrived in {LOC} for a short visit .",
    "{ORG} opened a new office in {LOC} .",
    "{PER} won the {EVT} for the second time .",
    "the {NAT} team beat {ORG} in the final .",
    "{ORG} will sponsor the {EVT} next year .",
    "{LOC} and {LOC2} signed a trade deal .",
    "a {NAT} court fined {ORG} on monday .",
    "{PER} , a {NAT} writer , died at 80 .",
    "the {EVT} will be held in {LOC} .",
    "{ORG} hired {PER} as its new chief .",
    "{PER} praised {PER2} after the match .",
    "{ORG} bought {ORG2} for a record sum .",
    # three entities
    "{PER} of {ORG} spoke in {LOC} today .",
    "{PER} and {PER2} left {ORG} last year .",
    "{ORG} and {ORG2} plan to merge in {LOC} .",
    "{NAT} star {PER} won the {EVT} again .",
    "{PER} flew to {LOC} for the {EVT} .",
    "{PER} met {PER2} in {LOC} .",
    "the {NAT} minister visited {LOC} and {LOC2} .",
    "{ORG} fans in {LOC} celebrated the {EVT} win .",
    "{PER} told {ORG} that {LOC} was safe .",
]


def generate_sentence(rng: random.Random, template: str | None = None) -> tuple[list[str], list[str]]:
    """(tokens, IOB2 tags) for one sentence; names are redrawn until it has 5-14 tokens."""
    if template is None:
        template = rng.choice(TEMPLATES)
    for _ in range(100):
        tokens: list[str] = []
        tags: list[str] = []
        used: set[str] = set()
        for word in template.split():
            if not (word.startswith("{") and word.endswith("}")):
                tokens.append(word)
                tags.append("O")
                continue
            slot = word[1:-1].rstrip("0123456789")
            typ, names = SLOT_TYPES[slot]
            name = rng.choice([n for n in names if n not in used])
            used.add(name)
            parts = name.split()
            tokens.extend(parts)
            tags.extend(["B-" + typ] + ["I-" + typ] * (len(parts) - 1))
        if MIN_TOKENS <= len(tokens) <= MAX_TOKENS:
            tokens[0] = tokens[0][:1].upper() + tokens[0][1:]
            return tokens, tags
    raise ValueError(f"template {template!r} cannot fit in {MIN_TOKENS}-{MAX_TOKENS} tokens")


def generate_splits(train: int = 600, valid: int = 80, test: int = 80, seed: int = 13
                    ) -> dict[str, list[tuple[list[str], list[str]]]]:
    """{"train", "valid", "test"} -> sentences. A valid/test sentence with an entity is redrawn
    (up to 50 times) when the same sentence is in an earlier split."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: dict[str, list[tuple[list[str], list[str]]]] = {}
    for split, n in (("train", train), ("valid", valid), ("test", test)):
        rows = []
        for _ in range(n):
            for _ in range(50):
                tokens, tags = generate_sentence(rng)
                key = " ".join(tokens)
                if split == "train" or key not in seen or all(t == "O" for t in tags):
                    break
            rows.append((tokens, tags))
        seen.update(" ".join(t) for t, _ in rows)
        out[split] = rows
    return out


def _pos_chunk(token: str, tag: str) -> str:
    """Placeholder POS and chunk columns (the NER reader uses only the first and last column)."""
    if tag != "O":
        return "NNP " + ("B-NP" if tag.startswith("B-") else "I-NP")
    if token in {".", ","}:
        return f"{token} O"
    return "NN O"


def conll_text(sentences: list[tuple[list[str], list[str]]]) -> str:
    """CoNLL-2003 text: a -DOCSTART- line, then `token POS chunk NER` lines, a blank line after each sentence."""
    lines = ["-DOCSTART- -X- -X- O", ""]
    for tokens, tags in sentences:
        lines.extend(f"{tok} {_pos_chunk(tok, tag)} {tag}" for tok, tag in zip(tokens, tags))
        lines.append("")
    return "\n".join(lines) + "\n"


def instruction_json_text(sentences: list[tuple[list[str], list[str]]]) -> str:
    """The instruction-JSON form: a list of {"text": prompt + response}, one field per record."""
    records = [{"text": prompt_for(tokens) + response_for(tokens, tags)} for tokens, tags in sentences]
    return json.dumps(records, indent=1, ensure_ascii=False) + "\n"


def write_dataset(out_dir: str | Path, *, train: int = 600, valid: int = 80, test: int = 80, seed: int = 13,
                  json_path: str | Path | None = None, json_rows: int = 0) -> dict[str, int]:
    """Write train.txt, valid.txt, test.txt (and the first `json_rows` training sentences, 0: all,
    as instruction JSON to `json_path`). Returns split -> sentence count."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = generate_splits(train, valid, test, seed)
    for split, rows in splits.items():
        (out / f"{split}.txt").write_text(conll_text(rows), encoding="utf-8", newline="\n")
    counts = {split: len(rows) for split, rows in splits.items()}
    if json_path is not None:
        rows = splits["train"][:json_rows] if json_rows else splits["train"]
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(instruction_json_text(rows), encoding="utf-8", newline="\n")
        counts["json"] = len(rows)
    return counts


def _main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.synthetic.ner",
                                 description="Write a synthetic CoNLL-2003-style NER data set.")
    ap.add_argument("out_dir", help="folder for train.txt, valid.txt, test.txt")
    ap.add_argument("--train", type=int, default=600, help="training sentences (default 600)")
    ap.add_argument("--valid", type=int, default=80, help="validation sentences (default 80)")
    ap.add_argument("--test", type=int, default=80, help="test sentences (default 80)")
    ap.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    ap.add_argument("--json", dest="json_path", help="also write training sentences as instruction JSON here")
    ap.add_argument("--json-rows", type=int, default=0, help="first N training sentences in --json (default 0: all)")
    args = ap.parse_args(argv)
    for name in ("train", "valid", "test", "json_rows"):
        if getattr(args, name) < 0:
            ap.error(f"--{name.replace('_', '-')} must be >= 0")
    counts = write_dataset(args.out_dir, train=args.train, valid=args.valid, test=args.test, seed=args.seed,
                           json_path=args.json_path, json_rows=args.json_rows)
    print(", ".join(f"{k}: {v}" for k, v in counts.items()) + f" sentences (seed={args.seed}) -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
