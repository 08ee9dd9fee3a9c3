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
    f.write_text('[model]\nsource = "tiny:bert"\n[data]\ntrain_file = "x.csv"\nlabels = { a = "a" }\n'
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
