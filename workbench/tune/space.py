"""The search space of a study: {recipe knob name: Optuna distribution}, from three sources, later winning
per knob: the task's default for the method (workbench/tasks/tune_space.py; only when neither of the others
gives a space), the recipe's `[tune.space]` table, and `--space KEY=SPEC` flags.

A SPEC is `LO..HI` (a range of a number knob: ints for an int knob, on a log scale for rates and decay, or
when HI is 100x LO or more) or `a,b,c` (a list of values, each parsed as `--set` parses the knob: true,
8, 1e-4, balanced). Every key is checked against the schema, every value against its knob; a bad one is
refused in one line naming the --space item or the recipe file's line. Trial 0 is the recipe's own values,
so each knob's distribution holds the recipe's own value: it joins a list, and a range widens to reach it
(a log range stays log; a whole-epoch grid the value is off loses its step). train.epochs is the pruner's
clock: with tune.pruner on, the default space leaves it out and a given space may not search it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from workbench.errors import UserError
from workbench.recipe import Recipe, schema
from workbench.recipe.load import _locate
from workbench.recipe.schema import BY_NAME, Knob
from workbench.recipe.suggest import did_you_mean
from workbench.recipe.sweep import NOT_SWEPT, NOT_SWEPT_SECTIONS
from workbench.tasks import task_class
from workbench.tasks.tune_space import TunesDefault

Space = dict[str, BaseDistribution]
Fail = Callable[[str], UserError]

# Knobs drawn on a log scale whatever their range: their effect goes by ratio (1e-5 to 1e-4 matters as
# much as 1e-4 to 1e-3). Any other range of 100x or more is drawn so too.
LOG_SUFFIXES = ("learning_rate", "lr", "weight_decay")
LOG_SPAN = 100.0
# Knobs a list can hold: one value each (a list of lists or a table has no place in a distribution).
LISTABLE = ("int", "float", "bool", "str", "choice", "float_map")


def search_space(recipe: Recipe, given: Sequence[str] = ()) -> Space:
    """The study's space for `recipe` and the `--space KEY=SPEC` items `given` (see the module's doc)."""
    method = _method(recipe)
    pruner = recipe.tune.pruner
    space: Space = {}
    fails: dict[str, Fail] = {}
    if not recipe.tune.space and not given:
        space = _default_space(recipe, method)

        def in_default(message: str) -> UserError:
            return UserError(f"the task's default tune space: {message}", path=recipe.path)

        fails = dict.fromkeys(space, in_default)
    for name, spec in recipe.tune.space.items():
        where = f"tune.space {name} = {spec!r}"

        def in_recipe(message: str, where: str = where, name: str = name) -> UserError:
            # the file is read for its line only when there is an error to point at
            return UserError(f"{where}: {message}", path=recipe.path, line=_line_of(recipe, name))

        space[name], fails[name] = _clocked(name, pruner, distribution(name, spec, method, in_recipe), in_recipe), in_recipe
    for item in given:
        name, eq, spec = (p.strip() for p in item.partition("="))

        def in_flag(message: str, item: str = item) -> UserError:
            return UserError(f"--space {item}: {message}")

        if not eq or not name or not spec:
            raise in_flag("expected KEY=LO..HI or KEY=a,b,c, e.g. train.learning_rate=1e-5..1e-3 or lora.r=8,16,32")
        space[name], fails[name] = _clocked(name, pruner, distribution(name, spec, method, in_flag), in_flag), in_flag
    return {name: _with_own_value(dist, recipe.values[name], BY_NAME[name], fails[name]) for name, dist in space.items()}


def distribution(name: str, spec: str, method: str, fail: Fail) -> BaseDistribution:
    """One knob's distribution from its SPEC; `fail(message)` makes the error naming where it came from."""
    knob = _tunable(name, method, fail)
    text = spec.strip()
    if ".." in text and knob.kind in ("int", "float"):
        return _range(knob, text, fail)
    if ".." in text and knob.kind not in ("str", "choice"):
        raise fail(f"a range LO..HI needs a number knob; {name} is {knob.expected()}")
    if knob.kind not in LISTABLE:
        raise fail(f"{name} is {knob.expected()}: a search space lists single values (numbers, true/false, text)")
    return _listed(knob, text, fail)


