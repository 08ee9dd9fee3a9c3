"""Chat SFT of a decoder where the class is read from the generated answer (the hate-speech
recipe). Records are chat JSONL; the prompt is every message before the final assistant turn,
rendered with the tokenizer's chat template (or data.chat_template), and the loss is on the
assistant's answer only. Base and tuned models answer the same prompts; answers are parsed to
a class (unparseable ones counted, never fatal), scored per class, and — with fairness.* — each
group's error rates and bias AUCs (tasks/base.py judge_fairness) over class probabilities scored
teacher-forced (class_probabilities).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from workbench.data.chat_jsonl import ChatRecord, GroupFields, parse_label, read_chat_jsonl
from workbench.data.profile import ProfileRows
from workbench.errors import UserError
from workbench.metrics.classes import class_report, confusion
from workbench.recipe import metric_names
from workbench.recipe.sections import RecipeView, view_of
from workbench.tasks.base import Fail, Scored, Task, checked_group_columns, judge_fairness
from workbench.tasks.exported import Serving, as_python
from workbench.tasks.generative import (
    HARMONY_FINAL,
    HARMONY_TURN,
    SERVING_ENVIRONMENT,
    SERVING_SETTINGS,
    GenerativeTask,
    answer_prompt,
    check_generative,
)
from workbench.tasks.mistakes import Judged, Mistake, line_of, rounded


def _messages(record: ChatRecord, system: str | None) -> list[dict[str, str]]:
    msgs = [dict(m) for m in record.prompt]
    if system is not None:
        msgs = [{"role": "system", "content": system}] + [m for m in msgs if m["role"] != "system"]
    return msgs


def _last_user(record: ChatRecord) -> str:
    return next((m["content"] for m in reversed(record.prompt) if m["role"] == "user"), "")


def read_table_records(source, values: dict[str, Any], *, max_rows: int = 0, unlabelled: bool = False
                       ) -> list[ChatRecord]:
    """Chat records from a table (any source classification reads): the user message from
    data.prompt_template, the answer from data.label_column (a class of data.classes, or its id),
    the groups from the data.group_columns columns (workbench/data/groups.py, as classification reads
    them). Errors name the source, the line or row and the column."""
    from workbench.data.groups import group_columns
    from workbench.data.labeled import LabeledTable, LabelSpec, read_labeled

    recipe = view_of(values)
    data = recipe.data
    classes = list(data.classes)
    columns = group_columns(data)
    spec = LabelSpec(text_template=data.prompt_template, label_column=data.label_column, label_map=dict(data.label_map),
                     classes=tuple(classes), fmt=data.format, keep=tuple(columns[:1]), groups=tuple(columns),
                     group_separator=data.group_separator, no_group=tuple(recipe.fairness.no_group_values))
    table = read_labeled(source, spec, train=LabeledTable.known(str(source), classes, True), max_rows=max_rows,
                         require_labels=not unlabelled)
    index = table.table.column("labels").to_pylist() if table.has_labels else [None] * len(table)
    first = table.column(columns[0]) if columns else [None] * len(table)
    groups = table.groups
    records = []
    for n, (text, i, g, line) in enumerate(zip(table.texts, index, first, table.lines)):
        messages = [{"role": "user", "content": text}]
        if i is not None:
            messages.append({"role": "assistant", "content": classes[i]})
        records.append(ChatRecord(messages, None if i is None else classes[i], g or None, line,
                                  {c: per_row[n] for c, per_row in groups.items()}))
    return records


def _group_fields(recipe: RecipeView) -> GroupFields:
    """The record fields naming each record's groups (data.group_columns, or data.group_field)."""
    from workbench.data.groups import group_columns

    return GroupFields(tuple(group_columns(recipe.data)), recipe.data.group_separator,
                       tuple(recipe.fairness.no_group_values))


