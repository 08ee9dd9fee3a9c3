"""Recipes: loading, defaults, path resolution, --set overrides, errors, writing back, the schema."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import DEMO_RECIPE
from tests.unit.conftest import DEMO_LABELS
from workbench.errors import UserError
from workbench.recipe import load_recipe, recipe_from_dict, schema, update_recipe_file, write_frozen
from workbench.tasks import check_recipe


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line of `text` containing `needle`."""
    for no, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return no
    raise AssertionError(f"{needle!r} not in text")


def load_error(path: Path, overrides=()) -> str:
    """The one-line error of loading a recipe and running its task's checks (what `validate` does)."""
    with pytest.raises(UserError) as exc:
        check_recipe(load_recipe(path, overrides))
    msg = str(exc.value)
    assert "\n" not in msg, "a UserError is one line"
    return msg


# --- loading the demo -------------------------------------------------------------------------

def test_demo_recipe_loads_with_file_values(demo_recipe):
    r = load_recipe(demo_recipe)
    assert r.name == "demo_encoder_multilabel"
    assert r["model.source"] == "tiny:distilbert"
    assert r["model.max_length"] == 128
    assert r["lora.r"] == 16
    assert r["lora.alpha"] == 32.0 and isinstance(r["lora.alpha"], float)  # int in TOML, float knob
    assert r["lora.target_modules"] == ["q_lin", "k_lin", "v_lin"]
    assert r["train.learning_rate"] == pytest.approx(3e-3)
    assert r["data.labels"] == DEMO_LABELS
    assert "lora.r" in r.explicit and "train.max_steps" not in r.explicit


def test_demo_recipe_defaults_are_filled(demo_recipe):
    r = load_recipe(demo_recipe)
    assert set(r.values) == set(schema.BY_NAME)
    # Knobs the demo does not set take their declared defaults.
    assert r["train.max_steps"] == -1
    assert r["train.gradient_accumulation_steps"] == 1
    assert r["eval.base"] is True
    assert r["data.validation_file"] == ""
    assert r["data.max_rows"] == 0
    assert r["model.precision"] == "auto"
    assert r.section("lora") == {k.key: r[k.name] for k in schema.knobs_in("lora")}


def test_data_paths_resolved_relative_to_recipe_file(recipe_in_tmp, tmp_path, monkeypatch):
    path = recipe_in_tmp()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory must not matter
    r = load_recipe(path)
    train = Path(r["data.train_file"])
    assert train.is_absolute()
    assert train == (tmp_path / "data" / "reviews.csv").resolve()
    assert train.is_file()
    # Relative recipe path given: still resolved against the recipe's folder.
    r2 = load_recipe(Path("..") / "recipe.toml")
    assert Path(r2["data.train_file"]) == train


def test_name_defaults_to_file_stem(recipe_in_tmp):
    path = recipe_in_tmp(lambda t: re.sub(r'^name = .*$', "", t, flags=re.M), name="my_recipe.toml")
    assert load_recipe(path).name == "my_recipe"


# --- --set overrides --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "override, name, expected",
    [
        ("lora.r=32", "lora.r", 32),
        ("lora.dropout=0.25", "lora.dropout", 0.25),
        ("lora.alpha=8", "lora.alpha", 8.0),
        ("train.length_grouping=false", "train.length_grouping", False),
        ("train.length_grouping=no", "train.length_grouping", False),
        ("eval.base=0", "eval.base", False),
        ("eval.base=true", "eval.base", True),
        ("lora.target_modules=q_lin,v_lin", "lora.target_modules", ["q_lin", "v_lin"]),
        ("lora.target_modules= a , b ,", "lora.target_modules", ["a", "b"]),
        ('lora.target_modules=["x", "y"]', "lora.target_modules", ["x", "y"]),
        ("name=other", "name", "other"),
        ('description="quoted text"', "description", "quoted text"),
        ("model.method=full", "model.method", "full"),
        ("train.max_steps=-1", "train.max_steps", -1),
        ("train.learning_rate=1e-5", "train.learning_rate", 1e-5),
        ('data.labels={ a = "advertisement" }', "data.labels", {"a": "advertisement"}),
    ],
)
def test_set_override_types(demo_recipe, override, name, expected):
    r = load_recipe(demo_recipe, [override])
    assert r[name] == expected
    assert type(r[name]) is type(expected)
    assert name in r.explicit


def test_set_overrides_apply_in_order_and_keep_other_values(demo_recipe):
    r = load_recipe(demo_recipe, ["lora.r=4", "lora.r=8", "train.batch_size=2"])
    assert r["lora.r"] == 8
    assert r["train.batch_size"] == 2
    assert r["lora.alpha"] == 32.0  # untouched


