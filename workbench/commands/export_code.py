"""The stand-alone Python an export ships, rendered from one set of pieces: the model card's
snippet (`workbench export`) and SageMaker's `code/inference.py` (`export --format sagemaker`)
share the constants, the loading and the functions that predict, generate and parse, so the two
cannot drift apart.

Each piece mirrors the workbench code `workbench predict` runs (named beside it): the
classifier's batches and thresholds (tasks/classification.py), batched greedy generation with
left padding (tasks/generative.py: generate), the chat prompt (tasks/chat_classification.py,
generative.answer_prompt), the class read from an answer (data/chat_jsonl.py: parse_label) and
the entities (data/ner.py: parse_response). The rendered code needs torch and transformers (+ peft
for an adapter), never workbench; tests/integration/test_export_sagemaker.py checks the parsers
against workbench's own and the answers against `workbench predict`.
"""

from __future__ import annotations

import json
from typing import Any

EXAMPLE_TEXT = "An example text to classify."
EXAMPLE_MESSAGE = "An example message."
EXAMPLE_SENTENCE = "John Smith flew from Paris to Rome ."


def as_python(value: Any) -> str:
    """A string, list of strings or numbers as Python source (JSON's double-quoted form is Python too)."""
    return json.dumps(value, ensure_ascii=False)


def system_prompt(values: dict[str, Any]) -> str | None:
    if not values.get("data.system_prompt_file"):
        return None
    from workbench.textfile import read_text_file

    return read_text_file(values["data.system_prompt_file"], "system prompt").strip()


# --- the pieces ---------------------------------------------------------------------------------

def imports(task: str, kind: str, stdlib: tuple[str, ...] = ()) -> list[str]:
    """The standard library's `stdlib` (+ re where answers are parsed), torch, peft for an adapter, transformers."""
    model_class = "AutoModelForSequenceClassification" if task == "classification" else "AutoModelForCausalLM"
    first = sorted({*stdlib, *(["re"] if task != "classification" else [])})
    return [*(f"import {m}" for m in first), *([""] if first else []), "import torch",
            *(["from peft import PeftModel"] if kind == "adapter" else []),
            f"from transformers import {model_class}, AutoTokenizer"]


