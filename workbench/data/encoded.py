"""A labelled split tokenized for training: one batched `map` over its Arrow table (Hugging Face
datasets), written to a cache file keyed by what the tokens depend on, so the next run over the
same rows with the same tokenizer and max_length reads the tokens back instead of tokenizing.

The rows stay in Arrow throughout: a 1M-row training split is tokenized in batches of 1,000
texts and never held as Python lists (benchmarks/bench_data_scale.py measures it against a plain
`datasets` script).
"""

from __future__ import annotations

import hashlib
from typing import Any

from workbench.cache import cache_dir
from workbench.data.labeled import LabeledTable

MODEL_INPUTS = ("input_ids", "attention_mask", "labels")
BATCH = 1000  # texts per tokenizer call: the fast tokenizer's own batching does the rest


def encode(tokenizer, table: LabeledTable, max_length: int, *, cached: bool = True):
    """(datasets.Dataset with input_ids, attention_mask, labels and length, read from the cache or not).

    labels: the class index (single-label, cross-entropy) or a float 0/1 per label (BCE); absent
    for a table without labels. length: tokens per row, for length-grouped batches."""
    import datasets
    import pyarrow as pa
    import pyarrow.compute as pc

    labels = None
    if table.has_labels:
        # One numpy array, sliced per batch by the map's row indices: a column added to the
        # source table instead would make it a concatenation table, ~4 % slower to map over.
        column = table.table.column("labels").combine_chunks()
        if table.single_label:
            labels = column.to_numpy(zero_copy_only=False)
        else:
            labels = pc.cast(column.flatten(), pa.float32()).to_numpy().reshape(len(column), -1)
    if table.source is not None:
        # The memory-mapped source itself: its pages are read as the map goes. An in-memory
        # Dataset of the same column costs ~240 MB more peak RSS on 1M rows (bench_data_scale.py).
        source, text = table.source
        ds = source.select_columns([text])
        if text != "text":
            ds = ds.rename_column(text, "text")
    else:
        ds = datasets.Dataset(pa.table({"text": table.table.column("text")}))

    def tokenize(batch: dict[str, list], rows: list[int]) -> dict[str, Any]:
        enc = tokenizer(batch["text"], truncation=True, max_length=max_length)
        out: dict[str, Any] = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                               "length": [len(ids) for ids in enc["input_ids"]]}
        if labels is not None:
            out["labels"] = labels[rows[0]:rows[-1] + 1]  # a batch is a contiguous run of rows
        return out

    kwargs: dict[str, Any] = {}
    hit = False
    if cached:
        key = _key(tokenizer, table, max_length)
        folder = cache_dir("tokenized")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{key}.arrow"
        hit = path.exists()
        kwargs = {"cache_file_name": str(path), "new_fingerprint": key, "load_from_cache_file": True}
    with _quiet():
        out = ds.map(tokenize, batched=True, with_indices=True, batch_size=BATCH, remove_columns=["text"], **kwargs)
    return out, hit


def _key(tokenizer, table: LabeledTable, max_length: int) -> str:
    """Hash of the rows (text and labels, straight from the Arrow buffers), the tokenizer (its
    class, its name and, for a fast tokenizer, its whole definition) and max_length."""
    h = hashlib.sha256()
    h.update(f"v2|{type(tokenizer).__name__}|{tokenizer.name_or_path}|{len(tokenizer)}|{max_length}|"
             f"{table.single_label}|{len(table)}".encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        import json

        definition = json.loads(backend.to_str())
        for state in ("truncation", "padding"):  # what the last call set, not what the tokenizer is
            definition.pop(state, None)
        h.update(json.dumps(definition, sort_keys=True).encode())
    for name in ("text", "labels"):
        if name in table.table.column_names:
            for chunk in table.table.column(name).chunks:
                h.update(f"|{chunk.offset}:{len(chunk)}|".encode())  # a slice shares its parent's buffers
                for buf in chunk.buffers():
                    if buf is not None:
                        h.update(memoryview(buf))
    return h.hexdigest()[:32]


class _quiet:
    """datasets' progress bars off while mapping (they would fill the run log)."""

    def __enter__(self):
        import datasets

        self.was = datasets.is_progress_bar_enabled()
        datasets.disable_progress_bars()

    def __exit__(self, *exc):
        import datasets

        if self.was:
            datasets.enable_progress_bars()
