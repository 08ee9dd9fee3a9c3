"""The search space of a study: {recipe knob name: Optuna distribution}, from three sources, later winning
per knob: the task's default for the method (workbench/tasks/tune_space.py; only when neither of the others
gives a space), the recipe's `[tune.space]` table, and `--space KEY=SPEC` flags.

A SPEC is `LO..HI` (a range of a number knob: ints for an int knob, on a log scale for rates and decay, or
when HI is 100x LO or more) or `a,b,c` (a list of values, each parsed as `--set` parses the knob: true,
8, 1e-4, balanced). Every key is checked against the schema, every value against its knob; a bad one is
refused in one line naming the --space item or the recipe file's line. The recipe's own value of a listed
knob joins its list: trial 0 is the recipe's own values, and Optuna asks only values of the list.
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
    space: Space = {}
    if not recipe.tune.space and not given:
        space = _default_space(recipe, method)
    for name, spec in recipe.tune.space.items():
        line = _line_of(recipe, name)
        where = f"tune.space {name} = {spec!r}"

        def in_recipe(message: str, where: str = where, line: int | None = line) -> UserError:
            return UserError(f"{where}: {message}", path=recipe.path, line=line)

        space[name] = distribution(name, spec, method, in_recipe)
    for item in given:
        name, eq, spec = (p.strip() for p in item.partition("="))

        def in_flag(message: str, item: str = item) -> UserError:
            return UserError(f"--space {item}: {message}")

        if not eq or not name or not spec:
            raise in_flag("expected KEY=LO..HI or KEY=a,b,c, e.g. train.learning_rate=1e-5..1e-3 or lora.r=8,16,32")
        space[name] = distribution(name, spec, method, in_flag)
    return {name: _with_own_value(dist, recipe.values[name], BY_NAME[name]) for name, dist in space.items()}


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
    # A table of class weights is the user's own choice for their labels: it is kept, not searched.
    return {name: dist for name, dist in space.items()
            if _as_param(BY_NAME[name], recipe.values[name]) is not None}


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


def _with_own_value(dist: BaseDistribution, value: Any, knob: Knob) -> BaseDistribution:
    own = _as_param(knob, value)
    if not isinstance(dist, CategoricalDistribution) or own is None or own in dist.choices:
        return dist
    return CategoricalDistribution([*dist.choices, own])


def _line_of(recipe: Recipe, name: str) -> int | None:
    """The recipe file's line that sets `name` in its tune.space ([tune.space] or an inline table)."""
    if recipe.path is None or not recipe.path.is_file():
        return None
    text = recipe.path.read_text(encoding="utf-8-sig")
    return _locate(text, "tune.space", name) or _locate(text, "tune", "space")
