"""What a --set of the user's own data replaces in a recipe, so a shipped recipe takes a user's data on
the command line: a label form given there replaces the recipe file's other label form (and the knobs that
belong to it), and a name and description the recipe had for its own data give way to ones from the new
data. The command line wins over the recipe file; a recipe file naming its own data keeps its name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.recipe.schema import BY_NAME
from workbench.recipe.sections import Data, RecipeView, view_of
from workbench.wording import counted

# The forms of a classification's labels: 0/1 columns (a map, or a list of columns), or one column of
# classes or label lists; each with the knobs read only with it.
FORMS = {"data.labels": "columns", "data.label_columns": "columns", "data.label_column": "column"}
WITH_FORM = {"columns": ("data.label_values",), "column": ("data.label_separator", "data.label_map")}
# The knobs that say where the training data is.
DATA_SOURCE = ("data.train_file", "data.dataset")


def clear_item(name: str) -> str:
    """The --set item that clears knob `name` (its empty value), quoted for a shell."""
    empty = {"str_map": "{}", "str_list": "[]"}.get(BY_NAME[name].kind, "")
    return f"--set '{name}={empty}'"


def _given(value: Any) -> bool:
    return value not in ("", [], {})


def replace_label_form(values: dict[str, Any], explicit: set[str], set_here: set[str], path: Path | None) -> None:
    """A label form given by --set replaces the recipe file's others (reset to their defaults, as are the
    knobs read only with them); two forms given by --set are refused, naming the --set that clears one."""
    given = [name for name in FORMS if name in set_here and _given(values[name])]
    if len(given) > 1:
        raise UserError(f"--set {given[0]} and --set {given[1]} give two label forms: keep one (drop the other's "
                        f"--set, or clear it with {clear_item(given[0])})", path=path)
    if not given:
        return
    kept = FORMS[given[0]]
    for name in [n for n in FORMS if n != given[0]] + [k for form, ks in WITH_FORM.items() if form != kept for k in ks]:
        if name not in set_here:
            values[name] = BY_NAME[name].default
            explicit.discard(name)


def renamed_for_data(values: dict[str, Any], before: dict[str, Any], set_here: set[str]) -> dict[str, str]:
    """Where --set replaced the recipe's training data, its name and description (unless --set gives them
    too) from the new data, as changes to `values`: the recipe's were about its own data."""
    if not any(k in set_here and values[k] != before[k] for k in DATA_SOURCE):
        return {}
    recipe = view_of(values)
    new = {"name": data_name(recipe.data), "description": data_description(recipe)}
    return {k: v for k, v in new.items() if k not in set_here}


def data_name(data: Data) -> str:
    """The training data's name, made safe for a run id: its file's stem (its folder's name for a stem
    that only says it is training data: sst2/train.tsv is sst2), or the dataset's last path part."""
    if data.dataset:
        name = Path(data.dataset.rstrip("/")).name
    else:
        path = Path(data.train_file)
        name = path.parent.name if path.stem.lower() in _GENERIC and path.parent.name else path.stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.-") or "data"


_GENERIC = {"train", "training", "train_data", "training_data", "data", "dataset", "all", "full"}


def data_description(recipe: RecipeView) -> str:
    """One line from the data knobs: the data, its labels, the model and method(s), e.g.
    "reviews.csv: column sentiment; tiny:distilbert, lora"."""
    data = recipe.data
    where = data.dataset or Path(data.train_file).name
    if data.dataset and data.dataset_config:
        where += f" ({data.dataset_config})"
    n = len(data.labels or data.label_columns)
    labels = (f"{data.label_column}, {len(data.classes)} classes" if data.label_column and data.classes
              else f"column {data.label_column}" if data.label_column
              else counted(n, "label") if n else "")
    methods = ", ".join(recipe.methods) or recipe.model.method
    model = recipe.model.source.spec
    model = Path(model).name if model.startswith(("/", "~", ".")) else model  # a model folder: its name
    return f"{where}{': ' + labels if labels else ''}; {model}, {methods}"
