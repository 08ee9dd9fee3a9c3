"""Sweeps, declared in a recipe's [sweep] table or by --sweep flags, and per-method knobs: every run
a recipe stands for, and every bad sweep refused in one line before anything starts."""

import pytest

from workbench.errors import UserError
from workbench.recipe import load_recipe, recipe_from_dict

BASE = {"model": {"source": "tiny:bert"}, "data": {"train_file": "x.csv", "labels": {"a": "a"}}}


def recipe(sweeps=(), **tables):
    return recipe_from_dict({**BASE, **tables}, sweeps=list(sweeps))


def test_a_grid_crosses_every_value_with_methods_and_seeds():
    r = recipe(sweep={"train.learning_rate": [1e-4, 3e-4], "lora": {"r": [8, 16]}}, seeds=[1, 2])
    runs = r.runs()
    assert len(runs) == 8
    assert {(v["train.learning_rate"], v["lora.r"], v["train.seed"]) for v in runs} == {
        (lr, rank, s) for lr in (1e-4, 3e-4) for rank in (8, 16) for s in (1, 2)}
    assert all(v["seeds"] == [] and v["methods"] == [] for v in runs)  # each run's recipe is a single run
    single = r.single(runs[0])
    assert single.axes == {} and single["lora.r"] == runs[0]["lora.r"]
    assert single.runs() == [{"model.method": "lora", "train.seed": runs[0]["train.seed"], "seeds": [], "methods": []}]


def test_sweep_flags_parse_like_set_and_replace_the_recipes_values():
    r = recipe(["train.learning_rate=1e-3,2e-3", "train.length_grouping=true,false",
                "lora.target_modules=[[\"q\"], [\"q\", \"v\"]]"], sweep={"train.learning_rate": [1e-4]})
    assert r.axes == {"train.learning_rate": [1e-3, 2e-3], "train.length_grouping": [True, False],
                       "lora.target_modules": [["q"], ["q", "v"]]}
    assert len(r.runs()) == 8


def test_a_random_sweep_draws_the_same_trials_for_the_same_seed_within_its_ranges():
    spec = {"mode": "random", "trials": 6, "train.learning_rate": {"min": 1e-5, "max": 1e-3}, "lora.r": [4, 8, 16],
            "train.weight_decay": {"min": 0.0, "max": 0.1, "log": False}}
    a, b = recipe(sweep=spec).runs(), recipe(sweep=spec).runs()
    assert a == b and len(a) == 6
    assert all(1e-5 <= v["train.learning_rate"] <= 1e-3 and v["lora.r"] in (4, 8, 16) for v in a)
    assert len({v["train.learning_rate"] for v in a}) == 6
    other = recipe(sweep={**spec, "seed": 1}).runs()
    assert other != a
    assert recipe(["train.epochs=1..4"], sweep={"mode": "random", "trials": 5}).runs()[0]["train.epochs"] <= 4


def test_methods_carry_their_own_knobs():
    r = recipe(methods=["lora", {"method": "full", "train": {"learning_rate": 2e-5}}], sweep={"train.epochs": [1, 2]})
    runs = r.runs()
    assert [(v["model.method"], v.get("train.learning_rate"), v["train.epochs"]) for v in runs] == [
        ("lora", None, 1), ("lora", None, 2), ("full", 2e-5, 1), ("full", 2e-5, 2)]
    assert r["methods"] == ["lora", "full"]


