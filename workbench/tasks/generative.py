"""What the generative tasks share (chat classification, NER): supervised fine-tuning of a
causal LM on prompt → answer pairs with the loss on the answer only, and batched greedy
generation with left padding for evaluation.

A task module supplies a `GenerativeTask`: how records become prompts and answers, the texts a
tiny model's tokenizer is trained on, and how generated answers are scored. The run itself —
load, base eval, train, tuned eval, save — is one code path here (`run_generative`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from workbench.train import faults
from workbench.train.context import RunContext

IGNORE = -100  # label id the loss skips (prompt and padding tokens)


@dataclass
class Scored:
    """What scoring the answers of one split gives: the eval event's fields and prediction rows."""
    labels: dict[str, dict[str, float]]
    aggregates: dict[str, float]
    rows: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)   # more eval-event fields (e.g. fairness groups)
    report: str = ""                                      # a text report saved beside the predictions


@dataclass
class GenerativeTask:
    # records -> (prompt, answer) pairs; the prompt is what generation starts from
    pairs: Callable[[Sequence[Any], Any], list[tuple[str, str]]]
    # records -> texts a tiny:llama tokenizer is trained on
    tokenizer_texts: Callable[[Sequence[Any]], list[str]]
    # (records, generated answers, label names) -> Scored
    score: Callable[[Sequence[Any], list[str], list[str]], Scored]


# --- tokenisation ------------------------------------------------------------------------------

def _prompt_ids(tokenizer, prompt: str) -> list[int]:
    # Chat templates of real models start with the bos token themselves: adding it again would
    # give the model a prompt it never saw in its own training.
    special = not (tokenizer.bos_token and prompt.startswith(tokenizer.bos_token))
    return tokenizer(prompt, add_special_tokens=special)["input_ids"]


class SftDataset(torch.utils.data.Dataset):
    """prompt + answer + eos, tokenised once; labels are IGNORE over the prompt, so the loss is
    on the answer only. Longer examples lose the start of their prompt, never the answer."""

    def __init__(self, tokenizer, pairs: list[tuple[str, str]], max_length: int):
        self.items: list[dict[str, list[int]]] = []
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        for prompt, answer in pairs:
            p = _prompt_ids(tokenizer, prompt)
            a = tokenizer(answer, add_special_tokens=False)["input_ids"] + eos
            a = a[:max_length]
            p = p[max(0, len(p) - (max_length - len(a))):] if max_length > len(a) else []
            ids = p + a
            self.items.append({"input_ids": ids, "attention_mask": [1] * len(ids),
                               "labels": [IGNORE] * len(p) + a})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


def sft_collator(pad_id: int, multiple: int | None = None):
    """Right-pads a batch to its own longest example (labels padded with IGNORE)."""

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        n = max(len(b["input_ids"]) for b in batch)
        if multiple:
            n = -(-n // multiple) * multiple
        out = {"input_ids": [], "attention_mask": [], "labels": []}
        for b in batch:
            pad = n - len(b["input_ids"])
            out["input_ids"].append(b["input_ids"] + [pad_id] * pad)
            out["attention_mask"].append(b["attention_mask"] + [0] * pad)
            out["labels"].append(b["labels"] + [IGNORE] * pad)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}

    return collate


# --- generation --------------------------------------------------------------------------------

def generate(model, tokenizer, prompts: list[str], *, batch_size: int, max_new_tokens: int, max_length: int) -> list[str]:
    """Greedy answers, in input order. Prompts are batched by length (least padding) and padded
    on the left, so every row's answer starts right after its own prompt."""
    encoded = [_prompt_ids(tokenizer, p) for p in prompts]
    keep = max(1, max_length - max_new_tokens)
    encoded = [ids[-keep:] for ids in encoded]   # over-long prompts lose their start
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    answers = [""] * len(prompts)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            n = max(len(encoded[i]) for i in idx)
            ids = torch.tensor([[pad] * (n - len(encoded[i])) + encoded[i] for i in idx], device=device)
            mask = torch.tensor([[0] * (n - len(encoded[i])) + [1] * len(encoded[i]) for i in idx], device=device)
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=pad, eos_token_id=tokenizer.eos_token_id)
            # .cpu() is a GPU->CPU sync point, once per batch
            for row, i in zip(out[:, n:].cpu().tolist(), idx):
                answers[i] = tokenizer.decode(row, skip_special_tokens=True).strip()
    model.train(was_training)
    return answers


# --- the run -----------------------------------------------------------------------------------

def eval_subset(records: Sequence[Any], max_examples: int) -> list[Any]:
    """The first max_examples records (0: all): the same ones for base and tuned."""
    return list(records[:max_examples] if max_examples else records)


def evaluate(ctx: RunContext, task: GenerativeTask, model, tok, records, label_names, values, *,
             phase: str, split: str, step: int = 0, epoch: float = 0.0) -> Scored:
    prompts = [p for p, _ in task.pairs(records, tok)]
    answers = generate(model, tok, prompts, batch_size=values["eval.batch_size"],
                       max_new_tokens=values["eval.max_new_tokens"], max_length=values["model.max_length"])
    scored = task.score(records, answers, label_names)
    if ctx.is_main:  # files and their artifact events first: a recorded eval event means the split is done
        out = ctx.run_dir / f"predictions_{phase}_{split}.jsonl"
        with open(out, "w", encoding="utf-8") as f:
            for row in scored.rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        ctx.emit("artifact", kind="predictions", path=str(out), split=split, phase=phase, rows=len(scored.rows))
        if scored.report:
            report = ctx.run_dir / f"report_{phase}_{split}.txt"
            report.write_text(scored.report, encoding="utf-8")
            ctx.emit("artifact", kind="report", path=str(report), split=split, phase=phase)
    ctx.emit("eval", phase=phase, split=split, step=step, epoch=epoch, labels=scored.labels,
             aggregates=scored.aggregates, **scored.extra)
    faults.at(f"{phase}_eval")
    return scored


