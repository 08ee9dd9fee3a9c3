"""Every recipe knob, declared once: a frozen dataclass per recipe section whose fields are its knobs.

Each field is declared with `knob(kind, default, help, ...)` (workbench/recipe/knob.py): its type is
what the code reads (`recipe.train.batch_size` is an int to mypy), its metadata the knob's kind,
default, bounds and help. From these declarations come the knob table (`schema.KNOBS`, read off the
fields in order) and from that validation of TOML recipes (`workbench.recipe.load`), `--set
section.key=value` overrides, the `workbench run` launch flags, the app's form fields and the
reference table in docs/recipes.md (`workbench schema --markdown`). Never list knobs anywhere else.

`RecipeView` is the whole recipe, typed: the top-level knobs and one attribute per section, built
from the flat checked values once (`view_of`, at load: `Recipe.view`), with launch.target and
model.source parsed (workbench/recipe/parsed.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from workbench.recipe.knob import META, Declared, Knob, Pattern, knob
from workbench.recipe.parsed import ModelSource, Target, parse_model_source, parse_target
from workbench.recipe.task_names import DEFAULT_TASK, TASK_KINDS, TASKS

# Launch values go into ssh command lines and batch-script directives. Paths and commands are
# quoted where they are used; names that become scheduler directives are held to what schedulers
# accept, so no value can carry a newline, a `;` or a `$(...)` into a script.
_NAME = Pattern(r"(|[A-Za-z0-9_][A-Za-z0-9_.+@-]*)", "empty or a name of letters, digits and _ . + @ -")
_TIME = Pattern(r"(|[0-9]+(-[0-9]{1,2})?(:[0-9]{1,2}){0,2})", "empty or a time like 04:00:00, 90 or 1-12:00:00")
_MEM = Pattern(r"(|[0-9]+[KMGT]?B?)", "empty or a size like 64G or 500M")
_PATH = Pattern(r"(|[^-\x00-\x1f\x7f][^\x00-\x1f\x7f]*)", "a path without control characters (no newlines), not starting with -")
_MODULE = Pattern(r"[A-Za-z0-9_][A-Za-z0-9_.+@/-]*", "module names like cuda/12.1 (letters, digits and _ . + @ / -)")
_ENV_NAME = Pattern(r"[A-Za-z_][A-Za-z0-9_]*", "environment variable names")
_BIND = Pattern(r"/[^\x00-\x1f\x7f:;,$`&|<>'\"\\ ]*(:/[^\x00-\x1f\x7f:;,$`&|<>'\"\\ ]*(:(ro|rw))?)?",
                "binds /SRC[:/DST[:ro|rw]] (absolute paths without spaces, quotes, ; , $ or control characters)")
_JOB_NAME = Pattern(r"(|[A-Za-z][A-Za-z0-9_.-]{0,63})",
                    "empty or a job name: a letter, then up to 63 letters, digits and _ . -")
# The scheduler's own output file (relative to the run folder): no spaces, quotes or control characters,
# which #SBATCH / #PBS lines would split or carry on; SLURM's %j %A %a patterns are kept.
# Not one of the run folder's own files: the scheduler truncates or replaces its output file (a
# resumed job would wipe train.log or events.jsonl).
_OWN_FILES = (r"(train\.log|events(\.rank[0-9]+)?\.jsonl|recipe\.toml|job\.(sbatch|pbs)"
              r"|(run|job|exit|exit\.previous|labels|annotations|model)\.json)")
_LOG_FILE = Pattern(rf"(|(?!{_OWN_FILES}$)[A-Za-z0-9_%][A-Za-z0-9_.%+@-]*)",
                    "empty or a file name like slurm-%j.out (letters, digits and _ . % + @ -, in the run folder; "
                    "not one of its own files such as train.log or events.jsonl)")
_TARGET = Pattern(r"(local|slurm|pbs|(ssh|slurm|pbs):[A-Za-z0-9_][A-Za-z0-9_.@-]*)",
                  "local, ssh:HOST, slurm, slurm:HOST, pbs or pbs:HOST (HOST: an ssh host or alias)")

METHODS = ("lora", "full")
_METHOD = Pattern(r"(lora|full)", "methods (lora, full)")
_TEXT = Pattern(r"[^\x00-\x1f\x7f]*", "text without control characters")
# No user:password@ (a recipe is copied into the run folder, the store and MLflow's params): MLflow
# reads MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD or a token where the run trains.
_TRACKING_URI = Pattern(r"(|databricks|sqlite:////[^\x00-\x20\x7f@]+|(?!sqlite:)[a-z][a-z0-9+.-]*://[^\x00-\x20\x7f@]+)",
                        "a tracking URI like http://host:5000, databricks or sqlite:////abs/path/mlflow.db (an absolute "
                        "path: four slashes), without user:password@")
_REPORT_TO = Pattern(r"(tensorboard|wandb|mlflow|none)", "integrations (tensorboard, wandb, mlflow)")


@dataclass(frozen=True)
class Model:
    """[model]: what model, loaded how."""

    source: ModelSource = knob("str", "", "Hub id, local Hugging Face directory, or tiny:<arch> (bert, distilbert, llama, "
        "gpt_oss) for a small random model with a tokenizer trained on the training texts. A checkpoint that comes "
        "quantized (MXFP4, GPTQ, AWQ, bitsandbytes) loads by its own config.json: see docs/models.md.", required=True,
        parse=parse_model_source)
    method: str = knob("choice", "lora", "lora: train low-rank adapters (+ the head); full: train every weight.",
        choices=METHODS)
    max_length: int = knob("int", 512, "Longest tokenised input; longer texts are truncated. Batches are padded "
        "only to their own longest example (dynamic padding).", min=8, max=131072)
    precision: str = knob("choice", "auto", "Compute precision. auto: bf16 on a CUDA GPU that supports it, else fp32.",
        choices=("auto", "fp32", "bf16", "fp16"))
    device_map: str = knob("choice", "rank", "Where the weights go on a GPU machine. rank: each training process "
        "holds the whole model on its own GPU (cuda:LOCAL_RANK; one process per GPU, as --gpus N starts them). "
        "auto: one process whose model is sharded over every visible GPU, for a model too big for one GPU "
        "(slower: the GPUs take turns); not with --gpus N > 1 or --processes N > 1.", choices=("rank", "auto"))
    attn_implementation: str = knob("choice", "sdpa", "Attention kernel. sdpa: PyTorch's fused attention, "
        "everywhere; flash_attention_2: the flash-attn package on an Ampere or newer GPU (fp16/bf16 only); "
        "eager: the reference implementation (slowest; for debugging).",
        choices=("sdpa", "flash_attention_2", "eager"))
    tiny_hidden_size: int = knob("int", 64, "Hidden size of tiny:<arch> models (ignored for real models).", min=8, max=4096)
    tiny_layers: int = knob("int", 2, "Layers of tiny:<arch> models (ignored for real models).", min=1, max=48)
    tiny_vocab_size: int = knob("int", 2000, "Vocabulary of the tokenizer trained for tiny:<arch> models.",
        min=100, max=200000)


@dataclass(frozen=True)
class Data:
    """[data]: the training, validation and test data and how examples are read from them."""

    train_file: str = knob("path", "", "Training data. classification: .csv, .tsv, .jsonl, .json or .parquet "
        "(format from the extension, or data.format); chat_classification: a chat JSONL of {\"messages\": [...]} "
        "records; ner: CoNLL or instruction JSON. UTF-8. Or data.dataset instead.")
    validation_file: str = knob("path", "", "Validation data, same format. Empty: hold out "
        "data.validation_fraction of the training data.", judged_on=True)
    test_file: str = knob("path", "", "Optional test data, same format: evaluated base and tuned like "
        "validation, and predicted to JSONL.", judged_on=True)
    format: str = knob("choice", "", "classification: the files' format when their extension does not say it "
        "(empty: from the extension). TSV is tab-separated without quoting.",
        choices=("", "csv", "tsv", "jsonl", "json", "parquet"))
    dataset: str = knob("str", "", "classification: a Hugging Face dataset instead of files: a hub id (offline: "
        "from the local cache) or a local folder (save_to_disk, or a hub snapshot).")
    dataset_config: str = knob("str", "", "The configuration (subset) of data.dataset, where it has several.")
    train_split: str = knob("str", "train", "Split of data.dataset to train on.")
    validation_split: str = knob("str", "", "Split of data.dataset to validate on (empty: hold out "
        "data.validation_fraction of the training split).", judged_on=True)
    test_split: str = knob("str", "", "Optional split of data.dataset to test on.", judged_on=True)
    validation_fraction: float = knob("float", 0.2, "Share of the training data held out for validation when no "
        "validation file or split is given.", min=0.01, max=0.9, judged_on=True)
    split_seed: int = knob("int", 42, "Seed of the train/validation split, fixed so base and tuned see the same rows.",
        min=0, judged_on=True)
    # A random holdout of a small, unbalanced set gave 30 % of a class in train and 47 % in validation;
    # stratified keeps the shares. A run folder's recipe.toml frozen before this knob existed loads as
    # "random" (workbench/recipe/load.py), so an older run's evaluations reproduce on its own rows.
    holdout_split: str = knob("choice", "stratified", "How data.validation_fraction is held out. stratified: "
        "each class in the same share as in the training data (single-label data; multi-label data, and a class "
        "with too few rows, fall back to random, the latter said in the run's log); random: a seeded shuffle.",
        choices=("stratified", "random"), judged_on=True)
    text_column: str = knob("str", "text", "Column holding the input text.")
    text_template: str = knob("str", "", "classification: the text built from several columns, e.g. "
        "\"{title}. {description}\" (Python format fields naming columns; replaces data.text_column).")
    id_column: str = knob("str", "", "Column holding a row id, copied into predictions (empty: the line or row number).")
    labels: dict[str, str] = knob("str_map", {}, "classification, multi-label: label name = column holding 0/1 for it. "
        "Columns not named here are ignored. Or data.label_columns, or data.label_column.")
    label_columns: list[str] = knob("str_list", [], "classification, multi-label: columns holding 0/1, each a label of "
        "its own name (instead of data.labels).")
    label_values: dict[str, float] = knob("float_map", {}, "classification with 0/1 columns: more words read as 1 or 0, e.g. "
        "{ yes = 1, no = 0 } (1/0 and true/false are always read).")
    label_column: str = knob("str", "", "classification: one column holding the label. A class name or integer "
        "id: single-label (softmax); a list of labels (JSON, parquet) or a string split by data.label_separator: "
        "multi-label.")
    label_separator: str = knob("str", "", "classification: the separator of several labels in one data.label_column "
        "cell, e.g. \",\" or \"|\" (multi-label).")
    # One model scored on another data set whose labels are spelled otherwise (Davidson's 0 / 1 / 2,
    # madlibs' BAD / NOT_BAD), without rewriting either file.
    label_map: dict[str, str] = knob("str_map", {}, "classification, chat_classification: data.label_column's values "
        "renamed before the class lookup (each item of a label list too), e.g. { \"0\" = \"toxic\", \"1\" = \"toxic\", "
        "\"2\" = \"not_toxic\" }; a value the map lacks keeps its name.")
    classes: list[str] = knob("str_list", [], "The class names, in order. classification with data.label_column: "
        "integer id i is classes[i]; empty: the names found in the training split, sorted. chat_classification: "
        "the class names an answer may give (the gold answer and the generated one are both parsed to one of them).")
    # Identity data come as several columns (race, religion, gender...), and a row may name several
    # groups of one column, so this is a list of columns, each cell a name, a list or a delimited string.
    group_columns: list[str] = knob("str_list", [], "Columns (or record fields) naming each example's groups, "
        "for the per-group error rates and bias AUCs (fairness.*), e.g. [\"race\", \"religion\"]. A cell holds "
        "one group, a list of groups (JSON, parquet) or groups split by data.group_separator; "
        "fairness.no_group_values, blanks and nulls mean no group.")
    # Not data.label_separator: setting that makes data.label_column multi-label.
    group_separator: str = knob("str", "", "The separator of several groups in one data.group_columns cell of a "
        "CSV / TSV / text column, e.g. \"|\" (empty: one group per cell).")
    # The first name, kept so existing chat recipes still load; the two cannot both be set.
    group_field: str = knob("str", "", "Older name of data.group_columns = [\"FIELD\"] (one record field or "
        "column naming the target group); kept working, set one of the two.")
    prompt_template: str = knob("str", "", "chat_classification from a table (any format of classification, or "
        "data.dataset): the user message built from columns, e.g. \"Classify this tweet: {tweet}\"; "
        "data.label_column holds the answer (a class name, or an id into data.classes). Empty: chat JSONL records.")
    instruction_template: str = knob("str", "", "ner: the instruction the model reads, with {sentence} (the "
        "sentence) and optionally {entity_types} (the training split's types, comma-separated). Empty: the "
        "instruction of the data files (\"Extract named entities from the sentence: ...\").")
    chat_template: str = knob("path", "", "Jinja chat template file, for tokenizers without one (tiny models, "
        "base models). Empty: the tokenizer's own.")
    system_prompt_file: str = knob("path", "", "Text file whose content becomes the system message of every "
        "record, in training and evaluation alike (empty: the records' own).")
    max_rows: int = knob("int", 0, "Read at most this many rows of each file (0: all). For quick trials.", min=0,
        judged_on=True)


@dataclass(frozen=True)
class Lora:
    """[lora]: the adapters (model.method = "lora")."""

    USED_BY: ClassVar[tuple[str, ...]] = ("lora",)  # a full fine-tune reads none of these knobs

    r: int = knob("int", 16, "Adapter rank.", min=1, max=4096)
    alpha: float = knob("float", 32.0, "Adapter scaling numerator (scale = alpha / r).", min=0.0, max=1e6)
    dropout: float = knob("float", 0.1, "Dropout on the adapter input.", min=0.0, max=0.99)
    target_modules: list[str] = knob("str_list", [], "Module names to adapt (e.g. q_lin, v_lin; a name matches a layer "
        "by its last parts, as peft matches them), or [\"all-linear\"]: every linear layer but the output head. Empty: "
        "peft's default for the architecture (it has none for DistilBERT or gpt-oss). Checked against the model's "
        "layers before launch.")
    bias: str = knob("choice", "none", "Which biases train.", choices=("none", "all", "lora_only"))
    modules_to_save: list[str] = knob("str_list", [], "Modules trained fully and saved with the adapter (each must end "
        "the name of a module of the model). Empty: the classification head (classifier / score).")


@dataclass(frozen=True)
class Quant:
    """[quant]: 4-bit loading (QLoRA)."""

    USED_BY: ClassVar[tuple[str, ...]] = ("lora",)  # 4 bits train LoRA adapters only (quant.use_4bit)

    use_4bit: bool = knob("bool", False, "Load the base model in 4 bits (bitsandbytes) and train LoRA adapters "
        "on it (QLoRA). Needs model.method = lora; the head and norms stay in full precision.")
    type: str = knob("choice", "nf4", "4-bit data type: nf4 (normal float, QLoRA's) or fp4.", choices=("nf4", "fp4"))
    double_quant: bool = knob("bool", True, "Quantize the quantization constants too (about 0.4 bits per "
        "weight saved).")
    skip_modules: list[str] = knob("str_list", [], "Modules kept out of quantization. Empty: the classifier / score "
        "head (it must train, and peft cannot wrap a 4-bit head).")


@dataclass(frozen=True)
class Train:
    """[train]: the optimisation."""

    epochs: float = knob("float", 2.0, "Passes over the training data.", min=0.01, max=10000)
    max_steps: int = knob("int", -1, "Stop after this many optimizer steps (overrides epochs).", min=1, max=1e9,
        sentinel=-1)
    batch_size: int = knob("int", 8, "Examples per device per step.", min=1, max=65536)
    gradient_accumulation_steps: int = knob("int", 1, "Micro-batches summed before each optimizer step.", min=1, max=65536)
    learning_rate: float = knob("float", 1e-4, "Peak learning rate.", min=0.0, max=10.0)
    weight_decay: float = knob("float", 0.01, "AdamW weight decay.", min=0.0, max=10.0)
    optimizer: str = knob("choice", "adamw_torch", "Optimizer (transformers name). auto: 8-bit paged AdamW "
        "when the model is 4-bit on a CUDA GPU, else adamw_torch; the run's log says which one ran.",
        choices=("auto", "adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "paged_adamw_8bit", "adamw_bnb_8bit"))
    scheduler: str = knob("choice", "linear",
        "Learning-rate schedule. reduce_lr_on_plateau watches train.best_metric at each evaluation (each epoch, "
        "or once at the end with train.max_steps) and multiplies the rate by train.plateau_factor after "
        "train.plateau_patience evaluations without improvement.",
        choices=("linear", "cosine", "constant", "constant_with_warmup", "reduce_lr_on_plateau"))
    plateau_factor: float = knob("float", 0.5, "reduce_lr_on_plateau: the learning rate is multiplied by this "
        "when train.best_metric stops improving.", min=0.01, max=0.99)
    plateau_patience: int = knob("int", 1, "reduce_lr_on_plateau: evaluations without improvement before "
        "the rate drops. The first evaluation always sets the best, so the rate first drops after evaluation "
        "patience + 2 and changes training only with at least patience + 3 epochs.", min=0, max=1000)
    warmup_steps: float = knob("float", 0.0, "Warm-up: steps if >= 1, else a fraction of all steps.", min=0.0, max=1e9)
    max_grad_norm: float = knob("float", 1.0, "Gradient clipping norm (0: off).", min=0.0, max=1e6)
    class_weights: dict[str, float] | str = knob("float_map", {}, "classification: loss weights against class imbalance. "
        "\"balanced\": rare classes weigh more (single-label: n / (classes x count); multi-label: BCE pos_weight "
        "negatives / positives per label); a table label = weight (others 1); {} or \"none\": unweighted.",
        min=0.0, max=1e6, choices=("balanced", "none"))
    seed: int = knob("int", 42, "Seed of initialisation and data order.", min=0, max=2**32 - 1)
    best_metric: str = knob("choice", "loss", "Validation metric that picks the checkpoint kept at the end "
        "(generative tasks: loss only; they are scored by generation after training).",
        choices=("loss", "f1_micro", "f1_macro", "f1_weighted", "f1_samples"))
    early_stopping_patience: int = knob("int", 0, "Stop after this many evaluations without improvement of "
        "best_metric (0: off).", min=0, max=1000)
    early_stopping_threshold: float = knob("float", 0.0, "Smallest change of best_metric that counts as an "
        "improvement for early stopping.", min=0.0, max=1e6)
    gradient_checkpointing: bool = knob("bool", False, "Recompute activations in the backward pass: much less "
        "memory for about 30 % more compute.")
    report_to: list[str] = knob("str_list", [], "Also log to these (tensorboard writes under the run folder's "
        "tensorboard/; mlflow gets one MLflow run per run: the recipe, step metrics, every base and tuned "
        "evaluation per label, fairness rows, the adapter and prediction files). Empty: events only.",
        pattern=_REPORT_TO)
    mlflow_tracking_uri: str = knob("str", "", "With mlflow in report_to: where runs go (http://host:5000, "
        "databricks, sqlite:////abs/path/mlflow.db). Empty: MLFLOW_TRACKING_URI where the run trains, else "
        "runs/mlflow.db beside the run folders (artifacts in runs/mlartifacts).", pattern=_TRACKING_URI)
    mlflow_experiment: str = knob("str", "", "With mlflow in report_to: the MLflow experiment. Empty: "
        "MLFLOW_EXPERIMENT_NAME where the run trains, else the recipe's name.", pattern=_TEXT)
    logging_steps: int = knob("int", 10, "Emit a step event (loss, lr, throughput) every N optimizer steps, "
        "and at each epoch's end and the last step.", min=1, max=1e9)
    length_grouping: bool = knob("bool", True, "Batch examples of similar length together: less padding, faster epochs.")
    packing: bool = knob("bool", False, "Generative tasks (chat_classification, ner): each batch is one row of its "
        "examples end to end, with positions restarting per example and attention kept within each one "
        "(padding-free; transformers' DataCollatorWithFlattening); the loss is still on the answers only. "
        "Fastest with flash_attention_2, which skips the padding work altogether; with sdpa or eager the "
        "attention is computed over a block mask of the whole row.")
    save_total_limit: int = knob("int", 1, "Checkpoints kept on disk (the best one is always kept).", min=1, max=1000)


@dataclass(frozen=True)
class Eval:
    """[eval]: base and tuned evaluation, predictions."""

    threshold: float = knob("float", 0.5, "Probability above which a label is predicted.", min=0.0, max=1.0)
    tune_thresholds: bool = knob("bool", False, "classification: pick each label's threshold that maximises its "
        "F1 on the validation split, for the base and the tuned model alike; each model's are used for its test "
        "split (validation is reported at eval.threshold and, as split validation_at_thresholds, at them); the "
        "tuned model's are stored with the run and used by predict.")
    scores_all_up_to: int = knob("int", 1000, "classification: prediction files (predictions_*.jsonl, "
        "`workbench predict`) hold every label's score when the model has at most this many labels / classes; past "
        "it each row holds its eval.scores_top_k highest, those of its gold and predicted labels and of "
        "fairness.positive_classes, and says so (\"scores_top_k\": k).", min=1, max=1e9)
    scores_top_k: int = knob("int", 10, "classification, past eval.scores_all_up_to labels / classes: the "
        "highest scores each prediction row keeps.", min=1, max=1e9)
    batch_size: int = knob("int", 32, "Examples per evaluation / prediction / generation batch (generation pads "
        "on the left).", min=1, max=65536)
    base: bool = knob("bool", True, "Evaluate the base model before training, on the same rows as the tuned model.")
    base_system_prompt_file: str = knob("path", "", "chat_classification: the base model answers with this system "
        "prompt instead (e.g. an elaborate one, against the tuned model's simple data.system_prompt_file), so "
        "base vs tuned compares each with its own prompt. Empty: both get the same.")
    max_new_tokens: int = knob("int", 32, "Generative tasks: longest answer generated (greedy).", min=1, max=8192)
    max_examples: int = knob("int", 0, "Generative tasks: evaluate at most this many examples of each split "
        "(0: all); the same ones for base and tuned.", min=0, judged_on=True)
    targets: dict[str, float] = knob("float_map", {}, "Acceptance bars of the tuned model, metric = value, e.g. "
        "{ f1_macro = 0.615 }: judged at the end of the run on its test split when there is one, else "
        "validation (a lower-is-better metric such as loss is met at or below its value, the others at or "
        "above); met / not met is recorded (the targets table, runs.targets_met, show), a finding, not a "
        "failure. A metric the evaluation lacks is not met.")


@dataclass(frozen=True)
class Fairness:
    """[fairness]: per-group error rates and bias AUCs (classification tasks)."""

    positive_classes: list[str] = knob("str_list", [], "Classes or labels whose prediction flags a text, e.g. "
        "[\"hate\"]: per group of data.group_columns, their FPR, FNR and bias AUCs (subgroup, BPSN, BNSP). "
        "Empty: no fairness report.")
    max_fpr: float = knob("float", 1.0, "False-positive-rate limit of every group; a group over its limit is "
        "flagged in show, diff and the store.", min=0.0, max=1.0)
    group_limits: dict[str, float] = knob("float_map", {}, "Per-group false-positive-rate limits overriding "
        "max_fpr, e.g. { women = 0.05 }; a key \"COLUMN:GROUP\" limits that group column's group alone.",
        min=0.0, max=1.0)
    # Misses hurt a group too (its abuse goes unflagged): the FNR gets a limit of its own.
    max_fnr: float = knob("float", 1.0, "False-negative-rate limit of every group (among its positives, the share "
        "not predicted positive); a group over it is flagged like one over max_fpr.", min=0.0, max=1.0)
    # Identity columns mark "no identity" in many ways; such a row belongs to no group of that column
    # (it stays in every group's background).
    no_group_values: list[str] = knob("str_list", ["none", "null", "nan", "n/a"], "Group values meaning \"no "
        "group\" (compared ignoring case and surrounding spaces; blanks and nulls always mean none).")


@dataclass(frozen=True)
class Sweep:
    """[sweep]: how the sweep's knobs combine (the swept knobs themselves are the table's other keys:
    workbench/recipe/sweep.py)."""

    mode: str = knob("choice", "grid", "How the [sweep] table's knobs combine. grid: every combination of "
        "their value lists; random: sweep.trials draws, each knob from its list or its range { min, max } "
        "(log-uniform for rates).", choices=("grid", "random"))
    trials: int = knob("int", 0, "sweep.mode = \"random\": how many draws (each crossed with seeds and methods).",
        min=0, max=100000)
    max_trials: int = knob("int", 64, "A sweep of more trials than this is refused before anything starts "
        "(a typo in a grid multiplies fast).", min=1, max=100000)
    seed: int = knob("int", 0, "Seed of the random sweep's draws (the same seed draws the same trials).",
        min=0, max=2**32 - 1)


# A metric name as evaluations report it (f1_macro, accuracy, loss); which ones a task reports is its
# own (workbench/tasks: metrics), checked with the recipe's task.
_METRIC = Pattern(r"(|[a-z][a-z0-9_]*)", "empty or a metric name like f1_macro")


@dataclass(frozen=True)
class Tune:
    """[tune]: `workbench tune`'s study (workbench/tune). `workbench run` reads none of these knobs: a
    tuned recipe runs as it is, and a sweep cannot vary them (workbench/recipe/sweep.py)."""

    # A budget in trials, not in time alone: the same recipe tuned twice asks as many trials.
    trials: int = knob("int", 20, "How many trials the study runs (trial 0 is the recipe's own values, so the "
        "study is never worse than not tuning); running workbench tune again on its group continues it up to "
        "this many.", min=1, max=100000)
    # Wall time as a second budget, for a shared GPU or a job's time limit; a trial running when it passes
    # finishes (a half-trained trial says nothing).
    timeout: int = knob("int", 0, "Seconds after which no new trial starts (running ones finish). 0: no limit.",
        min=0, max=10**9)
    # The checkpoint's metric is what a run keeps: tuning for the same one keeps the study and the runs agreeing.
    metric: str = knob("str", "", "The validation metric the study optimises (e.g. f1_macro, accuracy; one the "
        "task's evaluation reports); lower is better for loss-like metrics, else higher. Empty: "
        "train.best_metric.", pattern=_METRIC)
    # Seeded so a study re-run from scratch asks the same trials (the runs' own seed is train.seed).
    seed: int = knob("int", 0, "Seed of the sampler (Optuna's TPE): the same seed asks the same trials.",
        min=0, max=2**32 - 1)
    # Most bad trials show by their first epochs; stopping them early is most of a study's savings.
    pruner: str = knob("choice", "median", "Which trials stop early, judged on each epoch's validation metric. "
        "median: one whose best so far is below the median of the completed trials at the same epoch; hyperband: "
        "successive halving over the recipe's epochs; none: every trial runs to its end. With a pruner on, every "
        "trial runs the recipe's epochs (train.epochs cannot be searched).", choices=("median", "hyperband", "none"))
    # Strings, so one table says ranges and lists alike and the same text works as --space KEY=SPEC.
    space: dict[str, str] = knob("str_map", {}, "The search space: knob = \"LO..HI\" (a range; log scale for "
        "rates and decay, or a range of 100x or more; an int knob draws ints) or \"a,b,c\" (a list of values), "
        "e.g. { \"train.learning_rate\" = \"1e-5..1e-3\", \"lora.r\" = \"4,8,16\" }. Empty: the task's "
        "default space for the method (learning rate, LoRA rank, alpha and dropout, warm-up as a share, class "
        "weights; epochs with tune.pruner = none). Each range widens to hold the recipe's own value (trial 0). "
        "--space KEY=SPEC adds to it.")


@dataclass(frozen=True)
class Launch:
    """[launch]: where and how a run trains (each is also a `workbench run` flag: --target, --gpus, --partition, ...)."""

    target: Target = knob("str", "local", "Where training runs: local (a detached process here), ssh:HOST (an "
        "alias from ~/.ssh/config), slurm / pbs (submit from here) or slurm:HOST / pbs:HOST (submit on a login "
        "node over ssh).", pattern=_TARGET, parse=parse_target)
    gpus: int = knob("int", 0, "GPUs per node. N > 1 starts N processes, one per GPU, through accelerate "
        "launch; on SLURM / PBS it is also the GPU request. 0: none requested.", min=0, max=64)
    processes: int = knob("int", 1, "Training processes per node on CPU (gloo), for machines without GPUs; "
        "> 1 runs data-parallel CPU ranks.", min=1, max=256)
    nodes: int = knob("int", 1, "Nodes (SLURM --nodes, PBS select=N); one accelerate launch per node.", min=1, max=4096)
    partition: str = knob("str", "", "SLURM partition (--partition).", pattern=_NAME)
    account: str = knob("str", "", "SLURM account charged (--account).", pattern=_NAME)
    qos: str = knob("str", "", "SLURM quality of service (--qos).", pattern=_NAME)
    time: str = knob("str", "", "SLURM time limit (--time), e.g. 04:00:00; a run that reaches it ends "
        "as interrupted.", pattern=_TIME)
    project: str = knob("str", "", "PBS project charged (-P).", pattern=_NAME)
    queue: str = knob("str", "", "PBS queue (-q).", pattern=_NAME)
    walltime: str = knob("str", "", "PBS walltime (-l walltime=), e.g. 04:00:00.", pattern=_TIME)
    cpus: int = knob("int", 0, "CPUs per node for the job (--cpus-per-task / ncpus); 0: scheduler default.",
        min=0, max=4096)
    mem: str = knob("str", "", "Memory per node (--mem / mem=), e.g. 64G; empty: scheduler default.", pattern=_MEM)
    modules: list[str] = knob("str_list", [], "Environment modules loaded (module load) before training on "
        "ssh hosts and cluster nodes.", pattern=_MODULE)
    venv: str = knob("str", "", "Virtual environment folder activated before training on ssh hosts and "
        "cluster nodes.", pattern=_PATH)
    conda_env: str = knob("str", "", "Conda environment activated (conda activate) before training on ssh "
        "hosts and cluster nodes.", pattern=_NAME)
    container: str = knob("str", "", "Apptainer / Singularity image; training runs in `apptainer exec --nv "
        "IMAGE` (or singularity: launch.container_runtime; needs workbench inside the image). A relative path is "
        "relative to the recipe's folder (targets started from here) or to launch.workdir on a remote host; the "
        "image must exist there before anything is submitted.", pattern=_PATH)
    container_runtime: str = knob("choice", "auto", "What runs launch.container. auto: apptainer where the "
        "node has it, else singularity (decided on the node; one clear line in the log when it has neither).",
        choices=("auto", "apptainer", "singularity"))
    container_binds: list[str] = knob("str_list", [], "Folders bound into the container (--bind), each "
        "/SRC[:/DST[:ro|rw]], e.g. /scratch/alice:/scratch or /data:/data:ro ($VARIABLES are not expanded).",
        pattern=_BIND)
    python: str = knob("str", "python3", "Python with workbench installed on ssh hosts, and on cluster nodes "
        "when modules / venv / conda / a container set them up (else batch jobs use the interpreter that submits "
        "them). Local runs use workbench's own interpreter.", pattern=_PATH)
    workdir: str = knob("str", "workbench", "Folder on the remote host (relative to its home, or absolute) "
        "where run folders are uploaded for ssh:HOST, slurm:HOST and pbs:HOST.", pattern=_PATH)
    forward_env: list[str] = knob("str_list", ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "WANDB_API_KEY"],
        "Environment variables passed to the job when set here. ssh: on the agent's stdin, never on a command "
        "line, secrets included. SLURM / PBS: the non-secret ones only, by name (--export / -v): a scheduler "
        "keeps a job's variables on disk and shows them; listing a secret (a name with TOKEN, KEY, SECRET, "
        "PASSWORD) for them is refused. A job that needs a hub token reads HF_HOME's token file on the "
        "cluster (`hf auth login` there).", pattern=_ENV_NAME)
    job_name: str = knob("str", "", "SLURM / PBS job name (--job-name / -N). Empty: the recipe's name, "
        "made safe for the scheduler (for PBS cut to 15 characters).", pattern=_JOB_NAME)
    log_file: str = knob("str", "", "The scheduler's own output file, relative to the run folder "
        "(--output / -o; SLURM expands %j, %A, %a). Empty: slurm-%j.out (slurm-%A_%a.out for a job array), "
        "pbs.out. The run's own output goes to train.log.", pattern=_LOG_FILE)
    telemetry_interval: float = knob("float", 1.0, "Seconds between telemetry samples in each training process "
        "(per GPU: utilisation, memory, power, temperature; host: CPU %, RSS). 0: off.", min=0.0, max=3600.0)


@dataclass(frozen=True)
class RecipeView:
    """A recipe, typed: its top-level knobs, then one attribute per section (in the table's order)."""

    name: str = knob("str", "", "Recipe name; run ids start with it. Defaults to the file name.")
    description: str = knob("str", "", "One line saying what the recipe is for (shown in `workbench runs` and the TUI).")
    task: str = knob("choice", DEFAULT_TASK, "Task kind: how examples are built, trained and evaluated. "
        + "; ".join(f"{name}: {summary}" for name, summary in TASK_KINDS) + ".", choices=TASKS)
    group: str = knob("str", "", "Group id shared by related runs (seed sweeps, method comparisons).")
    seeds: list[int] = knob("int_list", [], "One run per seed (train.seed), all in one group; empty: one run with "
        "train.seed. `workbench compare --group G` gives mean ± std.", min=0, max=2**32 - 1)
    methods: list[str] = knob("str_list", [], "One run per method (lora, full) on the same data and split, all in one "
        "group, compared side by side. Empty: model.method alone.", pattern=_METHOD)
    model: Model = dataclasses.field(default_factory=Model)
    data: Data = dataclasses.field(default_factory=Data)
    lora: Lora = dataclasses.field(default_factory=Lora)
    quant: Quant = dataclasses.field(default_factory=Quant)
    train: Train = dataclasses.field(default_factory=Train)
    eval: Eval = dataclasses.field(default_factory=Eval)
    fairness: Fairness = dataclasses.field(default_factory=Fairness)
    sweep: Sweep = dataclasses.field(default_factory=Sweep)
    tune: Tune = dataclasses.field(default_factory=Tune)
    launch: Launch = dataclasses.field(default_factory=Launch)


def _declared(f: dataclasses.Field[Any]) -> Declared:
    return f.metadata[META]


def _knob_fields(cls: type) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(cls) if META in f.metadata]


