"""The run sequence, once for every task (docs/architecture.md, "The run sequence"):

    task.load_splits -> resolve the model source -> task.load_model -> the recipe's method
    -> `model` event -> base evaluation (every eval split) -> Trainer (epoch evaluations, checkpoints)
    -> tuned evaluation (+ prediction files) -> label prior (every eval split) -> guardrails -> eval.targets
    -> save adapter / model -> labels.json -> metrics.json (and the task's result CSVs: train/results.py)

What varies per task is the Task protocol (workbench/tasks/base.py): `run` uses its training
role, `evaluate_only` its evaluation role. This module holds no task kind's name.
"""

from __future__ import annotations

from typing import Any

from workbench import faults, rundir
from workbench.data.splits import Splits
from workbench.tasks.base import EvaluationTask, Scored, TrainingTask, write_rows
from workbench.train.context import RunContext
from workbench.train.results import record_targets, write_results


def run(ctx: RunContext, task: TrainingTask) -> None:
    from workbench.models.load import apply_method, count_params
    from workbench.models.placement import this_process
    from workbench.models.source import record_base, resolve_source
    from workbench.train.trainer import build_trainer, save_trained, train_and_summarize, weights_origin

    recipe = ctx.recipe.view
    splits = task.load_splits()
    names = splits.label_names
    ctx.log(f"data: {splits.describe()}")

    # the training texts as a list only where a tiny model's tokenizer is trained on them (a 1M-row
    # split stays in Arrow otherwise)
    tiny = ctx.recipe.model.source.tiny
    path = resolve_source(recipe, task.tokenizer_texts(splits.train) if tiny else None)
    ctx.log(f"placement: {this_process(recipe, quantized=ctx.recipe.quant.use_4bit).note}")
    loaded = task.load_model(path, names)
    tok = loaded.tokenizer
    quant = loaded.quant  # the checkpoint's own quantization decides, else the recipe's (models/checkpoint.py)
    if quant is not None and quant.note:
        ctx.log(f"weights: {quant.note}")
    if ctx.recipe.train.packing:  # before any evaluation: a model that cannot pack stops here, in one line
        from workbench.models.packing import check_packing

        ctx.log(check_packing(loaded.model, recipe.model.attn_implementation))
    model = apply_method(loaded, recipe, task_type=task.peft_task_type)
    trainable, total = count_params(model)
    ctx.emit("model", source=ctx.recipe.model.source.spec, resolved_path=path, method=ctx.recipe.model.method,
             trainable_params=trainable, total_params=total, new_modules=loaded.new_modules,
             quantized=quant.label if quant is not None else None)
    record_base(ctx.run_dir, recipe, path)

    eval_sets: list[tuple[str, Any]] = [("validation", task.eval_records(splits.validation))]
    if splits.test is not None:
        eval_sets.append(("test", task.eval_records(splits.test)))

    # Every rank evaluates (only rank 0 writes): no rank waits at the Trainer's first collective
    # for longer than the evaluation takes, whatever the process group's timeout.
    base_sets = [(split, records) for split, records in eval_sets if ctx.needs_base_eval(split)]
    base_scored: dict[str, Scored] = {}
    if base_sets:
        ctx.phase("base eval", f"evaluating the base model ({sum(len(r) for _, r in base_sets)} examples)")
        if base_sets[0][0] != "validation" and ctx.recipe.eval.base:
            # A resumed run kept the base validation but not the rest: the task scores later splits
            # with what validation set (tuned thresholds), so it sees validation again, unrecorded.
            base_scored["validation"] = task.evaluate(model, tok, eval_sets[0][1], names, phase="base",
                                                      split="validation")
        for split, records in base_sets:
            scored = task.evaluate(model, tok, records, names, phase="base", split=split)
            record_eval(ctx, scored, phase="base", split=split, step=0, epoch=0.0)
            base_scored[split] = scored

    data = task.training_data(tok, splits)
    for note in data.notes:
        ctx.log(note)
    trainer = build_trainer(model, tok, ctx.recipe.view, ctx.run_dir, ctx.writer,
                            train_dataset=data.train_dataset, eval_dataset=data.eval_dataset,
                            data_collator=data.data_collator, compute_metrics=data.compute_metrics,
                            per_label=data.per_label, compute_loss=data.compute_loss, world_size=ctx.world_size)
    ctx.phase("training", "training")
    train_and_summarize(trainer, ctx)
    model = trainer.model  # the best checkpoint (train.best_metric), reloaded by the Trainer
    if not ctx.is_main:
        return

    # the tuned evaluations carry the step and epoch of the weights they score
    step, epoch = weights_origin(trainer)
    ctx.phase("tuned eval", "evaluating the tuned model"
              + (f": the best checkpoint (step {step}, epoch {epoch:g}) by {ctx.recipe.train.best_metric}; training "
                 f"ended at step {trainer.state.global_step}" if step != trainer.state.global_step else ""))
    tuned_scored: dict[str, Scored] = {}
    for split, records in eval_sets:
        scored = task.evaluate(model, tok, records, names, phase="tuned", split=split)
        record_eval(ctx, scored, phase="tuned", split=split, step=step, epoch=epoch)
        tuned_scored[split] = scored
    prior = record_prior(ctx, task, splits.train, eval_sets, names)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]  # restored with a resumed checkpoint
    record_guardrails(ctx, splits, base_scored.get("validation"), tuned_scored["validation"], losses, prior=prior)
    record_targets(ctx, tuned_scored)
    save_trained(ctx, model, tok, ctx.recipe.model.method)
    rundir.write_labels(ctx.run_dir, task.labels_record(names))
    write_results(ctx, task)


