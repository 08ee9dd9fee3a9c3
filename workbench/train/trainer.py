"""transformers Trainer set-up shared by every task: arguments from the recipe, and the
callback that turns Trainer logs into events."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments

from workbench import faults, rundir
from workbench.events import EventWriter
from workbench.recipe.sections import RecipeView


def resolve_optimizer(recipe: RecipeView) -> str:
    """The optimizer that will run: `auto` is 8-bit paged AdamW for a 4-bit model on CUDA (what
    QLoRA uses: optimizer state paged to CPU under memory pressure), plain AdamW elsewhere."""
    import torch

    from workbench.errors import UserError

    name = recipe.train.optimizer
    on_gpu = torch.cuda.is_available()
    if name == "auto":
        return "paged_adamw_8bit" if recipe.quant.use_4bit and on_gpu else "adamw_torch"
    if name in ("paged_adamw_8bit", "adamw_bnb_8bit") and not on_gpu:
        raise UserError(f"train.optimizer = {name!r} needs a CUDA GPU (bitsandbytes' 8-bit optimizers); "
                        "this machine has none: use \"auto\" or \"adamw_torch\"")
    return name


def training_arguments(recipe: RecipeView, run_dir: Path, *, world_size: int = 1) -> TrainingArguments:
    import torch

    from workbench.models.load import compute_dtype

    dtype = compute_dtype(recipe.model.precision)
    on_gpu = torch.cuda.is_available()
    # MLflow is fed from the run's events (workbench/tracking/mlflow_sink.py: one run with every
    # evaluation per label and the artifacts), not by the Trainer's callback (a second run, scalars only).
    report_to = [r for r in recipe.train.report_to if r not in ("none", "mlflow")]
    if "tensorboard" in report_to:
        import os

        os.environ["TENSORBOARD_LOGGING_DIR"] = str(run_dir / "tensorboard")
    max_steps = recipe.train.max_steps
    best = recipe.train.best_metric
    # With max_steps, evaluate and save once at the end (an epoch may never complete).
    strategy = "steps" if max_steps > 0 else "epoch"
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=recipe.train.batch_size,
        per_device_eval_batch_size=recipe.eval.batch_size,
        gradient_accumulation_steps=recipe.train.gradient_accumulation_steps,
        num_train_epochs=recipe.train.epochs,
        max_steps=max_steps,
        learning_rate=recipe.train.learning_rate,
        weight_decay=recipe.train.weight_decay,
        optim=resolve_optimizer(recipe),
        lr_scheduler_type=recipe.train.scheduler,
        lr_scheduler_kwargs=scheduler_kwargs(recipe),
        warmup_steps=recipe.train.warmup_steps,
        max_grad_norm=recipe.train.max_grad_norm,
        seed=recipe.train.seed,
        eval_strategy=strategy,
        save_strategy=strategy,
        eval_steps=max_steps if max_steps > 0 else None,
        save_steps=max_steps if max_steps > 0 else 500,  # 500: the Trainer's default, unused by epoch saving
        load_best_model_at_end=True,
        metric_for_best_model=best,
        greater_is_better=best != "loss",
        save_total_limit=recipe.train.save_total_limit,
        logging_strategy="steps",
        logging_steps=recipe.train.logging_steps,
        # counts real (non-padding) tokens for tokens/s
        include_num_input_tokens_seen="non_padding",
        train_sampling_strategy="group_by_length" if recipe.train.length_grouping else "random",
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16,
        use_cpu=not on_gpu,
        report_to=report_to or "none",
        # Recompute activations in backward; non-reentrant works with frozen (LoRA) inputs.
        gradient_checkpointing=recipe.train.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if recipe.train.gradient_checkpointing else None,
        disable_tqdm=True,
        log_level="warning",
        dataloader_num_workers=0,
        remove_unused_columns=False,
        # PEFT under DDP: without these the logged loss and gradients are scaled by world size,
        # and DDP errors on the frozen base weights (docs/architecture.md, "Several processes").
        average_tokens_across_devices=False,
        ddp_find_unused_parameters=False if world_size > 1 else None,
    )


def scheduler_kwargs(recipe: RecipeView) -> dict[str, Any]:
    """The schedule's own knobs. reduce_lr_on_plateau is torch's ReduceLROnPlateau, stepped by the
    Trainer with train.best_metric after each evaluation; without these it would keep torch's
    factor 0.1 and patience 10, which never act within a few epochs."""
    if recipe.train.scheduler != "reduce_lr_on_plateau":
        return {}
    return {"factor": recipe.train.plateau_factor, "patience": recipe.train.plateau_patience,
            "mode": "min" if recipe.train.best_metric == "loss" else "max"}


class EndsRun(TrainerCallback):
    """A callback that may stop training for good (a tune trial's pruner: train/prune.py): `ending` is
    what `train_and_summarize` raises once training returned and its summary is recorded."""

    ending: BaseException | None = None


class EventsCallback(TrainerCallback):
    """Trainer logs -> `step` / `eval` / `checkpoint` events (main process only).

    Throughput counts training time only: the clock runs from one step's end to the next and
    restarts after an evaluation or a checkpoint save, so `samples_per_s` of step events and the
    run's `train_samples_per_s` leave both out (the Trainer's own figure counts them)."""

    def __init__(self, writer: EventWriter, *, batch_size: int, world_size: int,
                 per_label: Callable[[], dict[str, dict[str, float]]] | None = None, split: str = "validation"):
        self.writer = writer
        self.examples_per_step = batch_size * world_size
        self.per_label = per_label
        self.split = split
        self._clock = 0.0          # perf_counter() when training last resumed (after a step, eval or save)
        self.train_seconds = 0.0   # training time of this train() call
        self.first_step = 0        # global step this train() call started from (a resumed run: not 0)
        self._window = 0.0         # training time since the last step event
        self._last_step = 0
        self._last_tokens = 0
        self._evaluating = False

    def on_train_begin(self, args, state, control, **kw):
        if state.is_world_process_zero:
            self.writer.emit("log", level="info", message=f"training: {state.max_steps} steps, "
                             f"{math.ceil(args.num_train_epochs) if args.max_steps <= 0 else '-'} epochs, "
                             f"optimizer {getattr(args.optim, 'value', args.optim)}")
        self._clock = time.perf_counter()
        self.train_seconds = self._window = 0.0
        self.first_step = self._last_step = state.global_step
        self._last_tokens = state.num_input_tokens_seen or 0

    def on_step_end(self, args, state, control, **kw):
        now = time.perf_counter()
        self.train_seconds += now - self._clock
        self._window += now - self._clock
        self._clock = now
        if state.global_step >= state.max_steps:
            control.should_log = True  # the last step, whatever logging_steps: the run's record ends where it did
        faults.at("step", state.global_step)

    def on_epoch_end(self, args, state, control, **kw):
        # An epoch's last steps are logged before its evaluation, which may stop training (early
        # stopping): the record then ends at the step training ended at. The Trainer logs a step once.
        control.should_log = True

    def on_log(self, args, state, control, logs=None, **kw):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        dt = max(self._window, 1e-9)
        steps = state.global_step - self._last_step
        tokens = (state.num_input_tokens_seen or 0) - self._last_tokens
        self.writer.emit(
            "step", step=state.global_step, max_steps=state.max_steps, epoch=logs.get("epoch", state.epoch),
            loss=logs.get("loss"), lr=logs.get("learning_rate"), grad_norm=logs.get("grad_norm"),
            samples_per_s=steps * self.examples_per_step * args.gradient_accumulation_steps / dt,
            tokens_per_s=tokens / dt if tokens else None,
        )
        self._window, self._last_step, self._last_tokens = 0.0, state.global_step, state.num_input_tokens_seen or 0

    def samples_per_s(self, state, args) -> float | None:
        steps = state.global_step - self.first_step
        if steps <= 0 or self.train_seconds <= 0:
            return None
        return steps * self.examples_per_step * args.gradient_accumulation_steps / self.train_seconds

    def on_prediction_step(self, args, state, control, **kw):
        if not self._evaluating:  # the first batch of an evaluation: the point counts evaluations
            self._evaluating = True
            faults.at("epoch_eval")

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        if state.is_world_process_zero and metrics:
            skip = ("runtime", "samples_per_second", "steps_per_second", "epoch")
            agg = {k.removeprefix("eval_"): v for k, v in metrics.items() if k.removeprefix("eval_") not in skip}
            self.writer.emit("eval", phase="epoch", split=self.split, step=state.global_step, epoch=state.epoch,
                             labels=self.per_label() if self.per_label else {}, aggregates=agg)
        self._evaluating = False
        self._clock = time.perf_counter()  # evaluation time is not training time

    def on_save(self, args, state, control, **kw):
        self._clock = time.perf_counter()  # nor is writing a checkpoint
        if state.is_world_process_zero:
            path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            self.writer.emit("checkpoint", step=state.global_step, path=str(path))


class RunTrainer(Trainer):
    """The Trainer, with one named fault point: a kill between a checkpoint's weights and its
    optimizer / trainer state (the torn checkpoint a resume must not continue from)."""

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        super().save_model(output_dir, _internal_call=_internal_call)
        if _internal_call:
            faults.at("checkpoint_save")


def build_trainer(model, tokenizer, recipe: RecipeView, run_dir: Path, writer: EventWriter, *,
                  train_dataset, eval_dataset, data_collator, compute_metrics=None, per_label=None,
                  compute_loss=None, world_size: int = 1) -> Trainer:
    args = training_arguments(recipe, run_dir, world_size=world_size)
    callbacks: list[TrainerCallback] = [
        EventsCallback(writer, batch_size=recipe.train.batch_size, world_size=world_size, per_label=per_label)]
    if recipe.train.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=recipe.train.early_stopping_patience,
                                               early_stopping_threshold=recipe.train.early_stopping_threshold))
    tune = rundir.read_run_meta(run_dir).get("tune")
    if tune:  # a trial of `workbench tune`: its pruner may stop it (Optuna is loaded for such runs only)
        from workbench.train.prune import PruningCallback

        callbacks.append(PruningCallback(tune, writer, best_metric=recipe.train.best_metric, world_size=world_size))
    trainer = RunTrainer(model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                         data_collator=data_collator, processing_class=tokenizer, compute_metrics=compute_metrics,
                         compute_loss_func=compute_loss, callbacks=callbacks)
    if compute_loss is not None:
        trainer.loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides it over accumulation steps
    return trainer


def peak_memory() -> tuple[int, str]:
    """(bytes, kind): CUDA max allocated on a GPU, else the process's peak RSS."""
    import resource

    import torch

    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated()), "cuda_max_allocated"
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "peak_rss"  # Linux reports KiB


