"""What one recipe stands for when it names several runs: methods (each with its own overrides) ×
sweep trials (a grid, or random draws) × seeds, all in one group.

A recipe's `[sweep]` table names knobs and their values, and `--sweep KEY=V1,V2` adds more:

    [sweep]
    "train.learning_rate" = [1e-4, 3e-4, 1e-3]      # grid (default): every combination
    "lora.r" = [8, 16, 32]
    # mode = "random", trials = 12                   # random: 12 draws; a range draws from an interval
    # "train.learning_rate" = { min = 1e-5, max = 1e-3 }   # log-uniform (rates, decay); else uniform

`methods` entries may carry their own knobs: `methods = ["lora", { method = "full",
"train.learning_rate" = 2e-5 }]`. Every value is checked against its knob here, before anything
starts; each run's frozen recipe is then a single run (sweep, seeds and methods cleared).

The runs of a group compare like with like: random draws are distinct (without replacement); the
knobs declared `judged_on` (the rows runs are scored on) are never swept nor set per method; a knob
varies only the runs of the methods that read it (`Knob.methods`, from its section's USED_BY), so a
LoRA rank study beside a full fine-tune runs the full one once per seed.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from workbench.errors import UserError
from workbench.recipe import schema
from workbench.recipe.schema import BY_NAME
from workbench.recipe.sections import RecipeView, Sweep
from workbench.recipe.suggest import did_you_mean

# Knobs a sweep cannot vary: they say how many runs there are and how they are grouped, or where
# they go (a sweep is one group on one target). Nor can it vary the knobs declared `judged_on` (the rows
# the runs are scored on) or a knob in runs of a method that does not read it (`Knob.methods`).
NOT_SWEPT = ("name", "group", "seeds", "methods", "description", "task", "model.method", "train.seed")
NOT_SWEPT_SECTIONS = ("sweep", "tune", "launch")
RANGE_KEYS = {"min", "max", "log"}
# The knobs that pick the training rows. Without a validation file or split the validation rows are
# held out of those rows, so varying one varies what the trials are judged on too.
TRAINING_ROWS = ("data.train_file", "data.dataset", "data.train_split")


@dataclass(frozen=True)
class Range:
    """A random sweep's interval: log-uniform when `log`, else uniform; ints are rounded."""
    lo: float
    hi: float
    log: bool

    def draw(self, rng: random.Random, kind: str) -> Any:
        x = math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))) if self.log else rng.uniform(self.lo, self.hi)
        return int(round(x)) if kind == "int" else float(f"{x:.4g}")

    def __str__(self) -> str:
        return f"{'log-uniform' if self.log else 'uniform'} [{self.lo:g}, {self.hi:g}]"


Axis = list[Any] | Range


def is_range_table(v: Any) -> bool:
    return isinstance(v, dict) and bool(v) and set(v) <= RANGE_KEYS and {"min", "max"} <= set(v)


def flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """TOML's dotted keys nest (`train.learning_rate = [...]` is {"train": {"learning_rate": [...]}});
    quoted ones do not. Both mean the knob `train.learning_rate`; a range table stays one value."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and not is_range_table(v):
            out.update(flatten(v, name + "."))
        else:
            out[name] = v
    return out


def check_axis(name: str, value: Any, fail: Callable[[str], Exception], where: str = "sweep") -> Axis:
    """One knob's values (a non-empty list, each checked against the knob) or a range."""
    knob = BY_NAME.get(name)
    if knob is None or name.startswith("sweep."):

        raise fail(f"{where} key {name} is not a knob{did_you_mean(name, [k for k in BY_NAME if not k.startswith('sweep.')])}")
    if name in NOT_SWEPT or knob.section in NOT_SWEPT_SECTIONS:
        why = ("use seeds = [...] or --seeds" if name in ("seeds", "train.seed") else "use methods = [...]"
               if name == "model.method" else "one group runs on one target" if knob.section == "launch"
               else "a sweep is no study: `workbench tune` reads them" if knob.section == "tune"
               else "it names or groups the runs")
        raise fail(f"{where} key {name} cannot be swept (a sweep varies training knobs; {why})")
    if knob.judged_on:
        raise fail(f"{where} key {name} cannot be swept: it selects the rows the trials are scored on, so they "
                   "would be judged on different data")
    if is_range_table(value):
        if knob.kind not in ("int", "float"):
            raise fail(f"{where} {name} = {{ min, max }}: a range needs a number knob; {name} is {knob.expected()}")
        lo, hi = value["min"], value["max"]
        log = value.get("log", knob.key in ("learning_rate", "weight_decay"))
        for v in (lo, hi):
            got = schema.coerce(knob, v)
            if got.error:
                raise fail(f"{where} {got.error}")
        if not isinstance(log, bool) or not lo < hi or (log and lo <= 0):
            raise fail(f"{where} {name} = {{ min = {lo}, max = {hi} }}: expected min < max"
                       + (" and min > 0 (log-uniform)" if log else "") + ", log = true or false")
        return Range(float(lo), float(hi), log)
    if not isinstance(value, list):
        raise fail(f"{where} {name} = {value!r}: expected a list of values, e.g. [1e-4, 3e-4], or a range "
                   "{ min = ..., max = ... } (sweep.mode = \"random\")")
    if not value:
        raise fail(f"{where} {name} = []: expected at least one value")
    out = []
    for v in value:
        got = schema.coerce(knob, v)
        if got.error:
            raise fail(f"{where} {got.error}")
        if got.value in out:
            raise fail(f"{where} {name} = {value!r}: {got.value!r} is listed twice (each value once: a trial "
                       "run twice is no second seed)")
        out.append(got.value)
    return out