def constants(labels: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """The run's settings the functions read: labels and thresholds, lengths, prompts."""
    task = values["task"]
    if task == "classification":
        lines = [f"LABELS = {as_python(labels['labels'])}"]
        if not labels["single_label"]:
            lines.append(f"THRESHOLDS = {as_python(list(labels['thresholds'].values()))}  # per label, from labels.json")
        return lines + [f"MAX_LENGTH = {values['model.max_length']}"]
    if task == "chat_classification":
        system = system_prompt(values)
        lines = [f"CLASSES = {as_python(labels['labels'])}",
                 f"SYSTEM = {as_python(system)}  # the system prompt the run trained with (data.system_prompt_file)"
                 if system is not None else "SYSTEM = None  # the run kept each chat's own system turn, if any"]
    else:
        from workbench.data.ner import END_MARKERS, PROMPT

        lines = [f"TYPES = {as_python(labels['labels'])}",
                 f"PROMPT = {as_python(values['data.instruction_template'] or PROMPT)}",
                 "# an answer is cut at the first of these",
                 f"END_MARKERS = {as_python(list(END_MARKERS))}"]
    keep = max(1, values["model.max_length"] - values["eval.max_new_tokens"])
    return lines + [f"MAX_NEW_TOKENS = {values['eval.max_new_tokens']}",
                    f"KEEP = {keep}  # prompt tokens kept (model.max_length - MAX_NEW_TOKENS): longer prompts lose "
                    "their start",
                    f"BATCH_SIZE = {values['eval.batch_size']}  # prompts answered together (eval.batch_size), as "
                    "the run did"]


def load(task: str, kind: str, labels: dict[str, Any], folder: str, indent: str = "") -> list[str]:
    """Tokenizer and model from `folder` (a Python expression); an adapter onto BASE."""
    chat = task == "chat_classification"
    lines = [f"tokenizer = AutoTokenizer.from_pretrained({folder})" + ("  # with the chat template the run used"
                                                                     if chat else ""),
             "if tokenizer.pad_token is None:  # decoders ship without one; the run padded with eos",
             "    tokenizer.pad_token = tokenizer.eos_token"]
    if task != "classification":
        lines += ["model = AutoModelForCausalLM.from_pretrained(BASE)",
                  f"model = PeftModel.from_pretrained(model, {folder})"] if kind == "adapter" else [
                  f"model = AutoModelForCausalLM.from_pretrained({folder})"]
    elif kind == "adapter":
        problem = "single_label_classification" if labels["single_label"] else "multi_label_classification"
        lines += ["model = AutoModelForSequenceClassification.from_pretrained(",
                  f"    BASE, num_labels=len(LABELS), problem_type={as_python(problem)},",
                  "    id2label=dict(enumerate(LABELS)), label2id={name: i for i, name in enumerate(LABELS)})",
                  "if model.config.pad_token_id is None:",
                  "    model.config.pad_token_id = tokenizer.pad_token_id",
                  "# transformers reports the head as newly initialised: the adapter brings the trained one",
                  f"model = PeftModel.from_pretrained(model, {folder})  # the LoRA weights and the trained head"]
    else:
        lines += [f"model = AutoModelForSequenceClassification.from_pretrained({folder})"]
    return [indent + line if line else line for line in lines]


CLASSIFY = '''
def predict(model, tokenizer, texts, batch_size=32):
    """Per text: ({label: score}, PREDICTED)."""
    results = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True,
                          max_length=MAX_LENGTH, return_tensors="pt").to(model.device)
        with torch.inference_mode():
            logits = model(**batch).logits.float()
'''
SINGLE_LABEL = '''
        for row in torch.softmax(logits, dim=-1).tolist():
            results.append((dict(zip(LABELS, row)), LABELS[row.index(max(row))]))
    return results
'''
MULTI_LABEL = '''
        for row in torch.sigmoid(logits).tolist():
            predicted = [name for name, score, t in zip(LABELS, row, THRESHOLDS) if score >= t]
            results.append((dict(zip(LABELS, row)), predicted))
    return results
'''

# workbench.tasks.generative.generate: the same batches (prompts sorted by length, padded on the
# left) give the same greedy answers; one prompt at a time could differ in the last float bit.
GENERATE = '''
def generate(model, tokenizer, prompts, batch_size=BATCH_SIZE):
    """Greedy answers to prompts, in their order, as the run evaluated: batched by length, padded on the left."""
    encoded = []
    for prompt in prompts:
        # chat templates start with the bos token themselves: adding another would change the prompt
        special = not (tokenizer.bos_token and prompt.startswith(tokenizer.bos_token))
        encoded.append(tokenizer(prompt, add_special_tokens=special)["input_ids"][-KEEP:])
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
    pad = tokenizer.pad_token_id
    answers = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        n = max(len(encoded[i]) for i in idx)
        ids = torch.tensor([[pad] * (n - len(encoded[i])) + encoded[i] for i in idx], device=model.device)
        mask = torch.tensor([[0] * (n - len(encoded[i])) + [1] * len(encoded[i]) for i in idx], device=model.device)
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                 pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)
        for row, i in zip(out[:, n:].tolist(), idx):
            answers[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
    return answers
'''

CHAT = '''
def chat_prompt(tokenizer, messages):
    """The prompt of a chat ([{"role": ..., "content": ...}] ending with a user turn), as the run built it."""
    if SYSTEM is not None:
        messages = [{"role": "system", "content": SYSTEM}] + [m for m in messages if m["role"] != "system"]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if prompt.endswith(HARMONY_TURN):  # gpt-oss (harmony): the answer starts in the final channel
        prompt += HARMONY_FINAL
    return prompt


def to_class(reply):
    """The class a reply names (its earliest whole-word match, case-insensitive; the longer name on a tie), or None."""
    def norm(s):
        return " ".join(s.casefold().replace("_", " ").split())
    hits = []
    for i, name in enumerate(CLASSES):
        if norm(name):
            m = re.search(r"(?<![\\w-])" + re.escape(norm(name)) + r"(?![\\w-])", norm(reply))
            if m:
                hits.append((m.start(), -len(norm(name)), i))
    return CLASSES[min(hits)[2]] if hits else None
'''

NER = '''
def ner_prompt(tokens):
    """The prompt of a sentence given as its tokens (the training data's tokens, joined by spaces)."""
    return PROMPT.format(sentence=" ".join(tokens), entity_types=", ".join(TYPES))


def entities(reply):
    """({entity type: [names]}, malformed) from an answer "TYPE: name, name; TYPE: name"; malformed: a part
    named no known type (the other parts still count)."""
    cut = min([reply.find(m) for m in END_MARKERS if m in reply] + [len(reply)])
    lines = []
    for line in reply[:cut].splitlines():
        if line.lstrip().startswith("### "):  # the model went on to a new section
            break
        lines.append(line)
    canonical = {t.lower(): t for t in reversed(TYPES)}  # types match case-insensitively; the first spelling wins
    found, malformed = {}, False
    for part in re.split(r"[;\\n]", "\\n".join(lines)):
        if not part.strip():
            continue
        kind, colon, names = part.strip().partition(":")
        kind = canonical.get(kind.strip().lower()) if colon and kind.strip() else None
        if kind is None:
            malformed = True
            continue
        got = found.setdefault(kind, [])
        got.extend(n for n in (" ".join(x.split()) for x in names.split(",")) if n and n not in got)
    return {k: v for k, v in found.items() if v}, malformed
'''


def functions(labels: dict[str, Any], task: str) -> str:
    """The functions that predict (classification) or generate and parse (chat classification, NER)."""
    if task == "classification":
        single = labels["single_label"]
        head = CLASSIFY.replace("PREDICTED", "the class predicted" if single else "[labels predicted]")
        return head.strip("\n") + "\n" + (SINGLE_LABEL if single else MULTI_LABEL).strip("\n")
    if task == "chat_classification":
        from workbench.tasks.generative import HARMONY_FINAL, HARMONY_TURN

        chat = CHAT.replace("HARMONY_TURN", as_python(HARMONY_TURN)).replace("HARMONY_FINAL", as_python(HARMONY_FINAL))
        return GENERATE.strip("\n") + "\n\n\n" + chat.strip("\n")
    return GENERATE.strip("\n") + "\n\n\n" + NER.strip("\n")


# --- the model card's snippet -------------------------------------------------------------------

def snippet(labels: dict[str, Any], values: dict[str, Any], kind: str, export_line: str, base_line: str) -> str:
    """The card's code: loads the export (`export_line` sets EXPORT; an adapter's BASE is `base_line`)
    and predicts or answers one example."""
    task = values["task"]
    lines = [*imports(task, kind), "", export_line, *([base_line] if kind == "adapter" else []),
             *constants(labels, values), "", *load(task, kind, labels, "EXPORT"),
             "model.eval()  # model.to(\"cuda\") to " + ("predict" if task == "classification" else "generate")
             + " on a GPU", "", "", functions(labels, task), "", ""]
    if task == "classification":
        lines.append(f"print(predict(model, tokenizer, [{as_python(EXAMPLE_TEXT)}]))")
    elif task == "chat_classification":
        lines += [f"reply, = generate(model, tokenizer, [chat_prompt(tokenizer, [{{\"role\": \"user\", \"content\": "
                  f"{as_python(EXAMPLE_MESSAGE)}}}])])", "print(repr(reply), to_class(reply))"]
    else:
        lines += [f"reply, = generate(model, tokenizer, [ner_prompt({as_python(EXAMPLE_SENTENCE)}.split())])",
                  "print(repr(reply), entities(reply))"]
    return "\n".join(lines)


# --- SageMaker's code/inference.py --------------------------------------------------------------

HANDLERS_HEAD = '''
def model_fn(model_dir):
    """The model and its tokenizer, loaded once per worker from the archive's root (on the GPU when there is one)."""
'''
HANDLERS_TAIL = '''
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return model, tokenizer


def input_fn(request_body, request_content_type):
    """The request's items: {"inputs": ITEM} or {"inputs": [ITEM, ...]} (ITEM: what one input is)."""
    if request_content_type.split(";")[0].strip().lower() != "application/json":
        raise ValueError(f"content type {request_content_type!r} is not supported: send application/json")
    try:
        body = json.loads(request_body)
    except ValueError as e:
        raise ValueError(f"the request is not JSON: {e}") from None
    if not isinstance(body, dict) or "inputs" not in body:
        raise ValueError('expected {"inputs": ITEM} or {"inputs": [ITEM, ...]}, ITEM being ' + ITEM)
    inputs = body["inputs"]
    one = ONE_ITEM
    items = [inputs] if one else inputs
    if not isinstance(items, list):
        raise ValueError('"inputs" must be ITEM or a list of them, ITEM being ' + ITEM)
    return [check_item(item, i) for i, item in enumerate(items)]
'''
HANDLERS_END = '''
def output_fn(prediction, accept):
    """JSON: one object per input, in the request's order."""
    if accept and accept.split(";")[0].strip().lower() not in ("application/json", "*/*"):
        raise ValueError(f"accept type {accept!r} is not supported: application/json")
    return json.dumps(prediction, ensure_ascii=False)
'''

# Per task: what one input is, when "inputs" holds a single one, how it is checked, and what it answers.
ITEMS = {
    "classification": {
        "described": "a text",
        "one_item": "isinstance(inputs, str)",
        "check": '''
def check_item(item, i):
    if not isinstance(item, str):
        raise ValueError(f"inputs[{i}]: expected a text, got {type(item).__name__}")
    return item
''',
        "predict": '''
def predict_fn(data, model):
    """Per text: {"scores": {label: score}, "predicted": PREDICTED}, as `workbench predict` answers."""
    model, tokenizer = model
    return [{"scores": scores, "predicted": predicted} for scores, predicted in predict(model, tokenizer, data)]
''',
    },
    "chat_classification": {
        "described": "a user message or a chat (a list of {'role': ..., 'content': ...}) ending with a user turn",
        # a list of messages is one chat, not a batch of them
        "one_item": "isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], dict))",
        "check": '''
def check_item(item, i):
    """A chat: a user message on its own, or the messages as they are."""
    if isinstance(item, str):
        return [{"role": "user", "content": item}]
    if (not isinstance(item, list) or not item or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in item)):
        raise ValueError(f"inputs[{i}]: expected a message or a list of {{'role': ..., 'content': ...}}")
    if item[-1]["role"] != "user":
        raise ValueError(f"inputs[{i}]: a chat must end with the user's turn, the one to answer")
    return [{"role": m["role"], "content": m["content"]} for m in item]
''',
        "predict": '''
def predict_fn(data, model):
    """Per chat: {"answer": the generated text, "predicted": the class it names, or null}, as `workbench predict`."""
    model, tokenizer = model
    replies = generate(model, tokenizer, [chat_prompt(tokenizer, chat) for chat in data])
    return [{"answer": reply, "predicted": to_class(reply)} for reply in replies]
''',
    },
    "ner": {
        "described": "a sentence (its tokens separated by spaces) or a list of its tokens",
        # a list of strings is a batch of sentences; one sentence's tokens come as a list inside it
        "one_item": "isinstance(inputs, str)",
        "check": '''
def check_item(item, i):
    """A sentence's tokens: a sentence split on whitespace, or the tokens as given."""
    if isinstance(item, str):
        return item.split()
    if not isinstance(item, list) or not all(isinstance(t, str) for t in item):
        raise ValueError(f"inputs[{i}]: expected a sentence or a list of its tokens")
    return list(item)
''',
        "predict": '''
def predict_fn(data, model):
    """Per sentence: {"answer": the generated text, "predicted": {entity type: [names]}, "malformed": bool}."""
    model, tokenizer = model
    replies = generate(model, tokenizer, [ner_prompt(tokens) for tokens in data])
    return [{"answer": reply, "predicted": found, "malformed": malformed}
            for reply, (found, malformed) in zip(replies, map(entities, replies))]
''',
    },
}


def inference_module(labels: dict[str, Any], values: dict[str, Any], *, run_id: str) -> str:
    """code/inference.py: the SageMaker Hugging Face inference toolkit's four handlers around the
    card's pieces, for a merged or full model (no peft)."""
    task = values["task"]
    item = ITEMS[task]
    predicted = "the class predicted" if labels.get("single_label") else "[labels predicted]"
    doc = [f'"""SageMaker inference handlers of workbench run {run_id} ({task}),',
           "written by `workbench export --format sagemaker`.", "",
           "The SageMaker Hugging Face inference toolkit imports this file from model.tar.gz's code/ folder, calls",
           "model_fn once, then input_fn, predict_fn and output_fn per request. It needs torch and transformers",
           "(code/requirements.txt), not workbench.", "",
           'Request (application/json): {"inputs": ITEM} or {"inputs": [ITEM, ...]}, ITEM being',
           f"{item['described']}.", "Answer: a JSON list, one object per ITEM (predict_fn says what it holds).",
           '"""', ""]
    head = [*doc, *imports(task, "merged", ("json",)), "", f"ITEM = {as_python(item['described'])}",
            *constants(labels, values)]
    model_fn = (HANDLERS_HEAD.strip("\n") + "\n" + "\n".join(load(task, "merged", labels, "model_dir", "    "))
                + "\n" + HANDLERS_TAIL.replace("ONE_ITEM", item["one_item"]).strip("\n"))
    parts = ["\n".join(head), model_fn, item["predict"].replace("PREDICTED", predicted).strip("\n"),
             HANDLERS_END.strip("\n"), "# --- what the handlers call (the model card's snippet has the same) " + "-" * 15,
             functions(labels, task), item["check"].strip("\n")]
    return "\n\n\n".join(parts) + "\n"