def train_and_summarize(trainer: Trainer, ctx) -> None:
    """trainer.train(), then one `summary` event: wall time, throughput, peak memory, optimizer
    (what `workbench compare` sets side by side for full fine-tune vs LoRA)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    checkpoint = ctx.resume.checkpoint
    if checkpoint is not None:
        ctx.log(f"continuing training from {checkpoint.name} (step {ctx.resume.step})")
    # Resuming restores weights, optimizer, scheduler, RNG and early-stopping state and skips
    # the batches already seen, so the run continues as if it had never stopped.
    out = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    seconds = time.perf_counter() - t0
    peak, kind = peak_memory()
    optim = trainer.args.optim
    events = next(c for c in trainer.callback_handler.callbacks if isinstance(c, EventsCallback))
    ctx.emit("summary", train_runtime_s=seconds, train_samples_per_s=events.samples_per_s(trainer.state, trainer.args),
             train_seconds=events.train_seconds, trainer_samples_per_s=out.metrics.get("train_samples_per_second"),
             train_steps=trainer.state.global_step, peak_mem_bytes=peak, peak_mem_kind=kind,
             optimizer=getattr(optim, "value", optim))
    for c in trainer.callback_handler.callbacks:
        if isinstance(c, EndsRun) and c.ending is not None:
            raise c.ending


def weights_origin(trainer: Trainer) -> tuple[int, float]:
    """(step, epoch) of the weights the Trainer ended with: the best checkpoint's when it reloaded one
    (load_best_model_at_end, by train.best_metric), else the last step's."""
    state = trainer.state
    best = state.best_model_checkpoint
    if not trainer.args.load_best_model_at_end or not best:
        return state.global_step, state.epoch or 0.0
    step = int(Path(best).name.rpartition("-")[2])
    logged = [h["epoch"] for h in state.log_history if h.get("step") == step and h.get("epoch") is not None]
    # the evaluation that made it the best is in the (resumed runs' restored) history; else, pro rata
    epoch = logged[0] if logged else (state.epoch or 0.0) * step / max(state.global_step, 1)
    return step, float(epoch)


def save_trained(ctx, model, tokenizer, method: str) -> Path:
    """Save the adapter (LoRA) or the whole model (full) with the tokenizer; the artifact event
    carries the size on disk."""
    save_dir = ctx.run_dir / ("adapter" if method == "lora" else "model")
    model.save_pretrained(save_dir)
    faults.at("save")
    tokenizer.save_pretrained(save_dir)
    size = sum(f.stat().st_size for f in save_dir.rglob("*") if f.is_file())
    ctx.emit("artifact", kind="adapter" if method == "lora" else "model", path=str(save_dir), bytes=size)
    return save_dir