def test_set_path_is_relative_to_working_directory(demo_recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = load_recipe(demo_recipe, ["data.validation_file=val.csv", "data.train_file=sub/train.csv"])
    assert r["data.validation_file"] == str((tmp_path / "val.csv").resolve())
    assert r["data.train_file"] == str((tmp_path / "sub" / "train.csv").resolve())


def test_set_unknown_key_suggests_closest(demo_recipe):
    msg = load_error(demo_recipe, ["lora.rank=4"])
    assert "lora.rank" in msg
    assert "did you mean lora.r?" in msg


def test_set_without_equals_errors(demo_recipe):
    msg = load_error(demo_recipe, ["lora.r"])
    assert "lora.r" in msg and "section.key=value" in msg


@pytest.mark.parametrize(
    "override, field, value",
    [
        ("lora.r=abc", "lora.r", "abc"),
        ("lora.r=0", "lora.r", "0"),
        ("lora.r=2.5", "lora.r", "2.5"),
        ("lora.dropout=1.5", "lora.dropout", "1.5"),
        ("train.length_grouping=maybe", "train.length_grouping", "maybe"),
        ("model.method=qlora", "model.method", "qlora"),
        ("train.learning_rate=nan", "train.learning_rate", "nan"),
    ],
)
def test_set_bad_value_names_field_and_value(demo_recipe, override, field, value):
    msg = load_error(demo_recipe, [override])
    assert field in msg
    assert value in msg


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(
    st.text(max_size=30),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.sampled_from(["1e-3", "0", "10", "10.0001", "-0.0", "0x1", "true", "[1]", '"1e-3"', "1_000", "inf",
                     "+1e-4", "1\nx = 2", "{a = 1}", "1979-05-27", "'''", "1e400"]),
))
def test_set_learning_rate_property(text):
    """Any text either gives a finite float within the knob's range, or a UserError: never another exception."""
    knob = schema.BY_NAME["train.learning_rate"]
    try:
        r = load_recipe(DEMO_RECIPE, [f"train.learning_rate={text}"])
    except UserError as e:
        assert "--set " in str(e)
        assert "train.learning_rate" in str(e)
        return
    v = r["train.learning_rate"]
    assert isinstance(v, float) and math.isfinite(v)
    assert knob.min <= v <= knob.max


# --- errors from the file ---------------------------------------------------------------------

@pytest.mark.parametrize("old, new, named, suggestion", [
    ("r = 16\n", "rank = 16\n", "lora.rank", "did you mean lora.r?"),  # key in a section
    ("[train]\n", "[trian]\n", "[trian]", "did you mean [train]?"),  # section
    ("description = ", "descripton = ", "descripton", "did you mean description?"),  # top-level key
])
def test_unknown_name_is_located_and_closest_suggested(recipe_in_tmp, old, new, named, suggestion):
    path = recipe_in_tmp(lambda t: t.replace(old, new))
    msg = load_error(path)
    line = line_of(path.read_text(), new.strip())
    assert msg.startswith(f"{path}:{line}: ")
    assert named in msg
    assert suggestion in msg


def test_unknown_dotted_key_at_top_level_is_located(recipe_in_tmp):
    def edit(t: str) -> str:
        t = re.sub(r"\[eval\]\n.*", "", t, flags=re.S)  # no [eval] table: its keys go dotted at the top
        return t.replace('task = "classification"\n', 'task = "classification"\neval.treshold = 0.3\n')

    path = recipe_in_tmp(edit)
    msg = load_error(path)
    line = line_of(path.read_text(), "eval.treshold = 0.3")
    assert msg.startswith(f"{path}:{line}: ")
    assert "eval.treshold" in msg and "did you mean eval.threshold?" in msg


@pytest.mark.parametrize(
    "old, new, field, value",
    [
        ("batch_size = 16\n", 'batch_size = "sixteen"\n', "train.batch_size", "'sixteen'"),
        ("r = 16\n", "r = 16.5\n", "lora.r", "16.5"),
        ('target_modules = ["q_lin", "k_lin", "v_lin"]', 'target_modules = "q_lin"', "lora.target_modules", "'q_lin'"),
        ('method = "lora"', "method = 1", "model.method", "1"),
        ('method = "lora"', 'method = "qlora"', "model.method", "'qlora'"),
        ("max_length = 128", "max_length = true", "model.max_length", "True"),
    ],
)
def test_wrong_type_names_field_value_and_line(recipe_in_tmp, old, new, field, value):
    path = recipe_in_tmp(lambda t: t.replace(old, new, 1))
    msg = load_error(path)
    line = line_of(path.read_text(), new.strip())
    assert msg.startswith(f"{path}:{line}: ")
    assert field in msg
    assert value in msg
    assert "is not" in msg


