"""Bad input for the decoder recipes (chat classification, NER, 4-bit, sweeps) through the real
CLI: one `error:` line naming the file (and line / field), exit status 2, nothing started, and
all of it before any model loads."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.test_bad_input import assert_nothing_started, line_of, one_error_line

DEMO = ROOT / "recipes" / "demo"


def copy_demo(tmp: Path, name: str, edit: Callable[[str], str] | None = None) -> tuple[Path, str]:
    """A demo recipe copied into tmp with its data and templates, edited."""
    for folder in ("data", "templates"):
        if not (tmp / folder).exists():
            shutil.copytree(DEMO / folder, tmp / folder)
    text = (DEMO / f"{name}.toml").read_text(encoding="utf-8")
    if edit is not None:
        new = edit(text)
        assert new != text, "the edit changed nothing"
        text = new
    path = tmp / f"bad_{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path, text


def case_4bit_full_fine_tune(tmp):
    path, text = copy_demo(tmp, "hate_speech", lambda t: t.replace('method = "lora"', 'method = "full"'))
    return path, [f"{path}:{line_of(text, 'use_4bit = true')}: ", "quant.use_4bit", 'model.method = "lora"']


def case_4bit_in_a_methods_sweep(tmp):
    path, text = copy_demo(tmp, "sentiment_full_vs_lora", lambda t: t + "\n[quant]\nuse_4bit = true\n")
    return path, ["quant.use_4bit", "full fine-tune"]


def case_chat_without_classes(tmp):
    path, _ = copy_demo(tmp, "hate_speech", lambda t: t.replace('classes = ["hate", "offensive", "neither"]\n', ""))
    return path, [str(path), "data.classes", "at least 2"]


def case_positive_class_not_a_class(tmp):
    path, text = copy_demo(tmp, "hate_speech", lambda t: t.replace('positive_classes = ["hate"]',
                                                                   'positive_classes = ["hateful"]'))
    return path, [f"{path}:{line_of(text, 'positive_classes')}: ", "'hateful'", "data.classes"]


def case_group_limit_out_of_range(tmp):
    path, text = copy_demo(tmp, "hate_speech", lambda t: t.replace("cyclists = 0.05", "cyclists = 5"))
    return path, [f"{path}:{line_of(text, 'group_limits')}: ", "fairness.group_limits.cyclists", "out of range"]


def case_missing_chat_template(tmp):
    path, text = copy_demo(tmp, "hate_speech", lambda t: t.replace('group_field = "group"\n', 'group_field = "group"\n'
                                                                   'chat_template = "templates/nope.jinja"\n'))
    return path, [f"{path}:{line_of(text, 'chat_template =')}: ", "data.chat_template", "no such file"]


def case_ner_on_an_encoder(tmp):
    path, text = copy_demo(tmp, "qlora_ner", lambda t: t.replace('source = "tiny:llama"', 'source = "tiny:bert"'))
    return path, [f"{path}:{line_of(text, 'source = ')}: ", "tiny:bert", "needs a decoder"]


def case_generative_best_metric(tmp):
    path, text = copy_demo(tmp, "qlora_ner", lambda t: t.replace('best_metric = "loss"', 'best_metric = "f1_micro"'))
    return path, [f"{path}:{line_of(text, 'best_metric')}: ", "train.best_metric", "loss"]


def case_tiny_4bit_width(tmp):
    path, text = copy_demo(tmp, "qlora_ner", lambda t: t.replace("tiny_hidden_size = 128", "tiny_hidden_size = 96"))
    return path, [f"{path}:{line_of(text, 'tiny_hidden_size')}: ", "multiple of 64"]


def case_labels_and_label_columns(tmp):
    path, text = copy_demo(tmp, "decoder_classification",
                           lambda t: t.replace('id_column = "id"', 'id_column = "id"\nlabels = { a = "beauty" }'))
    return path, [str(path), "data.labels or data.label_columns"]


def case_missing_id_column(tmp):
    path, _ = copy_demo(tmp, "decoder_classification", lambda t: t.replace('id_column = "id"', 'id_column = "sku"'))
    return path, [f"{tmp / 'data' / 'products' / 'train.csv'}:1: ", "'sku'", "data.id_column"]


def case_duplicate_seeds(tmp):
    path, text = copy_demo(tmp, "decoder_classification", lambda t: t.replace("seeds = [1, 3]", "seeds = [1, 1]"))
    return path, [f"{path}:{line_of(text, 'seeds = ')}: ", "seeds", "distinct"]


def case_unknown_method(tmp):
    path, text = copy_demo(tmp, "sentiment_full_vs_lora", lambda t: t.replace('["full", "lora"]', '["full", "qlora"]'))
    return path, [f"{path}:{line_of(text, 'methods = ')}: ", "'qlora'", "lora, full"]


def case_chat_jsonl_not_json(tmp):
    path, _ = copy_demo(tmp, "hate_speech")
    train = tmp / "data" / "hate" / "train.jsonl"
    lines = train.read_text(encoding="utf-8").splitlines()
    lines[2] = '{"messages": [oops'
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, [f"{train}:3: "]


def case_chat_answer_names_no_class(tmp):
    path, _ = copy_demo(tmp, "hate_speech")
    train = tmp / "data" / "hate" / "validation.jsonl"
    lines = train.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].rsplit('"content": ', 1)[0] + '"content": "maybe"}], "group": "none"}'
    train.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, [f"{train}:5: ", "maybe"]


def case_conll_bad_tag(tmp):
    path, _ = copy_demo(tmp, "qlora_ner")
    conll = tmp / "data" / "ner" / "valid.txt"
    lines = conll.read_text(encoding="utf-8").splitlines()
    no = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("-DOCSTART-"))
    parts = lines[no].split()
    lines[no] = " ".join(parts[:-1] + ["X-PER"])
    conll.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, [f"{conll}:{no + 1}: ", "X-PER"]


def case_packing_a_classification(tmp):
    path, text = copy_demo(tmp, "decoder_classification", lambda t: t.replace("[train]\n", "[train]\npacking = true\n"))
    return path, [f"{path}:{line_of(text, 'packing = true')}: ", "train.packing", "task classification",
                  "chat_classification, ner"]


CASES = {f.__name__[len("case_"):]: f for f in (
    case_4bit_full_fine_tune, case_4bit_in_a_methods_sweep, case_chat_without_classes, case_positive_class_not_a_class,
    case_group_limit_out_of_range, case_missing_chat_template, case_ner_on_an_encoder, case_generative_best_metric,
    case_tiny_4bit_width, case_labels_and_label_columns, case_missing_id_column, case_duplicate_seeds,
    case_unknown_method, case_chat_jsonl_not_json, case_chat_answer_names_no_class, case_conll_bad_tag,
    case_packing_a_classification,
)}


# `run` goes through the same pre-flight as `validate` (test_bad_input.py runs both for the
# shared cases); every third case also goes through `run`, to prove nothing starts.
@pytest.mark.parametrize("name,command", [(n, "run" if i % 3 == 0 else "validate") for i, n in enumerate(CASES)])
def test_bad_input_of_the_decoder_recipes(cli, tmp_path, name, command):
    path, must = CASES[name](tmp_path)
    res = cli(command, path)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    line = one_error_line(res)
    for s in must:
        assert s in line, f"{s!r} not in {line!r}"
    assert_nothing_started(tmp_path)


@pytest.mark.parametrize("name", ["hate_speech", "qlora_ner", "decoder_classification", "sentiment_full_vs_lora",
                                  "encoder_multilabel"])
def test_every_demo_and_shipped_recipe_validates(cli, name):
    """Demo recipes offline; the shipped ones as a user with hub access would (no HF_HUB_OFFLINE, a
    hub that knows their models: this machine has no network, so a stand-in of the hub's model API)."""
    demo = cli("validate", DEMO / f"{name}.toml")
    assert demo.returncode == 0 and demo.stdout.startswith("ok "), demo.stderr
    import os

    from tests.conftest import workbench
    from tests.hub_stand_in import hub_stand_in

    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    with hub_stand_in() as endpoint:
        shipped = workbench("validate", ROOT / "recipes" / f"{name}.toml",
                            env={**env, "HF_HUB_OFFLINE": "", "HF_ENDPOINT": endpoint})
    assert shipped.returncode == 0 and shipped.stdout.startswith("ok "), shipped.stderr
