"""`workbench export RUN --format sagemaker`: DIR/model.tar.gz as the SageMaker Hugging Face inference
toolkit loads it. The real check does what the toolkit does, in a process where workbench cannot be
imported: extract the archive, put its code/ on sys.path, import inference.py, call model_fn once and
input_fn → predict_fn → output_fn per request, and get what `workbench predict` gets on the same
inputs (labels and answers exactly; scores to float error, the archive's model being merged), in each
request form seed clients send, and with the endpoint's environment (MULTILABEL_THRESHOLD, MAX_LENGTH)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import DEMO_CSV, DEMO_RECIPE, ROOT, workbench
from tests.integration.runs import q

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

HATE = ROOT / "recipes" / "demo" / "hate_speech.toml"
ROWS = 24  # inputs sent through inference.py and predict

# The toolkit's side, in a fresh `python -I` (no PYTHONPATH, no current folder on sys.path), with workbench
# refused even where it is installed (an editable install is on every path).
SERVE = r"""
import json, sys

class NoWorkbench:
    def find_spec(self, name, path=None, target=None):
        if name == "workbench" or name.startswith("workbench."):
            raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, NoWorkbench())
try:
    import workbench
    raise SystemExit("workbench is importable")
except ModuleNotFoundError:
    pass
model_dir = sys.argv[1]
sys.path.insert(0, model_dir + "/code")  # what the toolkit does
import inference

model = inference.model_fn(model_dir)
answers = []
for content_type, body in json.loads(sys.stdin.read()):  # a body: the request's text, as the toolkit passes it
    data = inference.input_fn(body, content_type)
    answers.append(json.loads(inference.output_fn(inference.predict_fn(data, model), "application/json")))
errors = []
for body, content_type in ((json.dumps({"inputs": "x"}), "text/csv"), ("{not json", "application/json"),
                           (json.dumps({"prompt": "x"}), "application/json"), (json.dumps({"inputs": [3]}), "application/json")):
    try:
        inference.input_fn(body, content_type)
        errors.append(None)
    except ValueError as e:
        errors.append(str(e))