@pytest.mark.parametrize("tables, sweeps, expected", [
    ({"sweep": {"train.lr": [1e-4]}}, (), "sweep key train.lr is not a knob (did you mean train.learning_rate?)"),
    ({}, ("lora.rank=8,16",), "--sweep key lora.rank is not a knob (did you mean lora.r?)"),
    ({"sweep": {"lora.r": [8, "x"]}}, (), "sweep lora.r = 'x' is not int in [1, 4096]"),
    ({}, ("lora.r=8,x",), "--sweep lora.r = 'x' is not int"),
    ({"sweep": {"lora.r": []}}, (), "sweep lora.r = []: expected at least one value"),
    ({}, ("lora.r=",), "--sweep lora.r = []: expected at least one value"),
    ({"sweep": {"lora.r": 8}}, (), "sweep lora.r = 8: expected a list of values"),
    ({"sweep": {"lora.r": list(range(1, 10)), "train.batch_size": list(range(1, 9))}}, (),
     "the sweep's grid has 72 trials (9 × 8), more than sweep.max_trials = 64"),
    ({"sweep": {"mode": "random", "trials": 65, "lora.r": [8]}}, (), "sweep.trials = 65 is more than sweep.max_trials = 64"),
    ({"sweep": {"train.learning_rate": {"min": 1e-5, "max": 1e-3}}}, (), "is a range: a grid needs lists of values"),
    ({"sweep": {"mode": "random", "train.learning_rate": [1e-4]}}, (), "needs sweep.trials >= 1"),
    ({"sweep": {"seeds": [[1, 2]]}}, (), "seeds cannot be swept"),
    ({"sweep": {"launch.gpus": [1, 2]}}, (), "launch.gpus cannot be swept"),
    ({"sweep": {"mode": "random", "trials": 2, "train.learning_rate": {"min": 0, "max": 1e-3}}}, (),
     "min > 0 (log-uniform)"),
    ({"methods": ["lora", {"method": "full", "train.learning_rate": 2e-5}], "sweep": {"train.learning_rate": [1e-4]}},
     (), "train.learning_rate is both swept and set by a methods entry"),
    ({"methods": ["lora", {"method": "full", "train.nope": 1}]}, (), "methods entry full: train.nope is not a training knob"),
    ({"methods": [{"method": "fulll"}]}, (), "expected { method = \"lora\" or \"full\""),
    ({"quant": {"use_4bit": True}, "model": {"source": "tiny:llama", "tiny_hidden_size": 64},
      "methods": ["lora", "full"]}, (), "quant.use_4bit trains LoRA adapters"),
])
def test_a_bad_sweep_is_one_line(tables, sweeps, expected):
    raw = {**BASE, **tables}
    if "model" in tables:
        raw["model"] = {**BASE["model"], **tables["model"]}
    with pytest.raises(UserError) as e:
        recipe_from_dict(raw, sweeps=list(sweeps)).runs()
    assert expected in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_errors_in_a_recipe_file_name_its_line(tmp_path):
    f = tmp_path / "r.toml"
    f.write_text('[model]\nsource = "tiny:bert"\n[data]\ntrain_file = "x.csv"\nlabels = { a = "a" }\n'
                 '[sweep]\n"lora.r" = [8]\n"train.learning_rate" = ["fast"]\n')
    with pytest.raises(UserError) as e:
        load_recipe(f)
    assert str(e.value).startswith(f"{f}:8: sweep train.learning_rate = 'fast'"), str(e.value)


def test_suggestions_go_by_meaning_before_spelling():
    with pytest.raises(UserError) as e:
        recipe_from_dict({**BASE, "train": {"lr": 1e-4}})
    assert "unknown key train.lr (did you mean train.learning_rate?)" in str(e.value)
    with pytest.raises(UserError) as e:
        recipe_from_dict(BASE, overrides=["train.bs=8"])
    assert "did you mean train.batch_size?" in str(e.value)
    with pytest.raises(UserError) as e:
        recipe_from_dict(BASE, overrides=["eval.treshold=0.4"])
    assert "did you mean eval.threshold?" in str(e.value)


def test_review_findings_one_run_per_method_no_seed_or_method_sweep_paths_resolved(tmp_path):
    with pytest.raises(UserError, match="train.seed cannot be swept .*use seeds"):
        recipe(["train.seed=1,2"])
    with pytest.raises(UserError, match="model.method cannot be swept .*use methods"):
        recipe(["model.method=lora,full"])
    with pytest.raises(UserError, match="methods names lora twice"):
        recipe(methods=[{"method": "lora", "lora.r": 8}, {"method": "lora", "lora.r": 32}])
    f = tmp_path / "r.toml"
    f.write_text('[model]\nsource = "tiny:bert"\n[data]\ntrain_file = "x.csv"\nvalidation_file = "v.csv"\n'
                 'labels = { a = "a" }\n'
                 '[sweep]\n"data.train_file" = ["a.csv", "sub/b.csv"]\n')
    assert load_recipe(f).axes == {"data.train_file": [str(tmp_path / "a.csv"), str(tmp_path / "sub" / "b.csv")]}
    # a 4-bit LoRA beside an unquantized full fine-tune: two valid runs
    mixed = recipe_from_dict({"model": {"source": "tiny:llama", "tiny_hidden_size": 64}, "quant": {"use_4bit": True},
                              "data": BASE["data"], "methods": ["lora", {"method": "full", "quant.use_4bit": False}]})
    assert [(v["model.method"], v.get("quant.use_4bit")) for v in mixed.runs()] == [("lora", None), ("full", False)]
    # --set methods=[] leaves model.method alone: the entries' knobs play no part
    assert recipe_from_dict({**BASE, "methods": ["lora", {"method": "full", "train.learning_rate": 2e-5}]},
                            overrides=["methods=[]"]).runs() == [
        {"model.method": "lora", "train.seed": 42, "seeds": [], "methods": []}]


