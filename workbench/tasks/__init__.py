"""Task kinds. Each module says how to build examples, collate, train, predict and evaluate.

Modules are imported lazily (they import torch): the registry maps a recipe's `task` to one.
"""

from __future__ import annotations

import importlib
from types import ModuleType

TASK_MODULES = {
    "classification": "workbench.tasks.classification",
    "chat_classification": "workbench.tasks.chat_classification",
    "ner": "workbench.tasks.ner",
}


def task_module(kind: str) -> ModuleType:
    return importlib.import_module(TASK_MODULES[kind])