def parse_flag(text: str) -> tuple[str, Axis]:
    """`--sweep KEY=V1,V2,...` (each value parsed as `--set` parses it), `KEY=[...]` (a TOML list, for
    values holding commas) or `KEY=LO..HI` (a range, for sweep.mode = "random")."""
    if "=" not in text:
        raise UserError(f"--sweep {text!r}: expected section.key=value1,value2,... (or lo..hi)")
    name, _, rhs = (p.strip() for p in text.partition("="))
    knob = BY_NAME.get(name)

    def fail(msg: str) -> UserError:
        return UserError(f"--{msg}" if msg.startswith("sweep") else msg)

    if knob is None:
        return name, check_axis(name, [], fail)  # raises: not a knob
    if rhs.startswith("["):
        import tomllib

        try:
            items = tomllib.loads(f"v = {rhs}")["v"]
        except tomllib.TOMLDecodeError:
            raise UserError(f"--sweep {name}: {rhs!r} is not a TOML list") from None
        return name, check_axis(name, items, fail)
    if ".." in rhs and knob.kind in ("int", "float"):
        lo, _, hi = rhs.partition("..")
        nums = [schema.coerce(knob, x.strip(), from_text=True) for x in (lo, hi)]
        bad = next((n.error for n in nums if n.error), None)
        if bad:
            raise UserError(f"--sweep {bad}")
        return name, check_axis(name, {"min": nums[0].value, "max": nums[1].value}, fail)
    values = []
    for item in (p.strip() for p in rhs.split(",")):
        if not item:
            continue
        got = schema.coerce(knob, item, from_text=True)
        if got.error:
            raise UserError(f"--sweep {got.error}")
        values.append(got.value)
    return name, check_axis(name, values, fail)


def split_methods(raw: Any, fail: Callable[[str], Exception]) -> tuple[Any, dict[str, dict[str, Any]]]:
    """`methods` with inline tables -> (the method names, {method: {knob: value}})."""
    if not isinstance(raw, list) or not any(isinstance(m, dict) for m in raw):
        return raw, {}
    names: list[Any] = []
    overrides: dict[str, dict[str, Any]] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            names.append(entry)
            continue
        flat = flatten(entry)
        method = flat.pop("method", None)
        if method not in schema.METHODS:
            raise fail(f"methods entry {entry!r}: expected {{ method = \"lora\" or \"full\", knob = value, ... }}")
        if method in names:
            raise fail(f"methods names {method} twice: one entry per method (a [sweep] varies its knobs)")
        checked = {}
        for name, value in flat.items():
            knob = BY_NAME.get(name)
            if knob is None or name in NOT_SWEPT or knob.section in NOT_SWEPT_SECTIONS:
                raise fail(f"methods entry {method}: {name} is not a training knob a method can set")
            if knob.judged_on:
                raise fail(f"methods entry {method}: {name} cannot differ between methods: it selects the rows "
                           "the runs are scored on, so they would be judged on different data")
            got = schema.coerce(knob, value)
            if got.error:
                raise fail(f"methods entry {method}: {got.error}")
            if not knob.used_by(method) and got.value != knob.default:  # quant.use_4bit = false: 4 bits off
                raise fail(f"methods entry {method}: {name} applies to method {', '.join(knob.methods)} only")
            checked[name] = got.value
        names.append(method)
        overrides[method] = checked
    return names, overrides


def trials(sweep: Sweep, axes: dict[str, Axis]) -> list[dict[str, Any]]:
    """The sweep's trials, each {knob: value}; [{}] without a sweep."""
    if not axes:
        return [{}]
    mode, n, cap = sweep.mode, sweep.trials, sweep.max_trials
    if mode == "grid":
        ranged = [k for k, a in axes.items() if isinstance(a, Range)]
        if ranged:
            raise UserError(f"sweep {ranged[0]} is a range: a grid needs lists of values (or set sweep.mode = \"random\")")
        total = math.prod(len(a) for a in axes.values() if isinstance(a, list))
        if total > cap:
            raise UserError(f"the sweep's grid has {total} trials (" + " × ".join(
                str(len(a)) for a in axes.values() if isinstance(a, list)) + f"), more than sweep.max_trials = {cap}: "
                "fewer values, sweep.mode = \"random\" with sweep.trials, or raise sweep.max_trials")
        names = list(axes)
        lists: list[list[Any]] = [a for a in (axes[k] for k in names) if isinstance(a, list)]
        return [dict(zip(names, combo)) for combo in itertools.product(*lists)]
    if n < 1:
        raise UserError("sweep.mode = \"random\" needs sweep.trials >= 1 (how many draws)")
    if n > cap:
        raise UserError(f"sweep.trials = {n} is more than sweep.max_trials = {cap}")
    return draws(axes, n, random.Random(sweep.seed))