# --- issue 28 item 4: sweeps compare like with like -------------------------------------------------

def test_a_random_sweep_of_lists_draws_distinct_points_and_refuses_more_trials_than_there_are():
    spec = {"mode": "random", "lora.r": [8, 16], "train.learning_rate": [1e-4, 3e-4]}
    runs = recipe(sweep={**spec, "trials": 4}).runs()
    points = [(v["lora.r"], v["train.learning_rate"]) for v in runs]
    assert sorted(points) == sorted((rank, lr) for rank in (8, 16) for lr in (1e-4, 3e-4))  # without replacement
    assert recipe(sweep={**spec, "trials": 4}).runs() == runs  # the sweep's seed: the same draws
    three = [(v["lora.r"], v["train.learning_rate"]) for v in recipe(sweep={**spec, "trials": 3}).runs()]
    assert len(set(three)) == 3
    assert len({(v["lora.r"]) for v in recipe(sweep={"mode": "random", "trials": 2, "lora.r": [8, 16]}).runs()}) == 2
    with pytest.raises(UserError) as e:
        recipe(sweep={"mode": "random", "trials": 4, "lora.r": [8, 16]}).runs()
    assert str(e.value) == ("sweep.trials = 4, but the sweep has only 2 distinct trials (lora.r: 2 values): "
                            "at most 2 trials, or more values")
    # an int range has as many points as integers in it; a float range is distinct anyway
    with pytest.raises(UserError, match="only 3 distinct trials"):
        recipe(["lora.r=2..4"], sweep={"mode": "random", "trials": 4}).runs()
    assert len({v["lora.r"] for v in recipe(["lora.r=2..4"], sweep={"mode": "random", "trials": 3}).runs()}) == 3
    floats = recipe(["train.learning_rate=1e-5..1e-3", "lora.r=8,16"], sweep={"mode": "random", "trials": 20}).runs()
    assert len({(v["train.learning_rate"], v["lora.r"]) for v in floats}) == 20


def test_a_value_listed_twice_is_refused():
    with pytest.raises(UserError, match=r"sweep lora.r = \[8, 16, 8\]: 8 is listed twice"):
        recipe(sweep={"lora.r": [8, 16, 8]}).runs()
    with pytest.raises(UserError, match=r"--sweep lora.r = \[8, 8\]: 8 is listed twice"):
        recipe(["lora.r=8,8"]).runs()


def test_a_lora_knob_varies_only_the_lora_runs():
    runs = recipe(["lora.r=4,8,16,32"], methods=["full", "lora"]).runs()
    assert [(v["model.method"], v.get("lora.r")) for v in runs] == [
        ("full", None), ("lora", 4), ("lora", 8), ("lora", 16), ("lora", 32)]
    seeded = recipe(["lora.r=4,8"], methods=["full", "lora"], seeds=[1, 2]).runs()
    assert [(v["model.method"], v.get("lora.r"), v["train.seed"]) for v in seeded] == [
        ("full", None, 1), ("full", None, 2), ("lora", 4, 1), ("lora", 4, 2), ("lora", 8, 1), ("lora", 8, 2)]
    # a knob every method reads still crosses with both; quant.* is LoRA's (QLoRA) too
    both = recipe(["lora.r=4,8", "train.learning_rate=1e-4,1e-3", "quant.double_quant=true,false"],
                  methods=["full", "lora"]).runs()
    assert sum(v["model.method"] == "full" for v in both) == 2 and sum(v["model.method"] == "lora" for v in both) == 8
    assert {k for v in both if v["model.method"] == "full" for k in v} == {
        "model.method", "train.seed", "seeds", "methods", "train.learning_rate"}
    # random draws of LoRA knobs beside a full fine-tune: the full run once (per learning rate drawn)
    drawn = recipe(["lora.r=4,8,16"], methods=["full", "lora"], sweep={"mode": "random", "trials": 3}).runs()
    assert [v["model.method"] for v in drawn] == ["full", "lora", "lora", "lora"]


def test_the_declarations_say_which_methods_read_a_knob():
    from workbench.recipe.schema import BY_NAME

    assert BY_NAME["lora.r"].used_by("lora") and not BY_NAME["lora.r"].used_by("full")
    assert not BY_NAME["quant.use_4bit"].used_by("full")
    assert BY_NAME["train.learning_rate"].used_by("full") and BY_NAME["train.learning_rate"].used_by("lora")


JUDGED_ON = ["data.split_seed", "data.validation_fraction", "data.validation_file", "data.validation_split",
             "data.test_file", "data.test_split", "data.max_rows", "eval.max_examples"]
