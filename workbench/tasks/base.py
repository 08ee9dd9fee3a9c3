"""The task interface: what varies between task kinds (multi-label classification, chat
classification, NER) and nothing else. The run sequence that uses it exists once, in
workbench/train/pipeline.py; `workbench predict`, `merge` and `export` reload a finished run
through it (docs/architecture.md, "The run sequence" and "Tasks").

A task object is bound to one recipe's flat values (`get_task(values)` in workbench/tasks/__init__.py).
Modules that define tasks import torch and transformers only inside methods, so the registry and
`check_recipe` stay cheap for `workbench validate` and the app.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol

from workbench.data.profile import ProfileRows
from workbench.data.splits import Splits
from workbench.errors import UserError
from workbench.models.load import LoadedModel
from workbench.recipe.sections import RecipeView
from workbench.tasks.exported import CardText, InferenceCode

# `fail(message, section, key)` builds the UserError naming the recipe file and the line of `section.key`.
Fail = Callable[..., Exception]


@dataclass
class Scored:
    """One split evaluated: the eval event's fields, prediction rows, and what the run should log."""
    labels: dict[str, dict[str, float]]                   # {label / class / entity type: {metric: value}}
    aggregates: dict[str, float]                          # {metric: value}
    rows: list[dict[str, Any]]                            # predictions_<phase>_<split>.jsonl, one per example
    extra: dict[str, Any] = field(default_factory=dict)   # more eval-event fields (e.g. fairness groups)
    report: str = ""                                      # a text report saved beside the predictions
    notes: list[str] = field(default_factory=list)        # log lines (e.g. thresholds tuned)
    # The same rows scored again another way, recorded as evaluations of their own split name
    # (e.g. "validation_at_thresholds": each model at thresholds tuned on the validation rows).
    also: dict[str, Scored] = field(default_factory=dict)


@dataclass
class TrainingData:
    """What the Trainer gets from a task."""
    train_dataset: Any
    eval_dataset: Any
    data_collator: Callable
    compute_metrics: Callable | None = None              # epoch evaluations scored by metric (classification)
    per_label: Callable[[], dict] | None = None          # the last compute_metrics' per-label rows
    compute_loss: Callable | None = None                  # the Trainer's compute_loss_func (e.g. class weights)
    notes: list[str] = field(default_factory=list)        # log lines (e.g. the class weights used)


class ModelHead(NamedTuple):
    """The head of the model a recipe trains, as the memory estimate and the LoRA module check
    build it on the meta device (workbench/models/memory.py, meta.py)."""
    causal: bool      # a causal LM's head over the vocabulary, else a classifier's
    num_labels: int   # a classifier's outputs (0 for a causal LM)


# The Task protocol, split by the roles a task plays (torchtune keeps its recipe interfaces as small):
# each caller names the role it uses, and a task class implements them all (`Task`). mypy checks every
# registered class against `Task` (each task module's `TASK: type[Task]`, workbench/tasks/__init__.py).

class RecipeTask(Protocol):
    """What a task says of a recipe before any of its files is read (class-level: no recipe bound):
    `workbench validate`, every launch and the trainer run its checks, the app's new recipe writes
    its template, --dry-run and the LoRA check build its model's head."""
    kind: ClassVar[str]                              # the recipe's `task` (workbench/recipe/task_names.py)
    template_knobs: ClassVar[tuple[str, ...]]        # the knobs a new recipe spells out beside every task's
    template_values: ClassVar[dict[str, Any]]        # their starter values where the default will not do
    metrics: ClassVar[tuple[str, ...]]               # the aggregates its evaluation can report (eval.targets' names)

    @staticmethod
    def check_recipe(recipe: RecipeView, fail: Fail) -> None:
        """Cross-field checks of the knobs this task reads; raise fail(...) on the first problem."""
        ...

    @staticmethod
    def model_head(recipe: RecipeView) -> ModelHead:
        """The head of the model this recipe trains (its label count read from the recipe alone)."""
        ...