def points(name: str, axis: Axis) -> int | None:
    """How many distinct values an axis gives: a list's values, an int range's integers; None for a
    float range (drawn to 4 significant digits: endless for a sweep's purposes)."""
    if isinstance(axis, list):
        return len(axis)
    return math.floor(axis.hi) - math.ceil(axis.lo) + 1 if BY_NAME[name].kind == "int" else None


def draws(axes: dict[str, Axis], n: int, rng: random.Random) -> list[dict[str, Any]]:
    """`n` distinct trials drawn without replacement: a sample of the grid's points when every axis is a
    list, else point by point, a point drawn before drawn again. More trials than distinct points are
    refused (two runs of one trial would pass for a spread over seeds of 0)."""
    names = list(axes)
    sizes = {k: points(k, a) for k, a in axes.items()}
    counts = [c for c in sizes.values() if c is not None]
    if len(counts) == len(sizes) and n > (total := math.prod(counts)):
        raise UserError(f"sweep.trials = {n}, but the sweep has only {total} distinct trials ("
                        + ", ".join(f"{k}: {c} value{'s' * (c != 1)}" for k, c in sizes.items())
                        + f"): at most {total} trials, or more values")
    lists = [a for a in axes.values() if isinstance(a, list)]
    if len(lists) == len(names):
        out = []
        for index in rng.sample(range(math.prod(len(a) for a in lists)), n):
            point = []
            for a in reversed(lists):  # the index in mixed radix: the last knob varies fastest, as in a grid
                index, at = divmod(index, len(a))
                point.append(a[at])
            out.append(dict(zip(names, reversed(point))))
        return out
    drawn: dict[str, dict[str, Any]] = {}
    for _ in range(100 * n):
        trial = {k: a.draw(rng, BY_NAME[k].kind) if isinstance(a, Range) else rng.choice(a) for k, a in axes.items()}
        drawn.setdefault(repr(list(trial.values())), trial)
        if len(drawn) == n:
            return list(drawn.values())
    raise UserError(f"sweep.trials = {n}: only {len(drawn)} distinct trials came of {100 * n} draws from ranges of "
                    "few integers; fewer trials or wider ranges")


def check_training_rows(recipe: RecipeView, axes: dict[str, Axis], method_overrides: dict[str, dict[str, Any]]) -> None:
    """A knob of TRAINING_ROWS neither swept nor set per method while validation is held out of the training data."""
    if recipe.data.validation_file or recipe.data.validation_split:
        return
    why = ("while the validation rows are held out of the training data (no data.validation_file or "
           "data.validation_split): the trials would be judged on different data; give validation its own file or split")
    for name in TRAINING_ROWS:
        if name in axes:
            raise UserError(f"sweep key {name} cannot be swept {why}")
        method = next((m for m, o in method_overrides.items() if name in o), None)
        if method is not None:
            raise UserError(f"methods entry {method}: {name} cannot differ between methods {why}")


def expand(recipe: RecipeView, axes: dict[str, Axis], method_overrides: dict[str, dict[str, Any]],
           seeds: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Every run the recipe stands for, as the changes that make its single-run recipe:
    methods (outermost) × trials × seeds (innermost), each method's trials over the knobs it reads."""
    seeds = list(seeds or recipe.seeds or [recipe.train.seed])
    methods = recipe.methods or [recipe.model.method]
    both = sorted({k for o in method_overrides.values() for k in o} & set(axes))
    if both:
        raise UserError(f"{both[0]} is both swept and set by a methods entry: set it in one place")
    unread = next((k for k in axes if not any(BY_NAME[k].used_by(m) for m in methods)), None)
    if unread:
        raise UserError(f"sweep key {unread} varies nothing: it applies to method {', '.join(BY_NAME[unread].methods)}, "
                        f"and the recipe runs {', '.join(methods)}")
    check_training_rows(recipe, axes, method_overrides)
    every = trials(recipe.sweep, axes)
    out = []
    for method in methods:
        # a knob the method does not read (lora.* for a full fine-tune) is left out of its runs: one run
        # per distinct trial of the knobs it reads, not one per LoRA rank
        own: list[dict[str, Any]] = []
        for trial in every:
            read = {k: v for k, v in trial.items() if BY_NAME[k].used_by(method)}
            if read not in own:
                own.append(read)
        for trial in own:
            for seed in seeds:
                out.append({**method_overrides.get(method, {}), **trial, "model.method": method, "train.seed": seed,
                            "seeds": [], "methods": []})
    return out
