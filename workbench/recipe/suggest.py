"""'did you mean ...?' for a knob or section name nobody declared: by meaning first (the names other tools
use for a knob), then by spelling."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# What people call knobs elsewhere (transformers' argument names, papers, habits): a suggestion by
# meaning comes before one by spelling (`train.lr` is `train.learning_rate`, not `train.scheduler`).
ALIASES = {"lr": "learning_rate", "learningrate": "learning_rate", "rate": "learning_rate",
           "bs": "batch_size", "batch": "batch_size", "batchsize": "batch_size",
           "per_device_train_batch_size": "batch_size", "per_device_eval_batch_size": "batch_size",
           "epoch": "epochs", "num_epochs": "epochs", "num_train_epochs": "epochs", "n_epochs": "epochs",
           "rank": "r", "lora_r": "r", "lora_rank": "r", "lora_alpha": "alpha", "lora_dropout": "dropout",
           "wd": "weight_decay", "decay": "weight_decay", "warmup": "warmup_steps", "warmup_ratio": "warmup_steps",
           "grad_accum": "gradient_accumulation_steps", "accumulation_steps": "gradient_accumulation_steps",
           "max_len": "max_length", "max_seq_length": "max_length", "seq_len": "max_length",
           "model": "source", "model_name": "source", "model_name_or_path": "source", "path": "source",
           "lr_scheduler_type": "scheduler", "lr_scheduler": "scheduler", "optim": "optimizer",
           "load_in_4bit": "use_4bit", "4bit": "use_4bit", "quantize": "use_4bit", "steps": "max_steps",
           "clip": "max_grad_norm", "grad_clip": "max_grad_norm", "target": "target_modules",
           "text": "text_column", "label": "label_column", "train": "train_file", "valid": "validation_file",
           "val_file": "validation_file", "dev_file": "validation_file", "test": "test_file"}


def did_you_mean(name: str, candidates: Iterable[str], fmt: str = "{}") -> str:
    """The candidate `name` most likely means: by meaning first, the knob its last part names (an alias,
    `lr`, or the knob's own name in another section: `eval.epochs` is `train.epochs`), in its own section
    before another; then by spelling, its own section's first. Give every knob as candidates (a
    section's knobs alone would make `eval.lr` mean `eval.base`, close by spelling)."""
    candidates = list(candidates)
    section, _, key = name.rpartition(".")
    key = key.lower().replace("-", "_")
    for meant in (ALIASES.get(key), key):
        by_key = [c for c in candidates if c.rsplit(".", 1)[-1] == meant]
        same = [c for c in by_key if c.rpartition(".")[0] == section] or by_key
        if same:
            return f" (did you mean {fmt.format(same[0])}?)"
    own = [c for c in candidates if section and c.rpartition(".")[0] == section]
    close = (difflib.get_close_matches(name, own, n=1, cutoff=0.5)
             or difflib.get_close_matches(name, candidates, n=1, cutoff=0.5))
    if not close:
        # Also try the last part alone (e.g. "lora.rank" vs "r", "train.lr" vs "learning_rate").
        short = {c.rsplit(".", 1)[-1]: c for c in candidates}
        close = [short[m] for m in difflib.get_close_matches(name.rsplit(".", 1)[-1], list(short), n=1, cutoff=0.5)]
    return f" (did you mean {fmt.format(close[0])}?)" if close else ""