class TaskData(Protocol):
    """A recipe's data as the task reads it: `workbench validate` and `workbench data`, a tiny model's
    tokenizer, and every role below."""
    kind: ClassVar[str]
    values: dict[str, Any]           # the recipe's flat values
    recipe: RecipeView               # the same, typed (workbench/recipe/sections.py): recipe.train.batch_size

    def reader(self, *, unlabelled: bool = False) -> Callable[[str], Any]:
        """path -> this task's records, validated (errors name file and line). `unlabelled`: predict
        input, which may come without labels / answers / tags."""
        ...

    def load_splits(self) -> Splits:
        """Every data file of the recipe, read and validated, with the label names."""
        ...

    def profile_rows(self, records: Any, tokenizer: Any = None) -> ProfileRows:
        """A split's records as `workbench data` profiles them: per row, the text the model is fed
        (its length is what `model.max_length` truncates) and its labels (classification: the row's
        labels or class; NER: one entity type per entity mention). Generative tasks give the whole
        training sequence, prompt + answer + eos, as training tokenizes it; with `tokenizer` None
        (none could be loaded) the text stands without the chat template / special tokens."""
        ...

    def tokenizer_texts(self, train: Any) -> list[str]:
        """Texts a tiny model's tokenizer is trained on (tiny: sources only)."""
        ...


class EvaluationTask(TaskData, Protocol):
    """A model scored on the recipe's evaluation splits: every run's base and tuned evaluations, and
    an evaluation run (`workbench eval`, train/pipeline.py: evaluate_only) of a base model or of a
    finished run's."""
    # The run folder also holds performance.csv and bias.csv (per label, per fairness row: the result
    # files the source project of chat classification wrote; train/results.py)
    result_tables: ClassVar[bool]

    def load_model(self, path: str, label_names: list[str]) -> LoadedModel:
        """The base model and tokenizer for training (quantized when the recipe says so)."""
        ...

    def load_finished(self, run_dir: Path, *, quantize: bool = True, to_gpu: bool = True) -> tuple[Any, Any]:
        """(model, tokenizer) of a completed run: its base with the saved adapter, or the saved full model.
        `quantize=False` reloads a 4-bit base in full precision (merging)."""
        ...

    def eval_records(self, records: Any) -> Any:
        """The records of a split that base and tuned models are evaluated on (the same for both)."""
        ...

    def evaluate(self, model, tokenizer, records: Any, label_names: list[str], *, phase: str, split: str) -> Scored:
        """Score a model on one split; `phase` is "base" or "tuned". The task may keep state between
        calls of one run: thresholds tuned on a model's validation split score its test split, so the
        pipeline evaluates validation first."""
        ...

    def evaluate_prior(self, train: Any, records: Any, label_names: list[str], *, split: str) -> Scored | None:
        """The label-prior baseline (phase "prior") on one split's eval_records: a constant prediction
        read off the training split's labels, scored through the same metric code as a model (and,
        like a model, validation first). None where the task has none worth storing (NER)."""
        ...


class TrainingTask(EvaluationTask, Protocol):
    """A training run (train/pipeline.py: run): evaluation, plus the method, the Trainer's data and labels.json."""
    peft_task_type: ClassVar[str]    # peft's TaskType name: "SEQ_CLS" or "CAUSAL_LM"

    def training_data(self, tokenizer, splits: Splits) -> TrainingData:
        ...

    def labels_record(self, label_names: list[str]) -> dict[str, Any]:
        """What labels.json of a finished run holds (label names, and thresholds where they apply)."""
        ...


class FinishedRunTask(TaskData, Protocol):
    """A finished run reloaded: `workbench predict`, `merge` and `export` (the export's labels.json,
    its model card's words and its stand-alone inference code: workbench/tasks/exported.py)."""

    def load_finished(self, run_dir: Path, *, quantize: bool = True, to_gpu: bool = True) -> tuple[Any, Any]:
        """As EvaluationTask.load_finished."""
        ...

    def predict_file(self, run_dir: Path, input_path: Path, output: Path, batch_size: int | None = None) -> dict[str, Any]:
        """Predict a file with a finished run: {"rows", "output"} and, when the input has labels,
        "labels" and "aggregates" (else "counts")."""
        ...

    def export_labels(self, meta: dict[str, Any]) -> dict[str, Any]:
        """An export's labels.json beyond the task and the label names, from the run's labels.json
        (`meta`): how a prediction is decided (and the thresholds where they apply)."""
        ...

    def card_text(self, labels: dict[str, Any]) -> CardText:
        """What an export's model card says of this task (`labels`: the export's labels.json)."""
        ...

    def inference_code(self, labels: dict[str, Any], folder: str) -> InferenceCode:
        """The pieces of an export's stand-alone Python that differ per task; `folder`: the Python
        expression of the folder the model loads from."""
        ...