class ChatClassificationTask(GenerativeTask):
    kind: ClassVar[str] = "chat_classification"
    label_word: ClassVar[str] = "class"
    metrics: ClassVar[tuple[str, ...]] = metric_names.ANSWERED_CLASSES
    result_tables: ClassVar[bool] = True  # as the source project (seed 001)
    template_knobs: ClassVar[tuple[str, ...]] = (
        "data.classes", "data.group_columns", "data.chat_template", "quant.use_4bit", "eval.max_new_tokens",
        "fairness.positive_classes", "fairness.max_fpr")
    template_values: ClassVar[dict[str, Any]] = {
        "model.source": "tiny:llama", "data.train_file": "data/train.jsonl", "data.classes": ["positive", "negative"],
        "lora.target_modules": ["q_proj", "v_proj"]}
    tokenizer_note: ClassVar[str] = "  # with the chat template the run used"

    def __init__(self, values: dict[str, Any]):
        super().__init__(values)
        self._system: str | None = None

    @staticmethod
    def check_recipe(recipe: RecipeView, fail: Fail) -> None:
        classes = recipe.data.classes
        if len(classes) < 2 or len(set(c.lower() for c in classes)) != len(classes):
            raise fail("data.classes must name at least 2 distinct classes for task chat_classification "
                       "(the answers a model may give, e.g. [\"hate\", \"offensive\", \"neither\"])", "data", "classes")
        unknown = [c for c in recipe.fairness.positive_classes if c not in classes]
        if unknown:
            raise fail(f"fairness.positive_classes names {unknown[0]!r}, which is not in data.classes "
                       f"({', '.join(classes)})", "fairness", "positive_classes")
        checked_group_columns(recipe, fail)
        template = recipe.data.prompt_template
        if template:
            from workbench.data.labeled import template_fields

            try:
                template_fields(template)
            except ValueError as e:
                raise fail(f"data.prompt_template {template!r}: {e}", "data", "prompt_template") from None
            if not recipe.data.label_column:
                raise fail("data.prompt_template builds the user message from columns; data.label_column names the "
                           "column holding the answer (a class name, or an id into data.classes)", "data", "label_column")
        check_generative(recipe, fail, accepted=("dataset", "format", "label_column", "label_map", "prompt_template")
                                    if template else ("prompt_template",),
                                    hint="a table is read with data.prompt_template (the user message, from columns) "
                                         "and data.label_column (the answer)")

    @property
    def system(self) -> str | None:
        """data.system_prompt_file's text (read on first use), replacing the records' own system turns."""
        if self._system is None and self.recipe.data.system_prompt_file:
            from workbench.textfile import read_text_file

            self._system = read_text_file(self.recipe.data.system_prompt_file, "system prompt").strip()
        return self._system

    def evaluate(self, model, tokenizer, records: Sequence[ChatRecord], label_names: list[str], *, phase: str,
                 split: str) -> Scored:
        """With eval.base_system_prompt_file the base model answers with that system prompt (its own,
        e.g. an elaborate one), the tuned model with the one it was trained with. With fairness.*
        each class's probability is scored too (class_probabilities), for the bias AUCs."""
        own = self.recipe.eval.base_system_prompt_file
        trained = self.system
        if phase == "base" and own:
            from workbench.textfile import read_text_file

            self._system = read_text_file(own, "base system prompt").strip()
        try:
            answers = self._answers(model, tokenizer, records)
            probs = (self.class_probabilities(model, tokenizer, records, label_names)
                     if self.recipe.fairness.positive_classes else None)
            return self.score(records, answers, label_names, probs)
        finally:
            self._system = trained

    def evaluate_prior(self, train: Sequence[ChatRecord], records: Sequence[ChatRecord], label_names: list[str], *,
                       split: str) -> Scored:
        """The most common answer of the training split, given to every prompt and scored as a model's
        answers are. A constant answer treats every group alike: no fairness report (no class probabilities)."""
        counts = Counter(r.label for r in train if r.label is not None)
        answer = max(label_names, key=lambda c: (counts[c], -label_names.index(c)))  # a tie: the first class
        scored = self.score(records, [answer] * len(records), label_names)
        scored.notes.insert(0, f"label prior ({split}): the most common answer of the training split's {len(train)} "
                               f"records, {answer!r} ({counts[answer]})")
        return scored

    def class_probabilities(self, model, tokenizer, records: Sequence[ChatRecord], classes: list[str]):
        """P(class | prompt), examples x classes: each class's answer scored teacher-forced after the
        prompt (generative.answer_logprobs), a softmax over the classes. A class's answer is the
        answer text its records give most often (the class name where none has it), so "Label: hate"
        style answers are scored as trained. A generated answer is a string; these are the scores the
        threshold-free bias AUCs rank by. Costs one forward pass per example and class."""
        import numpy as np

        from workbench.tasks.generative import answer_logprobs

        said: dict[str, Counter[str]] = {}
        for r in records:
            if r.label is not None:
                said.setdefault(r.label, Counter())[r.messages[-1]["content"].strip()] += 1
        answer = {c: said[c].most_common(1)[0][0] if c in said else c for c in classes}
        prompts = [p for p, _ in self.pairs(records, tokenizer)]
        pairs = [(p, answer[c]) for p in prompts for c in classes]
        logp = answer_logprobs(model, tokenizer, pairs, batch_size=self.recipe.eval.batch_size,
                               max_length=self.recipe.model.max_length).reshape(len(records), len(classes))
        e = np.exp(logp - logp.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def reader(self, *, unlabelled: bool = False) -> Callable[[Any], list[ChatRecord]]:
        values = self.values
        max_rows = 0 if unlabelled else self.recipe.data.max_rows
        if self.recipe.data.prompt_template:
            return lambda source: read_table_records(source, values, max_rows=max_rows, unlabelled=unlabelled)
        return lambda p: read_chat_jsonl(p, list(self.recipe.data.classes), groups=_group_fields(self.recipe),
                                         max_rows=max_rows, answers_optional=unlabelled)

    def plain_texts_input(self, texts: Sequence[str], folder: Path) -> tuple[Path, dict[str, Any]]:
        """A chat JSONL, each text one chat of a single user message (the run's system prompt comes as
        in its training); read as chats, not a table's rows."""
        import json

        path = folder / "texts.jsonl"
        path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": t}]}) + "\n" for t in texts),
                        encoding="utf-8")
        return path, {"data.prompt_template": "", "data.group_columns": [], "data.group_field": ""}

    def plain_result(self, row: dict[str, Any]) -> list[str]:
        """The class the answer names (or that it names none), then the answer itself."""
        from workbench.tasks.plain_texts import top_scores

        predicted = row.get("predicted")
        lines = [f"class: {predicted}" if predicted is not None else "class: none named in the answer",
                 f"answer: {row.get('answer', '')}"]
        scored = top_scores(row.get("scores"))
        return [*lines, f"scores: {scored}"] if scored else lines

    def label_names(self, train, validation) -> list[str]:
        return list(self.recipe.data.classes)

    def pairs(self, records: Sequence[ChatRecord], tokenizer) -> list[tuple[str, str]]:
        if not getattr(tokenizer, "chat_template", None):
            raise UserError(f"model {self.recipe.model.source.spec!r} has no chat template: set data.chat_template to a "
                            "Jinja template file")
        system = self.system
        return [(answer_prompt(tokenizer.apply_chat_template(_messages(r, system), tokenize=False,
                                                            add_generation_prompt=True)),
                 r.messages[-1]["content"].strip() if r.label is not None else "") for r in records]

    def profile_rows(self, records: Sequence[ChatRecord], tokenizer: Any = None) -> ProfileRows:
        """The chat as training feeds it (template, prompt, answer, eos); without a tokenizer, the
        messages' contents one per line. Labels: the class of each record's answer; examples show
        the last user turn."""
        if tokenizer is None:
            system = self.system
            texts = ["\n".join(m["content"] for m in _messages(r, system) + r.messages[len(r.prompt):])
                     for r in records]
        else:
            texts = self.sequences(records, tokenizer)
        return ProfileRows(texts, [[r.label] if r.label is not None else [] for r in records],
                           shown=[_last_user(r) for r in records])

    def tokenizer_texts(self, train: Sequence[ChatRecord]) -> list[str]:
        texts = [m["content"] for r in train for m in r.messages]
        if self.system:
            texts.append(self.system)
        if self.recipe.data.chat_template:
            texts.append(Path(self.recipe.data.chat_template).read_text(encoding="utf-8"))
        return texts

    def score(self, records: Sequence[ChatRecord], answers: list[str], classes: list[str], probs=None) -> Scored:
        """The answers parsed and scored per class; with `probs` (class_probabilities) the fairness
        report, a prediction being the class the answer names (none: negative for every class)."""
        gold = [r.label for r in records]
        pred = [parse_label(a, classes) for a in answers]
        rows: list[dict[str, Any]]
        if any(g is None for g in gold):  # unlabelled predict input: classes read, nothing to score
            rows = [{"line": r.line, "input": _last_user(r), "answer": a, "predicted": p, "group": r.group}
                    for r, a, p in zip(records, answers, pred)]
            unparseable = sum(p is None for p in pred)
            return Scored({}, {"examples": float(len(records)), "unparseable": float(unparseable)}, rows,
                          extra={"scored": False})
        labels = [g for g in gold if g is not None]  # all of them: unlabelled input returned above
        per_class, agg = class_report(labels, pred, classes)
        rows = [
            {"line": r.line, "input": _last_user(r), "answer": a, "predicted": p, "label": r.label, "group": r.group,
             **({"groups": {c: list(g) for c, g in r.groups.items()}} if r.groups else {})}
            for r, a, p in zip(records, answers, pred)]
        scored = Scored(per_class, agg, rows, {"confusion": confusion(labels, pred, classes)})
        columns = _group_fields(self.recipe).fields
        if probs is not None and columns:
            import numpy as np

            index = {c: j for j, c in enumerate(classes)}
            gold_m = np.zeros((len(records), len(classes)), dtype=np.int8)
            pred_m = np.zeros_like(gold_m)
            for i, (g, p) in enumerate(zip(labels, pred)):
                gold_m[i, index[g]] = 1
                if p is not None:
                    pred_m[i, index[p]] = 1
            for row, ps in zip(rows, probs):
                row["scores"] = {c: round(float(v), 6) for c, v in zip(classes, ps)}
            groups = {c: [r.groups.get(c, ()) for r in records] for c in columns}
            judge_fairness(self.recipe, scored, probs, gold_m, pred_m, classes, groups, union=True)
        return scored

    # --- a finished run exported (workbench export; workbench/tasks/exported.py) ------------------
    def export_labels(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {"single_label": True, "decision": "the class the generated answer names"}

    def card_notes(self) -> list[str]:
        template = self.recipe.data.prompt_template
        return [f"The run built each user message from a table row with `{template}`."] if template else []

    def code_constants(self, labels: dict[str, Any]) -> list[str]:
        system = self.system
        return [f"CLASSES = {as_python(labels['labels'])}",
                f"SYSTEM = {as_python(system)}  # the system prompt the run trained with (data.system_prompt_file)"
                if system is not None else "SYSTEM = None  # the run kept each chat's own system turn, if any"]

    def code_functions(self) -> str:
        return CHAT.replace("HARMONY_TURN", as_python(HARMONY_TURN)).replace("HARMONY_FINAL", as_python(HARMONY_FINAL))

    def code_example(self) -> list[str]:
        return [f"reply, = generate(model, tokenizer, [chat_prompt(tokenizer, [{{\"role\": \"user\", \"content\": "
                f"{as_python(EXAMPLE_MESSAGE)}}}])])", "print(repr(reply), to_class(reply))"]

    def serving(self) -> Serving:
        return Serving(
            item="a user message or a chat (a list of {'role': ..., 'content': ...}) ending with a user turn",
            # a list of messages is one chat, not a batch of them
            one_item="isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], dict))",
            check=CHECK_CHAT, predict=PREDICT_FN,
            settings=SERVING_SETTINGS, environment=SERVING_ENVIRONMENT,
            request='`{"inputs": "a message"}`, `{"inputs": [{"role": "user", "content": "a message"}]}` '
                    "(one chat, ending with the user's turn) or a list of messages or chats",
            answer='{"answer": "the generated text", "predicted": "the class it names, or null"}',
            as_run="prompt, its eval.max_new_tokens, greedy")


# --- the export's stand-alone code (workbench/tasks/exported.py): the prompt as `pairs` builds it
# (generative.answer_prompt) and the class read as data/chat_jsonl.py: parse_label reads it

EXAMPLE_MESSAGE = "An example message."

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

# SageMaker's inference.py: one input is a user message or a chat
CHECK_CHAT = '''
def check_item(item, i, key="inputs"):
    """A chat: a user message on its own, or the messages as they are."""
    if isinstance(item, str):
        return [{"role": "user", "content": item}]
    if (not isinstance(item, list) or not item or not all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in item)):
        raise ValueError(f"{key}[{i}]: expected a message or a list of {{'role': ..., 'content': ...}}")
    if item[-1]["role"] != "user":
        raise ValueError(f"{key}[{i}]: a chat must end with the user's turn, the one to answer")
    return [{"role": m["role"], "content": m["content"]} for m in item]
'''
PREDICT_FN = '''
def predict_fn(data, model):
    """Per chat: {"answer": the generated text, "predicted": the class it names, or null}, as `workbench predict`."""
    model, tokenizer = model
    replies = generate(model, tokenizer, [chat_prompt(tokenizer, chat) for chat in data])
    return [{"answer": reply, "predicted": to_class(reply)} for reply in replies]
'''

TASK: type[Task] = ChatClassificationTask


def judge_row(row: dict[str, Any]) -> Judged:
    """A prediction row of `score` judged (`workbench errors`, workbench/tasks/mistakes.py): wrong when the
    class the answer names (none: unparseable) is not the gold one. Confidence: the predicted class's
    score (1 - the gold class's for an unparseable answer) where the row has class probabilities
    (fairness runs), else none."""
    scores = {str(k): float(v) for k, v in (row.get("scores") or {}).items()}
    gold, predicted = row.get("label"), row.get("predicted")
    labels = frozenset({*(n for n in (gold, predicted) if n), *scores})
    if gold is None or gold == predicted:
        return Judged(None, labels)
    shown = predicted or "(unparseable)"
    sure = scores.get(predicted) if predicted else (1 - scores[gold] if gold in scores else None)
    return Judged(Mistake(line_of(row), str(row.get("input", "")), str(gold), shown, rounded(sure),
                          {n: scores[n] for n in (predicted, gold) if n in scores}, answer=str(row.get("answer", "")),
                          about=(str(gold), shown), cell=(str(gold), shown)), labels)
