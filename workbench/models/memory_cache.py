"""The memory estimate remembered between opens of the launch preview and dry runs.

Building the meta model takes torch, transformers and peft (seconds of imports) and a tiny model's
exact size takes its tokenizer, trained on the recipe's texts. The estimate (parameter counts and
bytes, before the GPUs it is set against) is kept in the cache (`WORKBENCH_CACHE`/estimates), keyed
by what it is computed from: the model's config.json bytes (a local folder, a hub model's cached
config), or for a tiny model its settings and its data files (path, size, mtime) with the recipe's
[data] section; the task's kind of head; the recipe's [model], [lora], [quant] and [train]
sections; and the versions of workbench, transformers and peft. A changed knob, data file or model
is a new key; deleting the cache costs only the rebuild.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.cache import cache_dir
from workbench.models.memory import MemoryEstimate, estimate
from workbench.recipe.sections import RecipeView

FORMAT = 1  # raised when what an entry holds, or how an estimate is made, changes


def cached_estimate(recipe: RecipeView, *, causal: bool, num_labels: int,
                    tiny_texts: Callable[[], list[str]]) -> MemoryEstimate | None:
    """The estimate of one training process of `recipe`; None when the model's config is not on
    this machine (a hub model not downloaded). `tiny_texts`: the training texts a tiny model's
    tokenizer is trained on, read only when the estimate is not cached."""
    identity = _identity(recipe)
    if identity is None:
        return None
    key = json.dumps([FORMAT, identity, causal, num_labels,
                      [_section(getattr(recipe, s)) for s in ("model", "lora", "quant", "train")], _versions()],
                     default=str)
    path = cache_dir("estimates") / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"
    try:
        return MemoryEstimate(**json.loads(path.read_text("utf-8")))
    except (OSError, ValueError, TypeError):
        pass  # not cached yet (or an unreadable entry): computed again below
    est = estimate(recipe, _config(recipe, tiny_texts), causal=causal, num_labels=num_labels)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{id(est)}.tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(est)), "utf-8")
        tmp.replace(path)  # atomic: a preview reading beside a dry run never sees half an entry
    except OSError:
        pass  # a cache that cannot be written only costs the estimate again next time
    return est


def _identity(recipe: RecipeView) -> list[Any] | None:
    from workbench.models.source import config_file

    spec = recipe.model.source.spec
    if spec.startswith("tiny:"):
        return [spec, _data_files(recipe), _section(recipe.data)]
    path = config_file(recipe)
    if path is None:
        return None
    try:
        return [hashlib.sha256(path.read_bytes()).hexdigest()]
    except OSError:
        return None


def _data_files(recipe: RecipeView) -> list[Any]:
    """(path, size, mtime) of each data file the recipe names: a tiny model's vocabulary follows its texts."""
    from workbench.recipe.schema import KNOBS

    out: list[Any] = []
    for knob in KNOBS:
        value = getattr(recipe.data, knob.name.split(".", 1)[1]) if knob.section == "data" and knob.kind == "path" else ""
        if value:
            try:
                st = Path(value).stat()
                out.append([str(Path(value).resolve()), st.st_size, st.st_mtime_ns])
            except OSError:
                out.append([value, None, None])
    return out


def _config(recipe: RecipeView, tiny_texts: Callable[[], list[str]]):
    """The config training builds the model from: a tiny model's as built (its vocabulary the one
    its trained tokenizer has), else the model's own config.json."""
    from workbench.models.source import resolve_source, source_config

    if recipe.model.source.spec.startswith("tiny:"):
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(resolve_source(recipe, tiny_texts()))
    return source_config(recipe)


def _section(section: Any) -> dict[str, Any]:
    return dataclasses.asdict(section)


def _versions() -> list[str]:
    from importlib.metadata import version

    return [version(p) for p in ("workbench", "transformers", "peft")]