assert "peft" not in sys.modules, "the archive needed peft"
assert not [m for m in sys.modules if m.split(".")[0] == "workbench"]
print(json.dumps({"answers": answers, "errors": errors}))
"""

# The card's snippet, run as written from the folder the archive was extracted into (EXPORT = "model").
CARD = r"""
import json, re, sys
code = re.findall(r"```python\n(.*?)```", open(sys.argv[1], encoding="utf-8").read(), re.S)[0]
ns = {}
exec(compile(code, "README.md", "exec"), ns)
tokenizer = ns["tokenizer"]
replies = ns["generate"](ns["model"], tokenizer, [ns["chat_prompt"](tokenizer, c) for c in json.loads(sys.stdin.read())])
print(json.dumps([{"answer": r, "predicted": ns["to_class"](r)} for r in replies]))
"""


def export_archive(store: Path, run_id: str, tmp_path: Path) -> Path:
    """Export, check DIR and the archive's layout, extract it; the extracted folder."""
    out = tmp_path / "sm"
    proc = workbench("export", run_id, "--format", "sagemaker", "--output", str(out), store=store, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"exported {run_id} to {out / 'model.tar.gz'}" in proc.stdout.replace("\n", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sm"]  # no temporary folder left beside it
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "model.tar.gz"]
    with tarfile.open(out / "model.tar.gz") as tar:
        names = tar.getnames()
        assert all(not n.startswith(("/", "./", "..")) for n in names), names
        assert {m.uname for m in tar.getmembers()} == {""}
        model = tmp_path / "model"
        tar.extractall(model, filter="data")
    # the model at the archive's root, merged (no adapter, no base model folder), the code beside it
    assert {"config.json", "model.safetensors", "tokenizer.json", "labels.json", "metrics.json", "recipe.toml",
            "README.md", "code/inference.py", "code/requirements.txt"} <= set(names), names
    assert not {"adapter_config.json", "adapter_model.safetensors", "base_model"} & set(names)
    assert (model / "README.md").read_text() == (out / "README.md").read_text()
    return model


def serve_process(model: Path, requests: list, cwd: Path, env: dict[str, str] | None = None
                  ) -> subprocess.CompletedProcess:
    """SERVE on `requests`: JSON bodies (sent as application/json) or (content type, body text) pairs;
    `env`: the endpoint's environment variables, over this one's."""
    sent = [list(r) if isinstance(r, tuple) else ["application/json", json.dumps(r)] for r in requests]
    return subprocess.run([sys.executable, "-I", "-c", SERVE, str(model)], input=json.dumps(sent),
                          capture_output=True, text=True, timeout=600, cwd=cwd, env={**os.environ, **(env or {})})


def serve(model: Path, requests: list, cwd: Path, env: dict[str, str] | None = None) -> dict:
    proc = serve_process(model, requests, cwd, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def predict(store: Path, run_id: str, input_path: Path, tmp_path: Path) -> list[dict]:
    out = tmp_path / "preds.jsonl"
    proc = workbench("predict", run_id, "--input", str(input_path), "--output", str(out), store=store, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def run_versions(store: Path, run_id: str) -> dict:
    (versions,), = q(store, "SELECT versions FROM runs WHERE run_id = ?", [run_id])
    return json.loads(versions)


def assert_bad_requests_refused(errors: list) -> None:
    assert all(errors), errors  # each raised ValueError: the toolkit answers 400 with its message
    assert "text/csv" in errors[0] and "not JSON" in errors[1]
    assert '"inputs"' in errors[2] and '"text"' in errors[2] and "text/plain" in errors[2], errors[2]
    assert errors[3].startswith("inputs[0]: expected a"), errors[3]


# --- multi-label classification at tuned thresholds ----------------------------------------------

@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    """(store, run id) of a tiny DistilBERT multi-label run with per-label thresholds tuned."""
    root = tmp_path_factory.mktemp("sm-encoder")
    store = root / "runs.duckdb"
    proc = workbench("run", str(DEMO_RECIPE), "--quiet", "--set", "train.max_steps=20", "--set", "data.max_rows=300",
                     "--set", "eval.tune_thresholds=true", "--set", "eval.base=false", store=store, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_id,), = q(store, "SELECT run_id FROM runs")
    return store, run_id


def test_classification_archive_answers_as_predict_does_without_workbench(encoder, tmp_path):
    store, run_id = encoder
    model = export_archive(store, run_id, tmp_path)
    labels = json.loads((model / "labels.json").read_text())
    assert labels["thresholds_tuned"] and len(set(labels["thresholds"].values())) > 1, labels  # not one 0.5 for all
    requirements = (model / "code" / "requirements.txt").read_text()
    assert f"transformers=={run_versions(store, run_id)['transformers']}" in requirements.splitlines()
    assert "peft" not in [line.split("=")[0] for line in requirements.splitlines() if not line.startswith("#")]
    card = (model / "README.md").read_text()
    assert "## SageMaker" in card and "merged into its base" in card and "HuggingFaceModel" in card

    with DEMO_CSV.open(encoding="utf-8-sig", newline="") as f:
        texts = [row["text"] for _, row in zip(range(ROWS), csv.DictReader(f))]
    new = tmp_path / "new.csv"
    with new.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text"], *([t] for t in texts)])
    expected = predict(store, run_id, new, tmp_path)
    got = serve(model, [{"inputs": texts}, {"inputs": texts[3]}], tmp_path)
    batch, (single,) = got["answers"]
    assert len(batch) == len(expected) == ROWS
    worst = 0.0
    for answer, row in zip([*batch, single], [*expected, expected[3]]):
        assert answer["predicted"] == row["predicted"], row["text"]
        assert answer["scores"].keys() == row["scores"].keys()
        worst = max(worst, *(abs(answer["scores"][k] - row["scores"][k]) for k in row["scores"]))
    assert worst < 1e-4, worst
    assert any(row["predicted"] for row in expected)  # some labels predicted: the thresholds were exercised
    assert_bad_requests_refused(got["errors"])

    # the forms seed clients send answer as {"inputs": ...} does
    forms = serve(model, [{"text": texts}, texts, {"text": texts[3]}, texts[3], ("text/plain", texts[3]),
                          ("application/json; charset=utf-8", json.dumps({"text": texts}))], tmp_path)["answers"]
    assert forms == [batch, batch, [single], [single], [single], batch]

    # MULTILABEL_THRESHOLD: one threshold for every label; MAX_LENGTH: the truncation length
    high = serve(model, [{"inputs": texts}], tmp_path, env={"MULTILABEL_THRESHOLD": "0.99"})["answers"][0]
    assert [a["scores"] for a in high] == [a["scores"] for a in batch]
    assert [a["predicted"] for a in high] == [[k for k, v in a["scores"].items() if v >= 0.99] for a in batch]
    assert [a["predicted"] for a in high] != [a["predicted"] for a in batch]
    short = serve(model, [{"inputs": texts}], tmp_path, env={"MAX_LENGTH": "4"})["answers"][0]
    assert [a["scores"] for a in short] != [a["scores"] for a in batch]  # texts cut to 4 tokens score otherwise
    for env, expected in (({"MAX_LENGTH": "long"}, "environment variable MAX_LENGTH='long': expected a whole number"),
                          ({"MULTILABEL_THRESHOLD": "2"}, "environment variable MULTILABEL_THRESHOLD='2': expected a "
                                                          "number from 0 to 1")):
        bad = serve_process(model, [{"inputs": texts[0]}], tmp_path, env)
        assert bad.returncode != 0 and expected in bad.stderr, bad.stderr[-3000:]


def test_bad_format_and_eval_runs_are_refused_in_one_line_and_write_nothing(encoder, tmp_path):
    store, run_id = encoder
    out = tmp_path / "out"
    bad = workbench("export", run_id, "--format", "bogus", "--output", str(out), store=store)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bogus" in lines[0], bad.stderr
    assert list(tmp_path.iterdir()) == []

    evaluated = workbench("eval", run_id, "--quiet", store=store, timeout=600)
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    (eval_id,), = q(store, "SELECT run_id FROM runs WHERE kind = 'eval'")
    refused = workbench("export", eval_id, "--format", "sagemaker", "--output", str(out), store=store)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.strip().splitlines() == [refused.stderr.strip()] and "is an eval run" in refused.stderr
    assert list(tmp_path.iterdir()) == []


# --- chat classification: generated answers, the class read from them ---------------------------

@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    """(store, run id) of a tiny gpt-oss chat run (harmony format) with a system prompt of its own,
    in plain LoRA: merged, its answers match the adapter's up to float error (a QLoRA run's would
    differ by the quantization error)."""
    root = tmp_path_factory.mktemp("sm-chat")
    system = root / "system.txt"
    system.write_text("Label the message: hate, offensive or neither.\n")
    store = root / "runs.duckdb"
    proc = workbench("run", str(HATE), "--quiet", "--set", "quant.use_4bit=false", "--set", "train.max_steps=40",
                     "--set", "eval.base=false", "--set", "eval.max_examples=8", "--set",
                     f"data.system_prompt_file={system}", store=store, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_id,), = q(store, "SELECT run_id FROM runs")
    return store, run_id


def test_chat_archive_generates_and_parses_as_predict_does_without_workbench(chat, tmp_path):
    store, run_id = chat
    model = export_archive(store, run_id, tmp_path)
    inference = (model / "code" / "inference.py").read_text()
    assert "Label the message: hate, offensive or neither." in inference  # the run's system prompt

    records = [json.loads(line) for line in (ROOT / "recipes" / "demo" / "data" / "hate" / "test.jsonl")
               .read_text().splitlines()[:ROWS]]
    chats = [r["messages"][:-1] for r in records]  # ending with the user's turn: new messages to label
    new = tmp_path / "new.jsonl"
    new.write_text("".join(json.dumps({"messages": c}) + "\n" for c in chats))
    expected = predict(store, run_id, new, tmp_path)
    message = chats[5][-1]["content"]
    got = serve(model, [{"inputs": chats}, {"inputs": chats[5]}, {"inputs": message}, {"text": message},
                        ("text/plain", message), chats[5]], tmp_path)
    batch, (one_chat,), (one_message,), *forms = got["answers"]
    assert forms == [[one_message]] * 3  # {"text": ...}, text/plain and a bare chat answer alike
    assert [(a["answer"], a["predicted"]) for a in batch] == [(r["answer"], r["predicted"]) for r in expected]
    # one chat alone: the same answer (its own batch); a bare message is that chat's user turn, and the
    # run's system prompt replaces the chat's own, so it is the same prompt
    assert one_chat == one_message == batch[5]
    card = subprocess.run([sys.executable, "-I", "-c", CARD, str(model / "README.md")], input=json.dumps(chats),
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert card.returncode == 0, card.stderr[-3000:]
    assert json.loads(card.stdout.strip().splitlines()[-1]) == batch  # the card's snippet answers alike
    assert sum(r["predicted"] is not None for r in expected) >= ROWS // 2, expected  # answers name classes
    assert_bad_requests_refused(got["errors"])


# --- the parsers, against workbench's own (no model) ---------------------------------------------

ANSWERS = ["Hate.", " offensive language", "I think neither", "hateful", "non-hate", "NEITHER!", "", "hate speech",
           "Not_Hate", "offensive hate", "neither/offensive", "xyz"]
NER_ANSWERS = ["PER: John Smith; LOC: Paris, Rome", "loc: Paris\nper: John", "PER: John, John,  Smith ; ORG: X",
               "LOC: Rome</s>PER: Bob", "PER: A\n### Instruction: more", "nonsense", "", "LOC:", ": x; PER: y",
               "Per: Ann; per: Ann, Bo<|eot_id|>"]


def _namespace(code: str) -> dict:
    ns: dict = {}
    exec(compile(code, "inference.py", "exec"), ns)
    return ns


def test_the_shipped_parsers_read_answers_as_workbench_does():
    """inference.py's to_class / entities against data.chat_jsonl.parse_label / data.ner.parse_response,
    on messy answers; a drift in either breaks this."""
    import re

    from workbench.data.chat_jsonl import parse_label
    from workbench.data.ner import parse_response
    from workbench.tasks import get_task

    def pieces(values: dict, labels: list[str]) -> str:
        """The export's constants and functions of the task (tasks: inference_code)."""
        code = get_task(values).inference_code({"task": values["task"], "labels": labels}, "EXPORT")
        return "\n".join(["import re", "import torch", *code.constants]) + "\n" + code.functions

    classes = ["hate", "offensive", "neither", "hate speech", "not hate"]
    from workbench.recipe.schema import defaults

    values = {**defaults(), "task": "chat_classification", "data.system_prompt_file": "", "model.max_length": 64,
              "eval.max_new_tokens": 4, "eval.batch_size": 8}  # a task binds a whole recipe's values
    ns = _namespace(pieces(values, classes))
    assert [ns["to_class"](a) for a in ANSWERS] == [parse_label(a, classes) for a in ANSWERS]

    types = ["LOC", "PER", "Loc"]
    values = {**values, "task": "ner", "data.instruction_template": ""}
    ns = _namespace(pieces(values, types))
    for answer in NER_ANSWERS:
        parsed = parse_response(answer, types)
        assert ns["entities"](answer) == (parsed.entities, parsed.malformed), answer
    assert re.search(r"'John Smith flew \.'", ns["ner_prompt"](["John", "Smith", "flew", "."]))


# --- the request forms and the environment, on the rendered inference.py (no model) -------------

def _handlers(values: dict, labels: dict) -> dict:
    """inference.py of a task as `export --format sagemaker` renders it, imported (its handlers unrun)."""
    from workbench.actions.export.code import inference_module
    from workbench.tasks import get_task

    task = get_task(values)
    return _namespace(inference_module(task.inference_code({"task": values["task"], **labels}, "model_dir"),
                                       values["task"], run_id="r"))


def test_the_request_forms_and_environment_settings_seed_clients_use():
    """{"inputs": ...}, {"text": ...}, a bare JSON list or string and text/plain all give the same
    items; anything else names the accepted forms. MULTILABEL_THRESHOLD replaces every label's
    threshold, MAX_LENGTH the truncation length; a bad value names the variable."""
    from workbench.recipe.schema import defaults

    values = {**defaults(), "task": "classification"}
    ns = _handlers(values, {"labels": ["a", "b"], "single_label": False, "thresholds": {"a": 0.3, "b": 0.6}})
    one, many = ["t1"], ["t1", "t2"]
    forms = [({"inputs": "t1"}, one), ({"inputs": many}, many), ({"text": "t1"}, one), ({"text": many}, many),
             (many, many), ("t1", one)]
    for body, items in forms:
        assert ns["input_fn"](json.dumps(body), "application/json") == items, body
        assert ns["input_fn"](json.dumps(body).encode(), "application/json; charset=utf-8") == items, body
    assert ns["input_fn"]("one text, \"quoted\"\n", "text/plain") == ["one text, \"quoted\"\n"]
    assert ns["input_fn"](b"t1", "text/plain; charset=utf-8") == one
    for body in ({"prompt": "t1"}, {"inputs": "t1", "text": "t2"}, 3, {"inputs": {"x": 1}}):
        with pytest.raises(ValueError) as e:
            ns["input_fn"](json.dumps(body), "application/json")
        assert all(form in str(e.value) for form in ('{"inputs"', '{"text"', "text/plain")), str(e.value)
    with pytest.raises(ValueError, match=r"text\[0\]: expected a text"):
        ns["input_fn"](json.dumps({"text": [3]}), "application/json")

    assert (ns["THRESHOLDS"], ns["MAX_LENGTH"]) == ([0.3, 0.6], 512)
    ns["apply_settings"]({"MULTILABEL_THRESHOLD": "0.99", "MAX_LENGTH": "64"})
    assert (ns["THRESHOLDS"], ns["MAX_LENGTH"]) == ([0.99, 0.99], 64)
    ns["apply_settings"]({})  # unset: as it was
    assert (ns["THRESHOLDS"], ns["MAX_LENGTH"]) == ([0.99, 0.99], 64)
    for name, raw, expected in (("MULTILABEL_THRESHOLD", "high", "a number from 0 to 1"),
                                ("MULTILABEL_THRESHOLD", "1.5", "a number from 0 to 1"),
                                ("MULTILABEL_THRESHOLD", "nan", "a number from 0 to 1"),
                                ("MAX_LENGTH", "12.5", "a whole number of tokens"),
                                ("MAX_LENGTH", "0", "a whole number of tokens")):
        with pytest.raises(ValueError) as e:
            ns["apply_settings"]({name: raw})
        assert str(e.value).startswith(f"environment variable {name}={raw!r}: expected {expected}"), str(e.value)

    single = _handlers(values, {"labels": ["a", "b"], "single_label": True})
    with pytest.raises(ValueError, match="MULTILABEL_THRESHOLD.*single-label"):
        single["apply_settings"]({"MULTILABEL_THRESHOLD": "0.5"})

    chat = {**values, "task": "chat_classification", "data.system_prompt_file": "", "model.max_length": 64,
            "eval.max_new_tokens": 4}
    ns = _handlers(chat, {"labels": ["x", "y"]})
    message = [{"role": "user", "content": "m"}]
    assert ns["input_fn"](json.dumps({"text": "m"}), "application/json") == [message]
    assert ns["input_fn"]("m", "text/plain") == [message]
    assert ns["input_fn"](json.dumps(message), "application/json") == [message]  # a bare chat is one chat
    ns["apply_settings"]({"MAX_LENGTH": "32"})
    assert ns["KEEP"] == 28  # the prompt keeps MAX_LENGTH - MAX_NEW_TOKENS tokens
    for env, match in (({"MAX_LENGTH": "4"}, "above MAX_NEW_TOKENS"), ({"MULTILABEL_THRESHOLD": "0.5"}, "generates")):
        with pytest.raises(ValueError, match=match):
            ns["apply_settings"](env)