def _section_fields() -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(RecipeView) if META not in f.metadata]


def declared_knobs() -> tuple[Knob, ...]:
    """The knob table, read off the dataclasses: top-level knobs, then each section's, in declaration order.
    A section's `USED_BY` names the methods that read its knobs (absent: every method)."""
    top = [dataclasses.replace(_declared(f).knob, key=f.name) for f in _knob_fields(RecipeView)]
    sections = [dataclasses.replace(_declared(f).knob, section=s.name, key=f.name,
                                    methods=getattr(_section_class(s), "USED_BY", ()))
                for s in _section_fields() for f in _knob_fields(_section_class(s))]
    return (*top, *sections)


def _section_class(f: dataclasses.Field[Any]) -> type:
    factory = f.default_factory
    assert isinstance(factory, type), f.name
    return factory


def _typed(f: dataclasses.Field[Any], value: Any) -> Any:
    parse = _declared(f).parse
    return parse(value) if parse is not None else value


def view_of(values: dict[str, Any]) -> RecipeView:
    """The typed view of a recipe's flat, checked values ({section.key: value}, every knob present).
    Lists and tables are the values' own objects: the view is read, never written."""
    sections = {s.name: _section_class(s)(**{f.name: _typed(f, values[f"{s.name}.{f.name}"])
                                            for f in _knob_fields(_section_class(s))})
                for s in _section_fields()}
    top = {f.name: _typed(f, values[f.name]) for f in _knob_fields(RecipeView)}
    return RecipeView(**top, **sections)
