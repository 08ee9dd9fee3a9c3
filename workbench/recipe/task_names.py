"""The task kinds a recipe's `task` may name: the one place their names are written.

Each kind is implemented by workbench/tasks/<name>.py, whose `TASK` is its class (the Task
protocol, workbench/tasks/base.py), registered by that name alone. The recipe layer sits below the
tasks (docs/architecture.md, "Layering"), so it knows them by name and one line each: the schema's
`task` knob takes its choices, default and help from here. A test checks that no module outside
workbench/tasks/ writes a task's name or decides by it (tests/unit/test_task_boundary.py).
"""

from __future__ import annotations

# (name, what it does: the `task` knob's help), the default first
TASK_KINDS: tuple[tuple[str, str], ...] = (
    ("classification", "a table of texts (CSV, TSV, JSONL, JSON, parquet or a Hugging Face dataset) with 0/1 "
                       "label columns or a label column of class names, a classifier head (encoders and decoders)"),
    ("chat_classification", "chat SFT of a decoder, the class read from the generated answer"),
    ("ner", "instruction SFT of a decoder, entities parsed from the generated answer, scored by seqeval"),
)
TASKS = tuple(name for name, _ in TASK_KINDS)
DEFAULT_TASK = TASKS[0]