@pytest.mark.parametrize(
    "old, new, field, value, rng",
    [
        ("r = 16\n", "r = 0\n", "lora.r", "0", "[1, 4096]"),
        ("dropout = 0.1\n", "dropout = 1.5\n", "lora.dropout", "1.5", "[0, 0.99]"),
        ("learning_rate = 3e-3\n", "learning_rate = -1\n", "train.learning_rate", "-1", "[0, 10]"),
        ("threshold = 0.5\n", "threshold = 2.0\n", "eval.threshold", "2.0", "[0, 1]"),
        ("epochs = 20\n", "epochs = 0\n", "train.epochs", "0", "[0.01, 10000]"),
    ],
)
def test_out_of_range_names_field_value_range_and_line(recipe_in_tmp, old, new, field, value, rng):
    path = recipe_in_tmp(lambda t: t.replace(old, new, 1))
    msg = load_error(path)
    line = line_of(path.read_text(), new.strip())
    assert msg.startswith(f"{path}:{line}: ")
    assert f"{field} = {value}" in msg
    assert "out of range" in msg
    assert rng in msg


def test_max_steps_sentinel_allowed_but_zero_is_not(recipe_in_tmp):
    ok = recipe_in_tmp(lambda t: t.replace("[train]\n", "[train]\nmax_steps = -1\n"), name="ok.toml")
    assert load_recipe(ok)["train.max_steps"] == -1
    bad = recipe_in_tmp(lambda t: t.replace("[train]\n", "[train]\nmax_steps = 0\n"), name="bad.toml")
    msg = load_error(bad)
    assert "train.max_steps = 0" in msg and "out of range" in msg


def test_toml_syntax_error_gives_line(recipe_in_tmp):
    path = recipe_in_tmp(lambda t: t.replace("alpha = 32\n", "alpha = = 32\n"))
    msg = load_error(path)
    line = line_of(path.read_text(), "alpha = = 32")
    assert msg.startswith(f"{path}:{line}: ")
    assert "invalid TOML" in msg
    assert "(at line" not in msg  # the position is in the prefix, not repeated


def test_recipe_file_not_found(tmp_path):
    path = tmp_path / "nope.toml"
    msg = load_error(path)
    assert msg == f"{path}: recipe file not found"


def test_recipe_not_utf8_gives_line(recipe_in_tmp, write):
    path = recipe_in_tmp()
    raw = path.read_bytes().replace(b'description = "Review', b'description = "R\xe9view', 1)
    write("latin.toml", raw)
    msg = load_error(path.parent / "latin.toml")
    line = line_of(path.read_text(), 'description = "Review')
    assert f"latin.toml:{line}: " in msg
    assert "UTF-8" in msg


def test_missing_model_source_errors(recipe_in_tmp):
    path = recipe_in_tmp(lambda t: t.replace('source = "tiny:distilbert"\n', ""))
    msg = load_error(path)
    assert str(path) in msg
    assert "model.source is required" in msg


def test_missing_labels_errors(recipe_in_tmp):
    path = recipe_in_tmp(lambda t: re.sub(r"^labels = .*$", "", t, flags=re.M))
    msg = load_error(path)
    assert str(path) in msg and "data.labels is required" in msg


def test_label_mapped_to_text_column_errors(recipe_in_tmp):
    path = recipe_in_tmp(lambda t: t.replace('toxicity = "toxicity"', 'toxicity = "text"'))
    msg = load_error(path)
    line = line_of(path.read_text(), "labels = {")
    assert msg.startswith(f"{path}:{line}: ")
    assert "text column" in msg


def test_recipe_from_dict_without_file():
    r = recipe_from_dict({"model": {"source": "tiny:bert"}, "data": {"train_file": "x.csv", "labels": {"a": "a"}}})
    assert r.name == "recipe"
    assert Path(r["data.train_file"]).is_absolute()
    with pytest.raises(UserError, match="unknown key lora.rank"):
        recipe_from_dict({"lora": {"rank": 2}})


# --- writing back -----------------------------------------------------------------------------

