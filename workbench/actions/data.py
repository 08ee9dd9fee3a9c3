"""`workbench data RECIPE` (and the editor's Data tab): the recipe's data as training will see it,
before training. Per split (train, validation — its file or split, or the fixed-seed holdout — and
test): rows, label distribution, length percentiles with the recipe's own tokenizer (and how many
rows `model.max_length` truncates), exact duplicate texts within the split and shared with train.

The numbers come from workbench/data/profile.py; the texts and labels from the task
(`Task.profile_rows`). The CLI prints the profile and the editor's Data tab shows it through
workbench/profile_view.py. Bad recipes and data files are UserError, as in `workbench validate`; a
tokenizer that cannot be had falls back to character lengths, said in the profile's lengths note.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.actions.validate import checked_recipe
from workbench.data.profile import DataProfile, SplitProfile, leakage, profile_split
from workbench.tasks import get_task
from workbench.tasks.base import TaskData


def profile_recipe(path: str, overrides: Sequence[str] = ()) -> DataProfile:
    """The profile of a recipe file (or a shipped recipe's name) with `overrides`; UserError on a
    bad recipe or data file."""
    recipe = checked_recipe(path, overrides)
    values = recipe.values
    task = get_task(values)
    splits = task.load_splits()
    tokenizer, note = recipe_tokenizer(task, splits.train)
    named = [("train", splits.train), ("validation", splits.validation)]
    if splits.test is not None:
        named.append(("test", splits.test))
    rows = None
    if tokenizer is not None:
        try:
            rows = {name: task.profile_rows(records, tokenizer) for name, records in named}
        except Exception as e:  # e.g. a model without a chat template: the lengths fall back, not the command
            tokenizer, note = None, f"lengths in characters: {_first_line(e)}"
    if rows is None:
        rows = {name: task.profile_rows(records, None) for name, records in named}
    unit = "tokens" if tokenizer is not None else "characters"
    profiles: list[SplitProfile] = []
    for split, _ in named:
        texts = rows[split].texts
        lengths = token_lengths(tokenizer, texts) if tokenizer is not None else [len(t) for t in texts]
        profiles.append(profile_split(split, rows[split], lengths, label_names=splits.label_names, unit=unit,
                                      max_length=recipe.model.max_length))
    leaks = {split: leakage(rows["train"].texts, rows[split].texts, rows[split].shown) for split, _ in named if split != "train"}
    return DataProfile(recipe.name, recipe.task, splits.label_word, note, profiles, leaks)


def recipe_tokenizer(task: TaskData, train) -> tuple[Any, str]:
    """(tokenizer, how lengths are measured): the tokenizer training uses, weights left unloaded
    (a tiny: source is built as training builds it, from the training texts, and cached for it);
    (None, why) when it cannot be had (offline and not cached, no such folder)."""
    recipe = task.recipe
    source = recipe.model.source.spec
    try:
        from workbench.models.load import load_tokenizer, quiet_transformers
        from workbench.models.source import parse_source, resolve_source

        quiet_transformers()
        tiny = parse_source(source).kind == "tiny"
        path = resolve_source(recipe, task.tokenizer_texts(train) if tiny else None)
        tokenizer = load_tokenizer(path, recipe.data.chat_template)
    except Exception as e:  # any failure here is a fallback to characters, never a traceback
        return None, f"lengths in characters: no tokenizer for {source} ({_first_line(e)})"
    return tokenizer, f"lengths in tokens of {source}'s tokenizer"


def token_lengths(tokenizer, texts: list[str]) -> list[int]:
    """Tokens per text with the special tokens training adds (none more before a text that starts
    with the bos token itself, as a chat template's output does)."""
    bos = tokenizer.bos_token
    starts = [bool(bos) and t.startswith(bos) for t in texts]
    out = [0] * len(texts)
    for special in (True, False):
        idx = [i for i, s in enumerate(starts) if s != special]
        if idx:
            enc = tokenizer([texts[i] for i in idx], add_special_tokens=special, truncation=False, verbose=False)
            for i, ids in zip(idx, enc["input_ids"]):
                out[i] = len(ids)
    return out


def _first_line(e: BaseException) -> str:
    text = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