def evaluate_only(ctx: RunContext, task: EvaluationTask, source: str, source_run: str | None) -> None:
    """An evaluation run (`workbench eval`): the model a finished run trained (`source_run`, its folder)
    or any model source (hub id, local or merged folder) scored on the recipe's evaluation splits
    exactly as a training run scores its tuned model, recorded under phase "tuned". No training."""
    from pathlib import Path

    from workbench.models.load import count_params, place_for_inference
    from workbench.models.source import resolve_source

    splits = task.load_splits()
    names = splits.label_names
    ctx.log(f"data: {splits.describe()}")
    ctx.phase("loading", f"loading {source}")
    if source_run is not None:
        trained = rundir.read_labels(Path(source_run)).get("labels")
        if isinstance(trained, list):  # `workbench eval` checked it before launching; the folder may have changed
            splits.check_model_labels(trained)
        model, tok = task.load_finished(Path(source_run))
    else:
        tiny = ctx.recipe.model.source.tiny
        path = resolve_source(ctx.recipe.view, task.tokenizer_texts(splits.train) if tiny else None)
        loaded = task.load_model(path, names)
        model, tok = place_for_inference(loaded.model, quantized=ctx.recipe.quant.use_4bit), loaded.tokenizer
    _trainable, total = count_params(model)
    ctx.emit("model", source=source, resolved_path=source_run or ctx.recipe.model.source.spec, method="eval",
             trainable_params=0, total_params=total)
    ctx.phase("tuned eval", f"evaluating {source}")
    scored: dict[str, Scored] = {}
    eval_sets = [(split, task.eval_records(records)) for split, records in
                 [("validation", splits.validation), ("test", splits.test)] if records is not None]
    for split, records in eval_sets:
        scored[split] = task.evaluate(model, tok, records, names, phase="tuned", split=split)
        record_eval(ctx, scored[split], phase="tuned", split=split, step=0, epoch=0.0)
    prior = record_prior(ctx, task, splits.train, eval_sets, names)
    record_guardrails(ctx, splits, None, scored["validation"], [], who="the evaluated model", prior=prior,
                      trained=source_run is not None)
    record_targets(ctx, scored)
    write_results(ctx, task)


def record_prior(ctx: RunContext, task: EvaluationTask, train: Any, eval_sets: list[tuple[str, Any]],
                 names: list[str]) -> Scored | None:
    """The label-prior baseline (phase "prior", the task's constant predictor from the training
    labels) on every eval split, recorded as a model's evaluation is; its validation scoring, or None
    where the task has none. After training: a resumed run redoes it with the tuned evaluation."""
    out = None
    for split, records in eval_sets:
        scored = task.evaluate_prior(train, records, names, split=split)
        if scored is None:
            return None
        record_eval(ctx, scored, phase="prior", split=split, step=0, epoch=0.0)
        out = out or scored
    return out


def record_eval(ctx: RunContext, scored: Scored, *, phase: str, split: str, step: int, epoch: float) -> None:
    """Prediction files and their artifact events first, then the eval event: a recorded eval
    event means the split is done (a resumed run keeps it)."""
    for other_split, other in scored.also.items():  # before the split's own eval event: it marks the split done
        _record_one(ctx, other, phase=phase, split=other_split, step=step, epoch=epoch)
    _record_one(ctx, scored, phase=phase, split=split, step=step, epoch=epoch)
    faults.at(f"{phase}_eval")


def _record_one(ctx: RunContext, scored: Scored, *, phase: str, split: str, step: int, epoch: float) -> None:
    for note in scored.notes:
        ctx.log(note)
    if ctx.is_main:
        out = ctx.run_dir / f"predictions_{phase}_{split}.jsonl"
        write_rows(out, scored.rows)
        ctx.emit("artifact", kind="predictions", path=str(out), split=split, phase=phase, rows=len(scored.rows))
        if scored.report:
            report = ctx.run_dir / f"report_{phase}_{split}.txt"
            report.write_text(scored.report, encoding="utf-8")
            ctx.emit("artifact", kind="report", path=str(report), split=split, phase=phase)
    ctx.emit("eval", phase=phase, split=split, step=step, epoch=epoch, labels=scored.labels,
             aggregates=scored.aggregates, **scored.extra)


def record_guardrails(ctx: RunContext, splits: Splits, base: Scored | None, tuned: Scored,
                      losses: list[float], who: str = "the tuned model", prior: Scored | None = None,
                      trained: bool = True) -> None:
    """Warnings for a run that completed but learned nothing (workbench/metrics/guardrails.py): one
    `warnings` event (the store's runs.warnings) and a log line each. trained: False for `workbench eval`
    of a model source (no run of this store trained it)."""
    from workbench.metrics import guardrails

    # the predictions as `workbench predict` makes them: at the tuned thresholds where there are some
    at_split = next(iter(tuned.also), None)
    at = tuned.also[at_split] if at_split is not None else tuned
    # the prior judged as the tuned model is: each at its own thresholds where they were tuned
    prior_at = None if prior is None else prior.also.get(at_split, prior) if at_split is not None else prior
    found = guardrails.check(
        rows=at.rows, label_names=splits.label_names, label_word=splits.label_word,
        rare_label_knobs=splits.rare_label_knobs, trained=trained,
        support={n: m.get("support", 0) for n, m in tuned.labels.items()},
        base=base.aggregates if base is not None else None, tuned=tuned.aggregates,
        prior=prior_at.aggregates if prior_at is not None else None, tuned_at=at.aggregates,
        metric=ctx.recipe.train.best_metric, losses=losses, learning_rate=ctx.recipe.train.learning_rate, who=who,
        method=ctx.recipe.model.method)
    for w in found:
        ctx.log(w.message, level="warning")
    ctx.emit("warnings", items=[w.as_dict() for w in found])