VALUES = {"data.split_seed": "1,2", "data.validation_fraction": "0.1,0.2", "data.validation_file": "a.csv,b.csv",
          "data.validation_split": "validation,test", "data.test_file": "a.csv,b.csv", "data.test_split": "a,b",
          "data.max_rows": "10,20", "eval.max_examples": "50,100"}


@pytest.mark.parametrize("name", JUDGED_ON)
def test_what_the_trials_are_judged_on_cannot_be_swept_or_set_per_method(name):
    import tomllib

    values = tomllib.loads(f"v = [{VALUES[name]}]" if name in ("data.split_seed", "data.validation_fraction",
                                                                "data.max_rows", "eval.max_examples")
                           else "v = [" + ", ".join(f'"{x}"' for x in VALUES[name].split(",")) + "]")["v"]
    for tables, sweeps, prefix in (({"sweep": {name: values}}, [], f"sweep key {name} cannot be swept"),
                                   ({}, [f"{name}={VALUES[name]}"], f"--sweep key {name} cannot be swept"),
                                   ({"methods": ["lora", {"method": "full", name: values[0]}]}, [],
                                    f"methods entry full: {name} cannot differ between methods")):
        with pytest.raises(UserError) as e:
            recipe(sweeps, **tables).runs()
        assert str(e.value).startswith(prefix) and "judged on different data" in str(e.value), str(e.value)
        assert "\n" not in str(e.value)


# The knobs that pick the training rows: with the validation rows held out of them (no validation file
# or split), they pick the validation rows too.
TRAINING_ROWS = {"data.train_file": ["a.csv", "b.csv"], "data.dataset": ["org/a", "org/b"],
                 "data.train_split": ["train", "extra"]}


@pytest.mark.parametrize("name", list(TRAINING_ROWS))
def test_the_training_rows_cannot_vary_while_validation_is_held_out_of_them(name):
    values = TRAINING_ROWS[name]
    for tables, prefix in (({"sweep": {name: values}}, f"sweep key {name} cannot be swept"),
                           ({"methods": ["lora", {"method": "full", name: values[0]}]},
                            f"methods entry full: {name} cannot differ between methods")):
        held_out = BASE["data"] if name == "data.train_file" else {"dataset": "org/a", "labels": {"a": "a"}}
        with pytest.raises(UserError) as e:
            recipe(data=held_out, **tables).runs()
        assert str(e.value).startswith(prefix), str(e.value)
        assert str(e.value).endswith("while the validation rows are held out of the training data (no "
                                     "data.validation_file or data.validation_split): the trials would be judged on "
                                     "different data; give validation its own file or split"), str(e.value)
    data = ({**BASE["data"], "validation_file": "v.csv"} if name == "data.train_file" else
            {"dataset": "org/a", "validation_split": "validation", "labels": {"a": "a"}})
    runs = recipe(sweep={name: values}, data=data).runs()
    assert [str(v[name]).rsplit("/", 1)[-1] for v in runs] == [x.rsplit("/", 1)[-1] for x in values]


def test_a_knob_no_run_reads_is_refused():
    with pytest.raises(UserError) as e:
        recipe(["lora.r=4,8"], methods=["full"]).runs()
    assert str(e.value) == "sweep key lora.r varies nothing: it applies to method lora, and the recipe runs full"
    with pytest.raises(UserError) as e:
        recipe(methods=["lora", {"method": "full", "lora.r": 8}]).runs()
    assert str(e.value) == "methods entry full: lora.r applies to method lora only"


def test_compare_ranks_a_full_run_without_the_lora_knobs_it_did_not_read():
    from workbench.store.read import Comparison, rank_trials

    ids = ["full", "r4", "r8"]
    methods = {"full": "full", "r4": "lora", "r8": "lora"}
    params = {"model.method": methods, "lora.r": {"full": "16", "r4": "4", "r8": "8"},  # the full run's: the default
              "train.best_metric": dict.fromkeys(ids, "loss")}
    c = Comparison(ids, dict.fromkeys(ids, "completed"), params, ["lora.r", "model.method"],
                   {"loss": {"full": 0.3, "r4": 0.5, "r8": 0.4}}, {}, {}, methods=methods)
    ranking = rank_trials(c)
    assert [t.config for t in ranking.trials] == [{"lora.r": "—", "model.method": "full"},
                                                  {"lora.r": "8", "model.method": "lora"},
                                                  {"lora.r": "4", "model.method": "lora"}]
    assert ranking.marginal["lora.r"] == [("8", 0.4, 1), ("4", 0.5, 1)]  # the full run is no lora.r = 16