class Task(RecipeTask, TrainingTask, FinishedRunTask, Protocol):
    """Every role: what a task class implements, bound to one recipe's flat values."""

    def __init__(self, values: dict[str, Any]) -> None:
        ...


def refuse_base_system_prompt(recipe: RecipeView, fail: Fail) -> None:
    """eval.base_system_prompt_file is chat classification's alone (the tasks without a system prompt
    refuse it first thing in their checks)."""
    if recipe.eval.base_system_prompt_file:
        raise fail(f"eval.base_system_prompt_file gives chat_classification's base model its own system prompt; "
                   f"task {recipe.task} has none", "eval", "base_system_prompt_file")


def checked_group_columns(recipe: RecipeView, fail: Fail) -> list[str]:
    """The recipe's group columns (data.group_columns, or its older name data.group_field), the two
    names set at once refused at the recipe's line, as is fairness.positive_classes without any."""
    from workbench.data.groups import group_columns

    try:
        columns = group_columns(recipe.data)
    except UserError as e:
        raise fail(str(e), "data", "group_columns") from None
    if recipe.fairness.positive_classes and not columns:
        raise fail("fairness.positive_classes needs data.group_columns (the columns or record fields naming each "
                   "example's groups, e.g. [\"identity\"])", "fairness", "positive_classes")
    return columns


# The per-label evaluation rows a positive class's bias report gives (`evals`, label = the class): its
# overall AUC, each bias AUC's generalized mean over the groups, and the Jigsaw final score.
BIAS_METRICS = {"overall_auc": "overall_auc", "subgroup_auc": "bias_subgroup_auc", "bpsn_auc": "bias_bpsn_auc",
                "bnsp_auc": "bias_bnsp_auc", "final_score": "bias_final_score"}


def judge_fairness(recipe: RecipeView, scored: Scored, scores, gold, pred, names: Sequence[str],
                   groups: dict[str, list[tuple[str, ...]]], *, union: bool) -> None:
    """With fairness.positive_classes and group columns: the bias report of each positive class
    (workbench/metrics/bias.py) as the eval event's `bias`, its AUC means and final score as that
    class's evaluation rows, and `groups_flagged` among the aggregates: the (column, group) pairs over
    a limit, for one of the positive classes or, with `union` and several, for "one of them" (the
    rate chat classification has always judged). scores / gold / pred: examples x classes (0/1 gold
    and predictions, one-hot for single-label). One code path for every classification task."""
    from workbench.metrics.bias import UNION, bias_by_class

    positive = list(recipe.fairness.positive_classes)
    if not positive or not groups:
        return
    f = recipe.fairness
    report = bias_by_class(scores, gold, pred, names, positive, groups, union=union, max_fpr=f.max_fpr,
                           max_fnr=f.max_fnr, fpr_limits=dict(f.group_limits))
    scored.extra["bias"] = report
    for cls, r in report.items():
        values = {"overall_auc": r["overall_auc"], **r["means"], "final_score": r["final_score"]}
        row = scored.labels.setdefault(cls, {})
        row.update({BIAS_METRICS[k]: v for k, v in values.items() if v is not None})
    judged = [report[UNION]] if UNION in report else list(report.values())
    flagged = {(g["group_column"], g["group"]) for r in judged for g in r["groups"] if g["flagged"]}
    scored.aggregates["groups_flagged"] = float(len(flagged))


def write_rows(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Prediction rows as JSONL, one object per example."""
    import json

    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
