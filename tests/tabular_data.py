"""A small topic-classification set written in every tabular format and label form that
`task = "classification"` reads, for the reading and end-to-end tests of those forms.

Each text holds two cue words of each of its topics among filler words, so a tiny model learns
the topics in a few epochs; it is given whole (`text`) and as `title` and `body`, for templates.
Rows carry every label form at once: 0/1 columns written as yes/no (`sports`, `food`, `tech`), a
class name (`topic`), a class id (`topic_id`), a list of topics
(`topics`) and the same list as a "|"-delimited string (`topics_str`).
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

TOPICS = {"sports": ["goal", "match", "team", "coach"], "food": ["pasta", "bread", "spicy", "dinner"],
          "tech": ["laptop", "software", "battery", "screen"]}
NAMES = sorted(TOPICS)  # food, sports, tech: the order a class column's names sort to
FILLER = "the a we it was very really quite today yesterday and but then so".split()
FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "dataset")

# The recipe's [data] keys for each label form (text from two columns through a template).
FORMS: dict[str, dict[str, Any]] = {
    "columns": {"labels": {n: n for n in NAMES}, "label_values": {"yes": 1, "no": 0}},
    "class": {"label_column": "topic"},
    "class_id": {"label_column": "topic_id", "classes": NAMES},
    "list": {"label_column": "topics"},
    "delimited": {"label_column": "topics_str", "label_separator": "|"},
}


def rows(n: int, seed: int, *, multi: bool) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        topics = sorted(rnd.sample(NAMES, rnd.choice([1, 2]) if multi else 1))
        words = [rnd.choice(FILLER) for _ in range(6)] + [rnd.choice(TOPICS[t]) for t in topics for _ in range(2)]
        rnd.shuffle(words)
        title, body = " ".join(words[:3]), " ".join(words[3:])
        out.append({"id": f"r{i}", "title": title, "body": body, "text": f"{title}. {body}", "topic": topics[0],
                    "topic_id": NAMES.index(topics[0]), "topics": topics, "topics_str": "|".join(topics),
                    **{t: ("yes" if t in topics else "no") for t in NAMES}})
    return out


def multi_label(form: str) -> bool:
    return form in ("columns", "list", "delimited")


def write(folder: Path, fmt: str, splits: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Write each split in `fmt`; returns the recipe's [data] keys naming them (files, or the
    dataset folder and its splits)."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "dataset":
        import datasets

        datasets.DatasetDict({name: datasets.Dataset.from_list(r) for name, r in splits.items()}).save_to_disk(
            str(folder / "ds"))
        keys = {"dataset": str(folder / "ds"), "train_split": "train"}
        if "validation" in splits:
            keys["validation_split"] = "validation"
        return keys
    keys = {}
    for name, r in splits.items():
        path = folder / f"{name}.{fmt}"
        write_file(path, fmt, r)
        keys[f"{name}_file"] = str(path)
    return keys


def write_file(path: Path, fmt: str, r: list[dict[str, Any]]) -> None:
    if fmt in ("csv", "tsv"):
        flat = [{k: v for k, v in row.items() if k != "topics"} for row in r]  # a list has no cell form
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, list(flat[0]), delimiter="\t" if fmt == "tsv" else ",",
                               quoting=csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL)
            w.writeheader()
            w.writerows(flat)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in r), encoding="utf-8")
    elif fmt == "json":
        path.write_text(json.dumps(r), encoding="utf-8")
    elif fmt == "parquet":
        import datasets

        datasets.Dataset.from_list(r).to_parquet(str(path))
    else:
        raise ValueError(fmt)


def toml_value(v: Any) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(v)
