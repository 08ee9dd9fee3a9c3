"""Deterministic generator of a single-label data set with very many classes (10,000 and more).

Each class `c00000`, `c00001`, ... owns one made-up cue word; a row's text is its class's cue word
set among shared filler words, so a classifier can learn it, and the label column names the class.
The training split holds every class `per_class` times (classes are discovered from it), the
validation split `validation` rows of classes drawn at random. It exists for the many-class
benchmark and test (benchmarks/bench_many_classes.py, tests/integration/test_many_classes.py):
a run whose confusion matrix and prediction files would be classes x classes / rows x classes.

Only the standard library is used; every draw comes from one ``random.Random``.

Command line::

    python -m tools.synthetic.many_classes OUT_DIR [--classes 10000 --per-class 1 --validation 500 --seed 3]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from tools.synthetic.reviews import rows_to_csv_text

__all__ = ["COLUMNS", "class_name", "cue_word", "write_splits"]

COLUMNS = ["text", "label"]
FILLER = "the a item listed with new old small large red blue one two for and of".split()
SYLLABLES = "ka lo mi nu pe ri so tu va xe yo zi".split()  # 12 syllables, 3 per cue word: 1,728 words, then 4


def class_name(i: int) -> str:
    return f"c{i:05d}"


def cue_word(i: int) -> str:
    """A distinct made-up word per class index (never a filler word)."""
    parts = []
    while True:
        i, r = divmod(i, len(SYLLABLES))
        parts.append(SYLLABLES[r])
        if i == 0:
            break
        i -= 1
    return "".join(reversed(parts)) + "q"


def _text(rnd: random.Random, i: int) -> str:
    words = rnd.choices(FILLER, k=rnd.randint(3, 8))
    words.insert(rnd.randrange(len(words) + 1), cue_word(i))
    return " ".join(words)


def write_splits(out: Path, classes: int = 10_000, per_class: int = 1, validation: int = 500,
                 seed: int = 3) -> tuple[Path, Path]:
    """Write train.csv (every class `per_class` times, shuffled) and validation.csv under `out`."""
    rnd = random.Random(seed)
    train = [{"text": _text(rnd, i), "label": class_name(i)} for i in range(classes) for _ in range(per_class)]
    rnd.shuffle(train)
    val = [{"text": _text(rnd, i), "label": class_name(i)} for i in (rnd.randrange(classes) for _ in range(validation))]
    out.mkdir(parents=True, exist_ok=True)
    paths = out / "train.csv", out / "validation.csv"
    for path, rows in zip(paths, (train, val)):
        path.write_text(rows_to_csv_text(rows, COLUMNS, "\n"), encoding="utf-8")
    return paths


def recipe_text(train: Path, validation: Path, *, name: str, vocab_size: int, batch_size: int, steps: int = 2,
                tail: str = "") -> str:
    """A recipe training a tiny DistilBERT + LoRA on these splits (the class in column `label`), `tail`'s
    lines after [train]'s (more of its knobs, then other sections): what the tests and the benchmark of
    many classes run."""
    return f"""name = "{name}"
task = "classification"
[model]
source = "tiny:distilbert"
max_length = 24
tiny_hidden_size = 32
tiny_layers = 1
tiny_vocab_size = {vocab_size}
[data]
train_file = "{train}"
validation_file = "{validation}"
label_column = "label"
[lora]
target_modules = ["q_lin", "v_lin"]
[train]
max_steps = {steps}
batch_size = {batch_size}
{tail}"""


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.synthetic.many_classes", description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--classes", type=int, default=10_000)
    p.add_argument("--per-class", type=int, default=1)
    p.add_argument("--validation", type=int, default=500)
    p.add_argument("--seed", type=int, default=3)
    a = p.parse_args(argv)
    for path in write_splits(a.out, a.classes, a.per_class, a.validation, a.seed):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