def trial_recipe_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's params ({knob: value} as Optuna holds them) as recipe values (`recipe.single(...)`):
    each value typed as its knob's (class weights "none" is the empty table)."""
    out = {}
    for name, value in params.items():
        got = schema.coerce(BY_NAME[name], value)
        assert got.error is None, got.error  # the space only holds values its knobs accept
        out[name] = got.value
    return out


def own_params(recipe: Recipe, space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """The recipe's own values of the space's knobs, as Optuna holds them: trial 0's params
    (`study.enqueue_trial`). A value no distribution can hold (a class-weights table) is left out."""
    out = {}
    for name in space:
        value = _as_param(BY_NAME[name], recipe.values[name])
        if value is not None:
            out[name] = value
    return out


def _method(recipe: Recipe) -> str:
    methods = recipe.view.methods or [recipe.model.method]
    if len(methods) > 1:
        raise UserError(f"methods = {methods!r}: a study tunes one method (its knobs and rates differ); tune each "
                        "in a recipe of its own (model.method)", path=recipe.path, line=recipe.line_of("methods"))
    return methods[0]


def _default_space(recipe: Recipe, method: str) -> Space:
    cls = task_class(recipe.task)
    if not isinstance(cls, TunesDefault):
        raise UserError(f"task {recipe.task} has no default search space: give one in the recipe's [tune.space] "
                        "or as --space KEY=LO..HI / KEY=a,b,c", path=recipe.path)
    space = {name: dist for name, dist in cls.default_tune_space(method).items() if BY_NAME[name].used_by(method)}
    if recipe.tune.pruner != "none":  # every trial runs the recipe's epochs; the pruner stops the poor ones early
        space.pop("train.epochs", None)
    # Warm-up given in steps is kept, not searched: the task's range is a share of all steps (below 1), a
    # different unit, and a range of steps that suits the data needs its step count, which no space knows.
    if recipe.train.warmup_steps >= 1:
        space.pop("train.warmup_steps", None)
    # A table of class weights is the user's own choice for their labels: it is kept, not searched.
    return {name: dist for name, dist in space.items()
            if _as_param(BY_NAME[name], recipe.values[name]) is not None}


def _clocked(name: str, pruner: str, dist: BaseDistribution, fail: Fail) -> BaseDistribution:
    """`dist`, unless it searches train.epochs while a pruner judges trials epoch by epoch: a 5-epoch trial's
    schedule is young at epoch 1 where a 1-epoch trial's has ended, so longer trials would be pruned more."""
    if name == "train.epochs" and pruner != "none":
        raise fail(f"train.epochs cannot be searched while tune.pruner = {pruner!r} stops trials by their epochs "
                   "(trials of other lengths do not compare at an epoch): set tune.pruner = \"none\", or drop "
                   "train.epochs from the space")
    return dist


def _tunable(name: str, method: str, fail: Fail) -> Knob:
    knob = BY_NAME.get(name)
    if knob is None:
        raise fail(f"{name} is not a knob{did_you_mean(name, BY_NAME)}")
    if name == "train.seed":
        raise fail("train.seed cannot be tuned (a trial that wins by its seed wins by luck: tune on one seed, "
                   "then run the best recipe with seeds = [...])")
    if name == "model.method":
        raise fail("model.method cannot be tuned (each method has its own knobs and rates: tune each in a "
                   "recipe of its own)")
    if knob.section == "launch":
        raise fail(f"{name} cannot be tuned (it says where and how the trials train, not what they learn)")
    if name in NOT_SWEPT or knob.section in NOT_SWEPT_SECTIONS:
        raise fail(f"{name} cannot be tuned (it names, groups or counts the runs)")
    if knob.judged_on:
        raise fail(f"{name} cannot be tuned: it selects the rows the trials are scored on, so they would be "
                   "judged on different data")
    if knob.kind == "path":
        raise fail(f"{name} cannot be tuned (a file is data, not a setting)")
    if not knob.used_by(method):
        raise fail(f"{name} cannot be tuned: runs of model.method = {method!r} do not read it")
    return knob


def _range(knob: Knob, text: str, fail: Fail) -> BaseDistribution:
    lo_text, _, hi_text = (p.strip() for p in text.partition(".."))
    bounds = []
    for part in (lo_text, hi_text):
        got = schema.coerce(knob, part, from_text=True) if part else schema.Coerced(error=f"{knob.name}: LO..HI "
                                                                                           "needs both ends")
        if got.error:
            raise fail(got.error)
        bounds.append(got.value)
    lo, hi = bounds
    if not lo < hi:
        raise fail(f"expected LO < HI ({knob.name} drawn from LO to HI)")
    log = lo > 0 and (knob.key.endswith(LOG_SUFFIXES) or hi / lo >= LOG_SPAN)
    if knob.kind == "int":
        return IntDistribution(int(lo), int(hi), log=log)
    return FloatDistribution(float(lo), float(hi), log=log)


def _listed(knob: Knob, text: str, fail: Fail) -> CategoricalDistribution:
    choices: list[Any] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise fail(f"an empty value in the list (expected values of {knob.expected()}, comma-separated)")
        got = schema.coerce(knob, part, from_text=True)
        if got.error:
            raise fail(got.error)
        value = _as_param(knob, got.value)
        if value is None:
            raise fail(f"{knob.name} = {part!r}: a table cannot be listed (expected "
                       f"{' or '.join(repr(c) for c in knob.choices)})")
        if value in choices:
            raise fail(f"{value!r} is listed twice")
        choices.append(value)
    return CategoricalDistribution(choices)


def _as_param(knob: Knob, value: Any) -> Any:
    """A knob's typed value as a distribution holds it; None where none can (a table, a list)."""
    if knob.kind == "float_map":
        return "none" if value == {} else value if isinstance(value, str) else None
    return value if isinstance(value, (bool, int, float, str)) else None


def _with_own_value(dist: BaseDistribution, value: Any, knob: Knob, fail: Fail) -> BaseDistribution:
    """`dist` holding the recipe's own `value` (trial 0's): a list gains it, a range widens to it."""
    own = _as_param(knob, value)
    if own is None:
        return dist
    if isinstance(dist, CategoricalDistribution):
        return dist if own in dist.choices else CategoricalDistribution([*dist.choices, own])
    assert isinstance(dist, (FloatDistribution, IntDistribution)), dist  # the kinds this module makes
    if knob.name == "train.warmup_steps":
        _same_unit(dist, own, fail)
    on_grid = dist.step is None or float((own - dist.low) / dist.step).is_integer()
    if dist.low <= own <= dist.high and on_grid:
        return dist
    if dist.log and own <= 0:
        raise fail(f"the recipe's {knob.name} = {own:g} cannot join a log-scale range (trial 0 is the recipe's own "
                   f"values): give a range from 0, or set {knob.name} inside {dist.low:g}..{dist.high:g}")
    low, high = min(dist.low, own), max(dist.high, own)
    if isinstance(dist, IntDistribution):
        return IntDistribution(int(low), int(high), log=dist.log, step=dist.step)
    return FloatDistribution(float(low), float(high), log=dist.log, step=dist.step if on_grid else None)


def _same_unit(dist: FloatDistribution | IntDistribution, own: float, fail: Fail) -> None:
    """train.warmup_steps is a share of all steps below 1 and a step count from 1: a range of shares cannot
    widen to a count (0..100 would draw shares and counts alike), nor one of counts to a share. 0 is both."""
    if own >= 1 and dist.high < 1:
        raise fail(f"the recipe's train.warmup_steps = {own:g} is in steps (1 and above) but this range is a share "
                   f"of all steps (below 1): give a range of steps, e.g. 0..{2 * own:g}, or set "
                   "train.warmup_steps below 1")
    if 0 < own < 1 and dist.high >= 1:
        raise fail(f"the recipe's train.warmup_steps = {own:g} is a share of all steps (below 1) but this range is "
                   "in steps (1 and above): give a range below 1, e.g. 0..0.2, or set train.warmup_steps in steps")


def _line_of(recipe: Recipe, name: str) -> int | None:
    """The recipe file's line that sets `name` in its tune.space ([tune.space] or an inline table)."""
    if recipe.path is None or not recipe.path.is_file():
        return None
    text = recipe.path.read_text(encoding="utf-8-sig")
    return _locate(text, "tune.space", name) or _locate(text, "tune", "space")