def run_generative(ctx: RunContext, task: GenerativeTask) -> None:
    from workbench.data.splits import load_splits
    from workbench.models.load import apply_method, count_params, load_causal_lm
    from workbench.models.source import record_base, resolve_source
    from workbench.train.trainer import build_trainer, save_trained, train_and_summarize

    values = ctx.recipe.values
    splits = load_splits(values)
    ctx.log(f"data: {splits.describe()}")
    path = resolve_source(values, task.tokenizer_texts(splits.train))
    import transformers

    transformers.set_seed(values["train.seed"])
    loaded = load_causal_lm(path, values)
    tok = loaded.tokenizer
    model = apply_method(loaded, values, task_type="CAUSAL_LM")
    trainable, total = count_params(model)
    ctx.emit("model", source=values["model.source"], resolved_path=path, method=values["model.method"],
             trainable_params=trainable, total_params=total, new_modules=[],
             quantized="4bit-" + values["quant.type"] if values["quant.use_4bit"] else None)
    record_base(ctx.run_dir, values, path)

    cap = values["eval.max_examples"]
    eval_sets = [("validation", eval_subset(splits.validation, cap))]
    if splits.test is not None:
        eval_sets.append(("test", eval_subset(splits.test, cap)))
    names = splits.label_names
    base_sets = [(split, records) for split, records in eval_sets if ctx.needs_base_eval(split)]
    if base_sets and ctx.is_main:
        ctx.phase("base eval", f"evaluating the base model by generation ({sum(len(r) for _, r in base_sets)} examples)")
        for split, records in base_sets:
            evaluate(ctx, task, model, tok, records, names, values, phase="base", split=split)

    max_len = values["model.max_length"]
    trainer = build_trainer(
        model, tok, values, ctx.run_dir, ctx.writer,
        train_dataset=SftDataset(tok, task.pairs(splits.train, tok), max_len),
        eval_dataset=SftDataset(tok, task.pairs(splits.validation, tok), max_len),
        data_collator=sft_collator(tok.pad_token_id, 8 if torch.cuda.is_available() else None),
        world_size=ctx.world_size)
    ctx.phase("training", "training")
    train_and_summarize(trainer, ctx)
    model = trainer.model  # the checkpoint with the lowest validation loss, reloaded by the Trainer
    if not ctx.is_main:
        return
    ctx.phase("tuned eval", "evaluating the tuned model by generation")
    for split, records in eval_sets:
        evaluate(ctx, task, model, tok, records, names, values, phase="tuned", split=split,
                 step=trainer.state.global_step, epoch=trainer.state.epoch or 0.0)
    save_trained(ctx, model, tok, values["model.method"])
    (ctx.run_dir / "labels.json").write_text(json.dumps({"labels": names}, indent=2), "utf-8")


# --- a finished run: predict and merge -------------------------------------------------------

def load_finished(run_dir: Path, values: dict[str, Any], task: GenerativeTask, *, quantize: bool = True):
    """(model, tokenizer) of a completed run: its base (4-bit again when trained so, unless
    `quantize` is off) with the saved adapter, or the saved full model."""
    from workbench.data.splits import load_splits
    from workbench.models.load import load_causal_lm

    if values["model.method"] == "full":
        loaded = load_causal_lm(str(run_dir / "model"), values, tokenizer_path=str(run_dir / "model"), quantize=False)
        model = loaded.model
    else:
        from peft import PeftModel

        from workbench.models.source import base_path

        base = base_path(run_dir, values, lambda: task.tokenizer_texts(load_splits(values).train))
        loaded = load_causal_lm(base, values, tokenizer_path=str(run_dir / "adapter"), quantize=quantize)
        model = PeftModel.from_pretrained(loaded.model, str(run_dir / "adapter"))
    if torch.cuda.is_available() and not (quantize and values["quant.use_4bit"]):
        model = model.to("cuda")
    return model, loaded.tokenizer


def predict_file(run_dir: Path, values: dict[str, Any], task: GenerativeTask, input_path: Path, output: Path,
                 batch_size: int | None = None) -> dict[str, Any]:
    from workbench.data.splits import reader

    records = reader(values, unlabelled=True)(str(input_path))
    model, tok = load_finished(run_dir, values, task)
    names = json.loads((run_dir / "labels.json").read_text("utf-8"))["labels"]
    prompts = [p for p, _ in task.pairs(records, tok)]
    answers = generate(model, tok, prompts, batch_size=batch_size or values["eval.batch_size"],
                       max_new_tokens=values["eval.max_new_tokens"], max_length=values["model.max_length"])
    scored = task.score(records, answers, names)
    with open(output, "w", encoding="utf-8") as f:
        for row in scored.rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    out: dict[str, Any] = {"rows": len(records), "output": str(output)}
    if scored.extra.get("scored", True):  # the input had answers / tags: metrics as for a split
        out.update(labels=scored.labels, aggregates=scored.aggregates)
    else:
        out["counts"] = scored.aggregates
    return out