def test_write_frozen_round_trips(demo_recipe, tmp_path):
    original = load_recipe(demo_recipe, [
        "lora.r=8", "train.length_grouping=false", "data.max_rows=100", "train.max_steps=5",
        'description=says "hi" \\ ü',
        'data.labels={ "non visitor.rant" = "rant", "ü" = "toxicity" }',
    ])
    dest = tmp_path / "frozen" / "recipe.toml"
    dest.parent.mkdir()
    write_frozen(original, dest, "Frozen recipe of run x\nFrom: somewhere")
    text = dest.read_text(encoding="utf-8")
    assert text.startswith("# Frozen recipe of run x\n# From: somewhere\n")
    again = load_recipe(dest)
    assert again.values == original.values
    # Every knob is written out, so nothing depends on defaults changing later.
    assert again.explicit == set(schema.BY_NAME)
    # Paths were absolute: moving the frozen file does not change them.
    assert Path(again["data.train_file"]).is_absolute()


def test_update_recipe_file_keeps_comments(recipe_in_tmp):
    path = recipe_in_tmp(lambda t: t.replace("r = 16\n", "r = 16  # rank: keep this comment\n"))
    before = path.read_text(encoding="utf-8")
    update_recipe_file(path, {"lora.r": 4, "lora.target_modules": ["q_lin"], "eval.base": False})
    after = path.read_text(encoding="utf-8")
    assert "# rank: keep this comment" in after
    assert "# A random base learns slowly" in after  # a whole-line comment elsewhere
    assert "# Offline demo of recipes/encoder_multilabel.toml" in after
    assert re.search(r"^r = 4\b", after, flags=re.M)
    assert "r = 16" not in after
    r = load_recipe(path)
    assert r["lora.r"] == 4
    assert r["lora.target_modules"] == ["q_lin"]
    assert r["eval.base"] is False
    assert r["train.epochs"] == 20.0  # untouched
    # Only the changed lines differ (plus the added eval.base line).
    changed = set(after.splitlines()) ^ set(before.splitlines())
    assert len(changed) <= 5, changed


def test_update_recipe_file_adds_missing_section_and_key(tmp_path, write):
    path = write("min.toml", '# minimal\n[model]\nsource = "tiny:bert"\n\n[data]\ntrain_file = "x.csv"\n'
                             'labels = { a = "a" }\n')
    update_recipe_file(path, {"train.seed": 7, "model.max_length": 64, "name": "renamed"})
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# minimal\n")
    r = load_recipe(path)
    assert (r["train.seed"], r["model.max_length"], r.name) == (7, 64, "renamed")


# --- the schema itself ------------------------------------------------------------------------

def test_markdown_table_mentions_every_knob():
    table = schema.markdown_table()
    for knob in schema.KNOBS:
        assert f"`{knob.name}`" in table, knob.name
    assert len(table.splitlines()) == len(schema.KNOBS) + 2


@pytest.mark.parametrize("knob", schema.KNOBS, ids=lambda k: k.name)
def test_every_knob_has_help_and_valid_default(knob):
    assert knob.kind in schema.KINDS
    assert knob.help.strip()
    if knob.section:
        assert knob.section in schema.SECTIONS
    if knob.kind == "choice":
        assert knob.choices
    if not knob.required:
        got = schema.coerce(knob, knob.default)
        assert got.error is None, got.error
        assert got.value == knob.default


def test_knob_names_unique():
    names = [k.name for k in schema.KNOBS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("where", ["set", "file"])
def test_deeply_nested_value_is_a_user_error(where, tmp_path):
    nested = "[" * 1000
    if where == "set":
        path, overrides = DEMO_RECIPE, [f"train.learning_rate={nested}"]
    else:
        path = tmp_path / "deep.toml"
        path.write_text(f"x = {nested}\n", encoding="utf-8")
        overrides = []
    try:
        load_recipe(path, overrides)
    except UserError:
        return
    except RecursionError:
        pytest.fail("RecursionError escaped load_recipe", pytrace=False)  # (short: no 1000-frame traceback)
    pytest.fail("deeply nested value accepted")


def test_tiny_model_builds_are_identical(tmp_path, monkeypatch):
    """Two builds of a tiny model from the same texts give the same tokenizer and weights, so a
    cleared cache rebuilds exactly the model a run was trained from."""
    import hashlib

    from workbench.models.tiny import build_tiny

    texts = [f"review {i}: the soup was {'cold' if i % 2 else 'great'}, visit shop{i % 7}.com" for i in range(200)]
    digests = []
    for n in (1, 2):
        monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / f"c{n}"))
        p = build_tiny("distilbert", texts, hidden=32, layers=1, vocab=150)
        digests.append([hashlib.sha256((p / f).read_bytes()).hexdigest()
                        for f in ("tokenizer.json", "model.safetensors")])
    assert digests[0] == digests[1]
