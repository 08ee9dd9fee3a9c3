"""What `workbench export` takes from a task (FinishedRunTask, workbench/tasks/base.py): the words of
the model card that differ per task, and the pieces of the stand-alone Python the export ships.

actions/export/card.py lays the card out and actions/export/code.py assembles the card's snippet and
SageMaker's `code/inference.py` from the same pieces, so the two cannot drift apart. Each task's
pieces mirror the workbench code `workbench predict` runs, and sit beside it in the task's module:
the classifier's batches and thresholds (classification.py), batched greedy generation with left
padding (generative.py), the chat prompt and the class read from an answer (chat_classification.py),
the entities (ner.py). The rendered code needs torch and transformers (+ peft for an adapter), never
workbench; tests/integration/test_export_sagemaker.py checks the parsers against workbench's own
and the answers against `workbench predict`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def as_python(value: Any) -> str:
    """A string, list of strings or numbers as Python source (JSON's double-quoted form is Python too)."""
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class CardText:
    """The model card's words for one task (the export's README.md, actions/export/card.py)."""
    label_word: str                      # the head of the metrics tables' first column: label, class, entity type
    labels_file: str                     # labels.json's line in the list of files
    data: list[str]                      # more lines of the Data section
    with_adapter: list[str]              # what a LoRA run also trains, when lora.modules_to_save names nothing
    knobs: tuple[str, ...]               # more rows of the Training table (knob names)
    labels_section: list[str]            # the section on labels and how they are decided, heading first
    notes: list[str]                     # more notes under "How to load it"


@dataclass(frozen=True)
class Serving:
    """SageMaker's contract for one task: inference.py's input and prediction handlers and the card's
    words for them (actions/export/code.py, sagemaker.py)."""
    item: str          # what one input is (inference.py's ITEM, and its docstring)
    one_item: str      # the Python test that "inputs" holds one item rather than a list of them
    check: str         # def check_item(item, i, key="inputs"): one input checked and made what the functions take
    predict: str       # def predict_fn(data, model): the answers
    settings: str      # def apply_settings(environ): the endpoint's environment over the run's constants
    environment: str   # the words for the variables apply_settings reads (inference.py's docstring, the card)
    request: str       # the card's words for a request body
    answer: str        # the card's words for one answer
    as_run: str        # what the answers keep of the run: "the run's {as_run}"


@dataclass(frozen=True)
class InferenceCode:
    """The stand-alone Python of an export that differs per task."""
    model_class: str                # the transformers Auto class the model loads with
    stdlib: tuple[str, ...]         # standard library modules the functions use
    constants: list[str]            # the run's settings the functions read: labels, thresholds, lengths, prompts
    tokenizer_note: str             # a comment on the line that loads the tokenizer ("" or "  # ...")
    load_adapter: list[str]         # the model: BASE with the adapter from the export's folder
    verb: str                       # what the model does: predict, generate
    functions: str                  # the functions that predict, or generate and parse
    example: list[str]              # the snippet's last lines: one example answered
    serving: Serving
