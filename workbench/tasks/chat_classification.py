"""Chat SFT of a decoder where the class is read from the generated answer (the hate-speech
recipe). Records are chat JSONL; the prompt is every message before the final assistant turn,
rendered with the tokenizer's chat template (or data.chat_template), and the loss is on the
assistant's answer only. Base and tuned models answer the same prompts; answers are parsed to
a class (unparseable ones counted, never fatal), scored per class, and — with fairness.* —
false-positive rates per target group are set against the recipe's limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from workbench.data.chat_jsonl import ChatRecord, parse_label
from workbench.errors import UserError
from workbench.metrics.classes import class_report, group_fpr
from workbench.tasks.generative import GenerativeTask, Scored, run_generative
from workbench.train.context import RunContext


def _messages(record: ChatRecord, system: str | None) -> list[dict[str, str]]:
    msgs = [dict(m) for m in record.prompt]
    if system is not None:
        msgs = [{"role": "system", "content": system}] + [m for m in msgs if m["role"] != "system"]
    return msgs


def _last_user(record: ChatRecord) -> str:
    return next((m["content"] for m in reversed(record.prompt) if m["role"] == "user"), "")


def make_task(values: dict[str, Any]) -> GenerativeTask:
    system = None
    if values["data.system_prompt_file"]:
        from workbench.textfile import read_text_file

        system = read_text_file(values["data.system_prompt_file"], "system prompt").strip()

    def pairs(records: Sequence[ChatRecord], tok) -> list[tuple[str, str]]:
        if not getattr(tok, "chat_template", None):
            raise UserError(f"model {values['model.source']!r} has no chat template: set data.chat_template to a "
                            "Jinja template file")
        return [(tok.apply_chat_template(_messages(r, system), tokenize=False, add_generation_prompt=True),
                 r.messages[-1]["content"].strip() if r.label is not None else "") for r in records]

    def tokenizer_texts(records: Sequence[ChatRecord]) -> list[str]:
        texts = [m["content"] for r in records for m in r.messages]
        if system:
            texts.append(system)
        if values["data.chat_template"]:
            texts.append(Path(values["data.chat_template"]).read_text(encoding="utf-8"))
        return texts

    def score(records: Sequence[ChatRecord], answers: list[str], classes: list[str]) -> Scored:
        gold = [r.label for r in records]
        pred = [parse_label(a, classes) for a in answers]
        if any(g is None for g in gold):  # unlabelled predict input: classes read, nothing to score
            rows = [{"line": r.line, "input": _last_user(r), "answer": a, "predicted": p, "group": r.group}
                    for r, a, p in zip(records, answers, pred)]
            unparseable = sum(p is None for p in pred)
            return Scored({}, {"examples": float(len(records)), "unparseable": float(unparseable)}, rows,
                          extra={"scored": False})
        per_class, agg = class_report(gold, pred, classes)
        extra: dict[str, Any] = {}
        if values["fairness.positive_classes"]:
            extra["groups"] = group_fpr(gold, pred, [r.group for r in records], list(values["fairness.positive_classes"]),
                                        max_fpr=values["fairness.max_fpr"], limits=dict(values["fairness.group_limits"]))
            agg["groups_flagged"] = float(sum(1 for g in extra["groups"].values() if g.get("flagged")))
        rows = [{"line": r.line, "input": _last_user(r), "answer": a, "predicted": p, "label": r.label, "group": r.group}
                for r, a, p in zip(records, answers, pred)]
        return Scored(per_class, agg, rows, extra)

    return GenerativeTask(pairs, tokenizer_texts, score)


def run(ctx: RunContext) -> None:
    run_generative(ctx, make_task(ctx.recipe.values))


def predict_file(run_dir, values, input_path, output, batch_size=None):
    from workbench.tasks.generative import predict_file as predict

    return predict(run_dir, values, make_task(values), input_path, output, batch_size)
