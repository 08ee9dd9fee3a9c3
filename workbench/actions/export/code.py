"""The stand-alone Python an export ships (`workbench export`, `export --format sagemaker`), assembled
from one set of pieces: the model card's snippet (card.py) and SageMaker's `code/inference.py`
(sagemaker.py) share the constants, the loading and the functions that predict, generate and parse,
so the two cannot drift apart.

What differs per task comes from the task (`inference_code`: workbench/tasks/exported.py, each
piece beside the workbench code it mirrors); this module lays the pieces out. The rendered code
needs torch and transformers (+ peft for an adapter), never workbench;
tests/integration/test_export_sagemaker.py checks the parsers against workbench's own and the
answers against `workbench predict`.
"""

from __future__ import annotations

import textwrap

from workbench.tasks.exported import InferenceCode, as_python

# --- the pieces ---------------------------------------------------------------------------------

def imports(code: InferenceCode, kind: str, stdlib: tuple[str, ...] = ()) -> list[str]:
    """The standard library's `stdlib` and the task's, torch, peft for an adapter, transformers."""
    first = sorted({*stdlib, *code.stdlib})
    return [*(f"import {m}" for m in first), *([""] if first else []), "import torch",
            *(["from peft import PeftModel"] if kind == "adapter" else []),
            f"from transformers import {code.model_class}, AutoTokenizer"]


def load(code: InferenceCode, kind: str, folder: str, indent: str = "") -> list[str]:
    """Tokenizer and model from `folder` (a Python expression); an adapter onto BASE."""
    lines = [f"tokenizer = AutoTokenizer.from_pretrained({folder})" + code.tokenizer_note,
             "if tokenizer.pad_token is None:  # decoders ship without one; the run padded with eos",
             "    tokenizer.pad_token = tokenizer.eos_token"]
    lines += code.load_adapter if kind == "adapter" else [f"model = {code.model_class}.from_pretrained({folder})"]
    return [indent + line if line else line for line in lines]


# --- the model card's snippet -------------------------------------------------------------------

def snippet(code: InferenceCode, kind: str, export_line: str, base_line: str) -> str:
    """The card's code: loads the export (`export_line` sets EXPORT; an adapter's BASE is `base_line`;
    `code`: the task's pieces for the folder EXPORT) and predicts or answers one example."""
    lines = [*imports(code, kind), "", export_line, *([base_line] if kind == "adapter" else []),
             *code.constants, "", *load(code, kind, "EXPORT"),
             f"model.eval()  # model.to(\"cuda\") to {code.verb} on a GPU", "", "", code.functions, "", "",
             *code.example]
    return "\n".join(lines)


# --- SageMaker's code/inference.py --------------------------------------------------------------

HANDLERS_HEAD = '''
def model_fn(model_dir):
    """The model and its tokenizer, loaded once per worker from the archive's root (on the GPU when there is one),
    after the environment's settings (apply_settings): a bad value stops the endpoint here, before any request."""
    apply_settings(os.environ)
'''
HANDLERS_TAIL = '''
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return model, tokenizer


def input_fn(request_body, request_content_type):
    """The request's items, from any of FORMS."""
    if isinstance(request_body, (bytes, bytearray)):
        request_body = request_body.decode("utf-8")
    content_type = (request_content_type or "application/json").split(";")[0].strip().lower()
    if content_type == "text/plain":
        return [check_item(request_body, 0)]
    if content_type != "application/json":
        raise ValueError(f"content type {request_content_type!r} is not supported: send application/json or "
                         "text/plain")
    try:
        body = json.loads(request_body)
    except ValueError as e:
        raise ValueError(f"the request is not JSON: {e}") from None
    key = "inputs"
    if isinstance(body, dict):
        keys = [k for k in ("inputs", "text") if k in body]
        if len(keys) != 1:
            raise ValueError("expected " + FORMS)
        key, body = keys[0], body[keys[0]]
    inputs = body
    one = ONE_ITEM
    items = [inputs] if one else inputs
    if not isinstance(items, list):
        raise ValueError("expected " + FORMS)
    return [check_item(item, i, key) for i, item in enumerate(items)]
'''
HANDLERS_END = '''
def output_fn(prediction, accept):
    """JSON: one object per input, in the request's order."""
    if accept and accept.split(";")[0].strip().lower() not in ("application/json", "*/*"):
        raise ValueError(f"accept type {accept!r} is not supported: application/json")
    return json.dumps(prediction, ensure_ascii=False)
'''
# apply_settings' helpers: an environment variable read and checked, or refused where it does not apply
SETTINGS = '''
def setting(environ, name, kind, expected, ok):
    """The environment variable `name` as `kind` (None when unset or empty); a ValueError naming it unless `ok`."""
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise ValueError(f"environment variable {name}={raw!r}: expected {expected}")
    return value


def unused(environ, name, why):
    """A ValueError when the environment sets `name`, which does not apply to this model (`why`)."""
    if environ.get(name, "").strip():
        raise ValueError(f"environment variable {name} is set, but {why}: unset it")
'''

# The request forms input_fn accepts, as its errors, the module's docstring and the card name them.
FORMS = ('{"inputs": ITEM} or {"inputs": [ITEM, ...]}, {"text": ...} alike, or a bare JSON ITEM or list of them '
         "(application/json); or one ITEM as the body (text/plain)")


def inference_module(code: InferenceCode, task: str, *, run_id: str) -> str:
    """code/inference.py: the SageMaker Hugging Face inference toolkit's four handlers around the
    card's pieces (`code`: the task's, for the folder model_dir), for a merged or full model (no peft)."""
    item = code.serving
    doc = [f'"""SageMaker inference handlers of workbench run {run_id} ({task}),',
           "written by `workbench export --format sagemaker`.", "",
           "The SageMaker Hugging Face inference toolkit imports this file from model.tar.gz's code/ folder, calls",
           "model_fn once, then input_fn, predict_fn and output_fn per request. It needs torch and transformers",
           "(code/requirements.txt), not workbench.", "",
           *textwrap.wrap(f"Request: {FORMS}, ITEM being {item.item}.", 110),
           "Answer: a JSON list, one object per ITEM (predict_fn says what it holds).", "",
           *textwrap.wrap(f"Environment (read by model_fn; unset: the run's values): {item.environment}.", 110),
           '"""', ""]
    head = [*doc, *imports(code, "merged", ("json", "os")), "", f"ITEM = {as_python(item.item)}",
            f"FORMS = {as_python(f'{FORMS}, ITEM being {item.item}')}", *code.constants]
    model_fn = (HANDLERS_HEAD.strip("\n") + "\n" + "\n".join(load(code, "merged", "model_dir", "    "))
                + "\n" + HANDLERS_TAIL.replace("ONE_ITEM", item.one_item).strip("\n"))
    parts = ["\n".join(head), model_fn, item.predict.strip("\n"),
             HANDLERS_END.strip("\n"), item.settings.strip("\n"), SETTINGS.strip("\n"),
             "# --- what the handlers call (the model card's snippet has the same) " + "-" * 15,
             code.functions, item.check.strip("\n")]
    return "\n\n\n".join(parts) + "\n"
