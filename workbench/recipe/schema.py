"""Every recipe knob, declared once.

A `Knob` carries its type, default, bounds and help. From these declarations come:
validation of TOML recipes (`workbench.recipe.load`), `--set section.key=value` overrides,
the TUI form fields, and the reference table in docs/recipes.md (`workbench schema --markdown`).
Never list fields anywhere else.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from workbench.recipe.task_names import DEFAULT_TASK, TASK_KINDS, TASKS

# Knob kinds. "path" is a string naming a file, resolved relative to the recipe file (or to
# the working directory when it comes from --set); "" means "not given".
KINDS = ("int", "float", "bool", "str", "choice", "path", "str_list", "int_list", "str_map", "float_map")


@dataclass(frozen=True)
class Knob:
    section: str
    key: str
    kind: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    # Values that mean "off"/"automatic" and are allowed outside [min, max] (e.g. max_steps = -1).
    sentinel: Any = None
    # For str / str_list knobs whose values reach a shell, a batch-script directive or an ssh
    # command line: the whole value (each item) must match, else the recipe is refused.
    pattern: Pattern | None = None

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}" if self.section else self.key

    def expected(self) -> str:
        """Human description of what the knob accepts, for error messages and docs."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind in ("int", "float"):
            lo = "-inf" if self.min is None else _fmt(self.min)
            hi = "inf" if self.max is None else _fmt(self.max)
            rng = f"{self.kind} in [{lo}, {hi}]"
            if self.sentinel is not None:
                rng += f" (or {self.sentinel} for off)"
            return rng
        if self.pattern is not None and self.kind in ("str", "str_list"):
            return ("a list of " if self.kind == "str_list" else "") + self.pattern.what
        return {
            "bool": "true or false",
            "str": "a string",
            "path": "a file path (string)",
            "str_list": "a list of strings",
            "int_list": "a list of integers",
            "str_map": "a table of string = string",
            "float_map": "a table of string = number" + "".join(f" or {c!r}" for c in self.choices),
        }[self.kind]


@dataclass(frozen=True)
class Pattern:
    regex: str
    what: str  # for messages: "a SLURM name (letters, digits, _ . - + @)"

    def fullmatch(self, value: str) -> bool:
        return re.fullmatch(self.regex, value) is not None


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


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


METHODS = ("lora", "full")
_METHOD = Pattern(r"(lora|full)", "methods (lora, full)")
_TEXT = Pattern(r"[^\x00-\x1f\x7f]*", "text without control characters")
# No user:password@ (a recipe is copied into the run folder, the store and MLflow's params): MLflow
# reads MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD or a token where the run trains.
_TRACKING_URI = Pattern(r"(|databricks|sqlite:////[^\x00-\x20\x7f@]+|(?!sqlite:)[a-z][a-z0-9+.-]*://[^\x00-\x20\x7f@]+)",
                        "a tracking URI like http://host:5000, databricks or sqlite:////abs/path/mlflow.db (an absolute "
                        "path: four slashes), without user:password@")
_REPORT_TO = Pattern(r"(tensorboard|wandb|mlflow|none)", "integrations (tensorboard, wandb, mlflow)")

KNOBS: tuple[Knob, ...] = (
    # --- top level -----------------------------------------------------------------------
    Knob("", "name", "str", "", "Recipe name; run ids start with it. Defaults to the file name."),
    Knob("", "description", "str", "", "One line saying what the recipe is for (shown in `workbench runs` and the TUI)."),
    Knob("", "task", "choice", DEFAULT_TASK, "Task kind: how examples are built, trained and evaluated. "
         + "; ".join(f"{name}: {summary}" for name, summary in TASK_KINDS) + ".", choices=TASKS),
    Knob("", "group", "str", "", "Group id shared by related runs (seed sweeps, method comparisons)."),
    Knob("", "seeds", "int_list", [], "One run per seed (train.seed), all in one group; empty: one run with "
         "train.seed. `workbench compare --group G` gives mean ± std.", min=0, max=2**32 - 1),
    Knob("", "methods", "str_list", [], "One run per method (lora, full) on the same data and split, all in one "
         "group, compared side by side. Empty: model.method alone.", pattern=_METHOD),
    # --- model ---------------------------------------------------------------------------
    Knob("model", "source", "str", "", "Hub id, local Hugging Face directory, or tiny:<arch> (bert, distilbert, llama, "
         "gpt_oss) for a small random model with a tokenizer trained on the training texts. A checkpoint that comes "
         "quantized (MXFP4, GPTQ, AWQ, bitsandbytes) loads by its own config.json: see docs/models.md.", required=True),
    Knob("model", "method", "choice", "lora", "lora: train low-rank adapters (+ the head); full: train every weight.",
         choices=METHODS),
    Knob("model", "max_length", "int", 512, "Longest tokenised input; longer texts are truncated. Batches are padded "
         "only to their own longest example (dynamic padding).", min=8, max=131072),
    Knob("model", "precision", "choice", "auto", "Compute precision. auto: bf16 on a CUDA GPU that supports it, else fp32.",
         choices=("auto", "fp32", "bf16", "fp16")),
    Knob("model", "device_map", "choice", "rank", "Where the weights go on a GPU machine. rank: each training process "
         "holds the whole model on its own GPU (cuda:LOCAL_RANK; one process per GPU, as --gpus N starts them). "
         "auto: one process whose model is sharded over every visible GPU, for a model too big for one GPU "
         "(slower: the GPUs take turns); not with --gpus N > 1 or --processes N > 1.", choices=("rank", "auto")),
    Knob("model", "attn_implementation", "choice", "sdpa", "Attention kernel. sdpa: PyTorch's fused attention, "
         "everywhere; flash_attention_2: the flash-attn package on an Ampere or newer GPU (fp16/bf16 only); "
         "eager: the reference implementation (slowest; for debugging).",
         choices=("sdpa", "flash_attention_2", "eager")),
    Knob("model", "tiny_hidden_size", "int", 64, "Hidden size of tiny:<arch> models (ignored for real models).", min=8, max=4096),
    Knob("model", "tiny_layers", "int", 2, "Layers of tiny:<arch> models (ignored for real models).", min=1, max=48),
    Knob("model", "tiny_vocab_size", "int", 2000, "Vocabulary of the tokenizer trained for tiny:<arch> models.",
         min=100, max=200000),
    # --- data ----------------------------------------------------------------------------
    Knob("data", "train_file", "path", "", "Training data. classification: .csv, .tsv, .jsonl, .json or .parquet "
         "(format from the extension, or data.format); chat_classification: a chat JSONL of {\"messages\": [...]} "
         "records; ner: CoNLL or instruction JSON. UTF-8. Or data.dataset instead."),
    Knob("data", "validation_file", "path", "", "Validation data, same format. Empty: hold out "
         "data.validation_fraction of the training data."),
    Knob("data", "test_file", "path", "", "Optional test data, same format: evaluated base and tuned like "
         "validation, and predicted to JSONL."),
    Knob("data", "format", "choice", "", "classification: the files' format when their extension does not say it "
         "(empty: from the extension). TSV is tab-separated without quoting.",
         choices=("", "csv", "tsv", "jsonl", "json", "parquet")),
    Knob("data", "dataset", "str", "", "classification: a Hugging Face dataset instead of files: a hub id (offline: "
         "from the local cache) or a local folder (save_to_disk, or a hub snapshot)."),
    Knob("data", "dataset_config", "str", "", "The configuration (subset) of data.dataset, where it has several."),
    Knob("data", "train_split", "str", "train", "Split of data.dataset to train on."),
    Knob("data", "validation_split", "str", "", "Split of data.dataset to validate on (empty: hold out "
         "data.validation_fraction of the training split)."),
    Knob("data", "test_split", "str", "", "Optional split of data.dataset to test on."),
    Knob("data", "validation_fraction", "float", 0.2, "Share of the training data held out for validation when no "
         "validation file or split is given.", min=0.01, max=0.9),
    Knob("data", "split_seed", "int", 42, "Seed of the train/validation split, fixed so base and tuned see the same rows.",
         min=0),
    Knob("data", "text_column", "str", "text", "Column holding the input text."),
    Knob("data", "text_template", "str", "", "classification: the text built from several columns, e.g. "
         "\"{title}. {description}\" (Python format fields naming columns; replaces data.text_column)."),
    Knob("data", "id_column", "str", "", "Column holding a row id, copied into predictions (empty: the line or row number)."),
    Knob("data", "labels", "str_map", {}, "classification, multi-label: label name = column holding 0/1 for it. "
         "Columns not named here are ignored. Or data.label_columns, or data.label_column."),
    Knob("data", "label_columns", "str_list", [], "classification, multi-label: columns holding 0/1, each a label of "
         "its own name (instead of data.labels)."),
    Knob("data", "label_values", "float_map", {}, "classification with 0/1 columns: more words read as 1 or 0, e.g. "
         "{ yes = 1, no = 0 } (1/0 and true/false are always read)."),
    Knob("data", "label_column", "str", "", "classification: one column holding the label. A class name or integer "
         "id: single-label (softmax); a list of labels (JSON, parquet) or a string split by data.label_separator: "
         "multi-label."),
    Knob("data", "label_separator", "str", "", "classification: the separator of several labels in one data.label_column "
         "cell, e.g. \",\" or \"|\" (multi-label)."),
    Knob("data", "classes", "str_list", [], "The class names, in order. classification with data.label_column: "
         "integer id i is classes[i]; empty: the names found in the training split, sorted. chat_classification: "
         "the class names an answer may give (the gold answer and the generated one are both parsed to one of them)."),
    Knob("data", "group_field", "str", "", "chat_classification: record field (or column) naming the target group, "
         "for the per-group false-positive rates (fairness.*)."),
    Knob("data", "prompt_template", "str", "", "chat_classification from a table (any format of classification, or "
         "data.dataset): the user message built from columns, e.g. \"Classify this tweet: {tweet}\"; "
         "data.label_column holds the answer (a class name, or an id into data.classes). Empty: chat JSONL records."),
    Knob("data", "instruction_template", "str", "", "ner: the instruction the model reads, with {sentence} (the "
         "sentence) and optionally {entity_types} (the training split's types, comma-separated). Empty: the "
         "instruction of the data files (\"Extract named entities from the sentence: ...\")."),
    Knob("data", "chat_template", "path", "", "Jinja chat template file, for tokenizers without one (tiny models, "
         "base models). Empty: the tokenizer's own."),
    Knob("data", "system_prompt_file", "path", "", "Text file whose content becomes the system message of every "
         "record, in training and evaluation alike (empty: the records' own)."),
    Knob("data", "max_rows", "int", 0, "Read at most this many rows of each file (0: all). For quick trials.", min=0),
    # --- lora ----------------------------------------------------------------------------
    Knob("lora", "r", "int", 16, "Adapter rank.", min=1, max=4096),
    Knob("lora", "alpha", "float", 32.0, "Adapter scaling numerator (scale = alpha / r).", min=0.0, max=1e6),
    Knob("lora", "dropout", "float", 0.1, "Dropout on the adapter input.", min=0.0, max=0.99),
    Knob("lora", "target_modules", "str_list", [], "Module names to adapt (e.g. q_lin, v_lin; a name matches a layer "
         "by its last parts, as peft matches them), or [\"all-linear\"]: every linear layer but the output head. Empty: "
         "peft's default for the architecture (it has none for DistilBERT or gpt-oss). Checked against the model's "
         "layers before launch."),
    Knob("lora", "bias", "choice", "none", "Which biases train.", choices=("none", "all", "lora_only")),
    Knob("lora", "modules_to_save", "str_list", [], "Modules trained fully and saved with the adapter (each must end "
         "the name of a module of the model). Empty: the classification head (classifier / score)."),
    # --- quant ---------------------------------------------------------------------------
    Knob("quant", "use_4bit", "bool", False, "Load the base model in 4 bits (bitsandbytes) and train LoRA adapters "
         "on it (QLoRA). Needs model.method = lora; the head and norms stay in full precision."),
    Knob("quant", "type", "choice", "nf4", "4-bit data type: nf4 (normal float, QLoRA's) or fp4.", choices=("nf4", "fp4")),
    Knob("quant", "double_quant", "bool", True, "Quantize the quantization constants too (about 0.4 bits per "
         "weight saved)."),
    Knob("quant", "skip_modules", "str_list", [], "Modules kept out of quantization. Empty: the classifier / score "
         "head (it must train, and peft cannot wrap a 4-bit head)."),
    # --- train ---------------------------------------------------------------------------
    Knob("train", "epochs", "float", 2.0, "Passes over the training data.", min=0.01, max=10000),
    Knob("train", "max_steps", "int", -1, "Stop after this many optimizer steps (overrides epochs).", min=1, max=1e9,
         sentinel=-1),
    Knob("train", "batch_size", "int", 8, "Examples per device per step.", min=1, max=65536),
    Knob("train", "gradient_accumulation_steps", "int", 1, "Micro-batches summed before each optimizer step.", min=1, max=65536),
    Knob("train", "learning_rate", "float", 1e-4, "Peak learning rate.", min=0.0, max=10.0),
    Knob("train", "weight_decay", "float", 0.01, "AdamW weight decay.", min=0.0, max=10.0),
    Knob("train", "optimizer", "choice", "adamw_torch", "Optimizer (transformers name). auto: 8-bit paged AdamW "
         "when the model is 4-bit on a CUDA GPU, else adamw_torch; the run's log says which one ran.",
         choices=("auto", "adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "paged_adamw_8bit", "adamw_bnb_8bit")),
    Knob("train", "scheduler", "choice", "linear",
         "Learning-rate schedule. reduce_lr_on_plateau watches train.best_metric at each evaluation (each epoch, "
         "or once at the end with train.max_steps) and multiplies the rate by train.plateau_factor after "
         "train.plateau_patience evaluations without improvement.",
         choices=("linear", "cosine", "constant", "constant_with_warmup", "reduce_lr_on_plateau")),
    Knob("train", "plateau_factor", "float", 0.5, "reduce_lr_on_plateau: the learning rate is multiplied by this "
         "when train.best_metric stops improving.", min=0.01, max=0.99),
    Knob("train", "plateau_patience", "int", 1, "reduce_lr_on_plateau: evaluations without improvement before "
         "the rate drops. The first evaluation always sets the best, so the rate first drops after evaluation "
         "patience + 2 and changes training only with at least patience + 3 epochs.", min=0, max=1000),
    Knob("train", "warmup_steps", "float", 0.0, "Warm-up: steps if >= 1, else a fraction of all steps.", min=0.0, max=1e9),
    Knob("train", "max_grad_norm", "float", 1.0, "Gradient clipping norm (0: off).", min=0.0, max=1e6),
    Knob("train", "class_weights", "float_map", {}, "classification: loss weights against class imbalance. "
         "\"balanced\": rare classes weigh more (single-label: n / (classes x count); multi-label: BCE pos_weight "
         "negatives / positives per label); a table label = weight (others 1); {} or \"none\": unweighted.",
         min=0.0, max=1e6, choices=("balanced", "none")),
    Knob("train", "seed", "int", 42, "Seed of initialisation and data order.", min=0, max=2**32 - 1),
    Knob("train", "best_metric", "choice", "loss", "Validation metric that picks the checkpoint kept at the end "
         "(generative tasks: loss only; they are scored by generation after training).",
         choices=("loss", "f1_micro", "f1_macro", "f1_weighted", "f1_samples")),
    Knob("train", "early_stopping_patience", "int", 0, "Stop after this many evaluations without improvement of "
         "best_metric (0: off).", min=0, max=1000),
    Knob("train", "early_stopping_threshold", "float", 0.0, "Smallest change of best_metric that counts as an "
         "improvement for early stopping.", min=0.0, max=1e6),
    Knob("train", "gradient_checkpointing", "bool", False, "Recompute activations in the backward pass: much less "
         "memory for about 30 % more compute."),
    Knob("train", "report_to", "str_list", [], "Also log to these (tensorboard writes under the run folder's "
         "tensorboard/; mlflow gets one MLflow run per run: the recipe, step metrics, every base and tuned "
         "evaluation per label, fairness rows, the adapter and prediction files). Empty: events only.",
         pattern=_REPORT_TO),
    Knob("train", "mlflow_tracking_uri", "str", "", "With mlflow in report_to: where runs go (http://host:5000, "
         "databricks, sqlite:////abs/path/mlflow.db). Empty: MLFLOW_TRACKING_URI where the run trains, else "
         "runs/mlflow.db beside the run folders (artifacts in runs/mlartifacts).", pattern=_TRACKING_URI),
    Knob("train", "mlflow_experiment", "str", "", "With mlflow in report_to: the MLflow experiment. Empty: "
         "MLFLOW_EXPERIMENT_NAME where the run trains, else the recipe's name.", pattern=_TEXT),
    Knob("train", "logging_steps", "int", 10, "Emit a step event (loss, lr, throughput) every N optimizer steps, "
         "and at each epoch's end and the last step.", min=1, max=1e9),
    Knob("train", "length_grouping", "bool", True, "Batch examples of similar length together: less padding, faster epochs."),
    Knob("train", "packing", "bool", False, "Generative tasks (chat_classification, ner): each batch is one row of its "
         "examples end to end, with positions restarting per example and attention kept within each one "
         "(padding-free; transformers' DataCollatorWithFlattening); the loss is still on the answers only. "
         "Fastest with flash_attention_2, which skips the padding work altogether; with sdpa or eager the "
         "attention is computed over a block mask of the whole row."),
    Knob("train", "save_total_limit", "int", 1, "Checkpoints kept on disk (the best one is always kept).", min=1, max=1000),
    # --- eval ----------------------------------------------------------------------------
    Knob("eval", "threshold", "float", 0.5, "Probability above which a label is predicted.", min=0.0, max=1.0),
    Knob("eval", "tune_thresholds", "bool", False, "classification: pick each label's threshold that maximises its "
         "F1 on the validation split, for the base and the tuned model alike; each model's are used for its test "
         "split (validation is reported at eval.threshold and, as split validation_at_thresholds, at them); the "
         "tuned model's are stored with the run and used by predict."),
    Knob("eval", "scores_all_up_to", "int", 1000, "classification: prediction files (predictions_*.jsonl, "
         "`workbench predict`) hold every label's score when the model has at most this many labels / classes; past "
         "it each row holds its eval.scores_top_k highest, those of its gold and predicted labels and of "
         "fairness.positive_classes, and says so (\"scores_top_k\": k).", min=1, max=1e9),
    Knob("eval", "scores_top_k", "int", 10, "classification, past eval.scores_all_up_to labels / classes: the "
         "highest scores each prediction row keeps.", min=1, max=1e9),
    Knob("eval", "batch_size", "int", 32, "Examples per evaluation / prediction / generation batch (generation pads "
         "on the left).", min=1, max=65536),
    Knob("eval", "base", "bool", True, "Evaluate the base model before training, on the same rows as the tuned model."),
    Knob("eval", "base_system_prompt_file", "path", "", "chat_classification: the base model answers with this system "
         "prompt instead (e.g. an elaborate one, against the tuned model's simple data.system_prompt_file), so "
         "base vs tuned compares each with its own prompt. Empty: both get the same."),
    Knob("eval", "max_new_tokens", "int", 32, "Generative tasks: longest answer generated (greedy).", min=1, max=8192),
    Knob("eval", "max_examples", "int", 0, "Generative tasks: evaluate at most this many examples of each split "
         "(0: all); the same ones for base and tuned.", min=0),
    # --- fairness (chat_classification) ---------------------------------------------------
    Knob("fairness", "positive_classes", "str_list", [], "Classes that count as a positive (flagging) prediction "
         "for the per-group false-positive rate, e.g. [\"hate\"]. Empty: no fairness report."),
    Knob("fairness", "max_fpr", "float", 1.0, "False-positive-rate limit of every group; a group over its limit is "
         "flagged in show, diff and the store.", min=0.0, max=1.0),
    Knob("fairness", "group_limits", "float_map", {}, "Per-group limits overriding max_fpr, e.g. "
         "{ women = 0.05 }.", min=0.0, max=1.0),
    # --- sweep (the swept knobs themselves are the table's other keys: workbench/recipe/sweep.py) ----
    Knob("sweep", "mode", "choice", "grid", "How the [sweep] table's knobs combine. grid: every combination of "
         "their value lists; random: sweep.trials draws, each knob from its list or its range { min, max } "
         "(log-uniform for rates).", choices=("grid", "random")),
    Knob("sweep", "trials", "int", 0, "sweep.mode = \"random\": how many draws (each crossed with seeds and methods).",
         min=0, max=100000),
    Knob("sweep", "max_trials", "int", 64, "A sweep of more trials than this is refused before anything starts "
         "(a typo in a grid multiplies fast).", min=1, max=100000),
    Knob("sweep", "seed", "int", 0, "Seed of the random sweep's draws (the same seed draws the same trials).",
         min=0, max=2**32 - 1),
    # --- launch (each is also a `workbench run` flag: --target, --gpus, --partition, ...) ------
    Knob("launch", "target", "str", "local", "Where training runs: local (a detached process here), ssh:HOST (an "
         "alias from ~/.ssh/config), slurm / pbs (submit from here) or slurm:HOST / pbs:HOST (submit on a login "
         "node over ssh).", pattern=_TARGET),
    Knob("launch", "gpus", "int", 0, "GPUs per node. N > 1 starts N processes, one per GPU, through accelerate "
         "launch; on SLURM / PBS it is also the GPU request. 0: none requested.", min=0, max=64),
    Knob("launch", "processes", "int", 1, "Training processes per node on CPU (gloo), for machines without GPUs; "
         "> 1 runs data-parallel CPU ranks.", min=1, max=256),
    Knob("launch", "nodes", "int", 1, "Nodes (SLURM --nodes, PBS select=N); one accelerate launch per node.", min=1, max=4096),
    Knob("launch", "partition", "str", "", "SLURM partition (--partition).", pattern=_NAME),
    Knob("launch", "account", "str", "", "SLURM account charged (--account).", pattern=_NAME),
    Knob("launch", "qos", "str", "", "SLURM quality of service (--qos).", pattern=_NAME),
    Knob("launch", "time", "str", "", "SLURM time limit (--time), e.g. 04:00:00; a run that reaches it ends "
         "as interrupted.", pattern=_TIME),
    Knob("launch", "project", "str", "", "PBS project charged (-P).", pattern=_NAME),
    Knob("launch", "queue", "str", "", "PBS queue (-q).", pattern=_NAME),
    Knob("launch", "walltime", "str", "", "PBS walltime (-l walltime=), e.g. 04:00:00.", pattern=_TIME),
    Knob("launch", "cpus", "int", 0, "CPUs per node for the job (--cpus-per-task / ncpus); 0: scheduler default.",
         min=0, max=4096),
    Knob("launch", "mem", "str", "", "Memory per node (--mem / mem=), e.g. 64G; empty: scheduler default.", pattern=_MEM),
    Knob("launch", "modules", "str_list", [], "Environment modules loaded (module load) before training on "
         "ssh hosts and cluster nodes.", pattern=_MODULE),
    Knob("launch", "venv", "str", "", "Virtual environment folder activated before training on ssh hosts and "
         "cluster nodes.", pattern=_PATH),
    Knob("launch", "conda_env", "str", "", "Conda environment activated (conda activate) before training on ssh "
         "hosts and cluster nodes.", pattern=_NAME),
    Knob("launch", "container", "str", "", "Apptainer / Singularity image; training runs in `apptainer exec --nv "
         "IMAGE` (or singularity: launch.container_runtime; needs workbench inside the image). A relative path is "
         "relative to the recipe's folder (targets started from here) or to launch.workdir on a remote host; the "
         "image must exist there before anything is submitted.", pattern=_PATH),
    Knob("launch", "container_runtime", "choice", "auto", "What runs launch.container. auto: apptainer where the "
         "node has it, else singularity (decided on the node; one clear line in the log when it has neither).",
         choices=("auto", "apptainer", "singularity")),
    Knob("launch", "container_binds", "str_list", [], "Folders bound into the container (--bind), each "
         "/SRC[:/DST[:ro|rw]], e.g. /scratch/alice:/scratch or /data:/data:ro ($VARIABLES are not expanded).",
         pattern=_BIND),
    Knob("launch", "python", "str", "python3", "Python with workbench installed on ssh hosts, and on cluster nodes "
         "when modules / venv / conda / a container set them up (else batch jobs use the interpreter that submits "
         "them). Local runs use workbench's own interpreter.", pattern=_PATH),
    Knob("launch", "workdir", "str", "workbench", "Folder on the remote host (relative to its home, or absolute) "
         "where run folders are uploaded for ssh:HOST, slurm:HOST and pbs:HOST.", pattern=_PATH),
    Knob("launch", "forward_env", "str_list", ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "WANDB_API_KEY"],
         "Environment variables passed to the job when set here. ssh: on the agent's stdin, never on a command "
         "line, secrets included. SLURM / PBS: the non-secret ones only, by name (--export / -v): a scheduler "
         "keeps a job's variables on disk and shows them; listing a secret (a name with TOKEN, KEY, SECRET, "
         "PASSWORD) for them is refused. A job that needs a hub token reads HF_HOME's token file on the "
         "cluster (`hf auth login` there).", pattern=_ENV_NAME),
    Knob("launch", "job_name", "str", "", "SLURM / PBS job name (--job-name / -N). Empty: the recipe's name, "
         "made safe for the scheduler (for PBS cut to 15 characters).", pattern=_JOB_NAME),
    Knob("launch", "log_file", "str", "", "The scheduler's own output file, relative to the run folder "
         "(--output / -o; SLURM expands %j, %A, %a). Empty: slurm-%j.out (slurm-%A_%a.out for a job array), "
         "pbs.out. The run's own output goes to train.log.", pattern=_LOG_FILE),
    Knob("launch", "telemetry_interval", "float", 1.0, "Seconds between telemetry samples in each training process "
         "(per GPU: utilisation, memory, power, temperature; host: CPU %, RSS). 0: off.", min=0.0, max=3600.0),
)

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(k.section for k in KNOBS if k.section))
BY_NAME: dict[str, Knob] = {k.name: k for k in KNOBS}


@dataclass
class Coerced:
    value: Any = None
    error: str | None = None


def coerce(knob: Knob, value: Any, *, from_text: bool = False) -> Coerced:
    """Check (and for --set text, parse) one value against its knob.

    Returns the typed value, or an error describing what was expected.
    """
    if from_text:
        parsed = _parse_text(knob, value)
        if parsed.error:
            return parsed
        value = parsed.value
    kind = knob.kind
    bad = Coerced(error=f"{knob.name} = {value!r} is not {knob.expected()}")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return bad
        return _in_range(knob, value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return bad
        return _in_range(knob, float(value))
    if kind == "bool":
        return Coerced(value) if isinstance(value, bool) else bad
    if kind in ("str", "path"):
        if not isinstance(value, str):
            return bad
        if knob.pattern is not None and not knob.pattern.fullmatch(value):
            return Coerced(error=f"{knob.name} = {value!r} is not {knob.expected()}")
        return Coerced(value)
    if kind == "choice":
        return Coerced(value) if isinstance(value, str) and value in knob.choices else bad
    if kind == "str_list":
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return bad
        pattern = knob.pattern
        wrong = [v for v in value if pattern is not None and not pattern.fullmatch(v)]
        if wrong and pattern is not None:
            return Coerced(error=f"{knob.name} item {wrong[0]!r} is not one of {pattern.what}")
        return Coerced(list(value))
    if kind == "int_list":
        if not (isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            return bad
        lo, hi = knob.min if knob.min is not None else 0, knob.max if knob.max is not None else float("inf")
        if len(set(value)) != len(value) or any(not lo <= v <= hi for v in value):
            return Coerced(error=f"{knob.name} = {value!r} is not a list of distinct integers in "
                                 f"[{_fmt(lo)}, {_fmt(hi) if hi != float('inf') else 'inf'}]")
        return Coerced(list(value))
    if kind == "str_map":
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            return Coerced(dict(value))
        return bad
    if kind == "float_map":
        if isinstance(value, str) and value in knob.choices:  # a word standing for a computed table
            return Coerced({} if value == "none" else value)
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                                           and math.isfinite(v) for k, v in value.items()):
            out = {k: float(v) for k, v in value.items()}
            wrong = [k for k, v in out.items()
                     if (knob.min is not None and v < knob.min) or (knob.max is not None and v > knob.max)]
            if wrong:
                return Coerced(error=f"{knob.name}.{wrong[0]} = {out[wrong[0]]!r} is out of range "
                                     f"(expected numbers in [{'-inf' if knob.min is None else _fmt(knob.min)}, "
                                     f"{'inf' if knob.max is None else _fmt(knob.max)}])")
            return Coerced(out)
        return bad
    raise AssertionError(f"unknown knob kind {kind}")


def _in_range(knob: Knob, value: float) -> Coerced:
    if knob.sentinel is not None and value == knob.sentinel:
        return Coerced(value)
    if (knob.min is not None and value < knob.min) or (knob.max is not None and value > knob.max):
        return Coerced(error=f"{knob.name} = {value!r} is out of range (expected {knob.expected()})")
    return Coerced(value)


def _parse_text(knob: Knob, text: str) -> Coerced:
    """Parse the right-hand side of `--set section.key=VALUE` by the knob's kind."""
    import tomllib

    if knob.kind in ("str", "path", "choice"):
        # Plain text is taken literally; a TOML-quoted string is unquoted.
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            return _parse_toml_value(knob, text, tomllib)
        return Coerced(text)
    if knob.kind == "str_list" and not text.lstrip().startswith("["):
        return Coerced([t.strip() for t in text.split(",") if t.strip()])
    if knob.kind == "int_list" and not text.lstrip().startswith("["):
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not all(t.lstrip("-").isdigit() for t in items):
            return Coerced(error=f"{knob.name} = {text!r} is not {knob.expected()}")
        return Coerced([int(t) for t in items])
    if knob.kind == "float_map" and text.strip().strip("\"'") in knob.choices:
        return Coerced(text.strip().strip("\"'"))
    if knob.kind == "bool" and text.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return Coerced(text.lower() in ("true", "yes", "on", "1"))
    return _parse_toml_value(knob, text, tomllib)


def _parse_toml_value(knob: Knob, text: str, tomllib) -> Coerced:
    try:
        return Coerced(tomllib.loads(f"v = {text}")["v"])
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):  # ValueError: an integer of > 4300 digits
        return Coerced(error=f"{knob.name} = {text[:40]!r}{'…' if len(text) > 40 else ''} is not {knob.expected()}")


def defaults() -> dict[str, Any]:
    """Flat {section.key: default} for every knob (lists and maps copied)."""
    out: dict[str, Any] = {}
    for k in KNOBS:
        d = k.default
        out[k.name] = list(d) if isinstance(d, list) else dict(d) if isinstance(d, dict) else d
    return out


def knobs_in(section: str) -> list[Knob]:
    return [k for k in KNOBS if k.section == section]


def markdown_table() -> str:
    """The recipe reference, generated from the declarations (docs/recipes.md embeds this)."""
    rows = ["| key | type / range | default | what it does |", "|---|---|---|---|"]
    for k in KNOBS:
        default = "(required)" if k.required else _toml_repr(k.default)
        rows.append(f"| `{k.name}` | {k.expected()} | `{default}` | {k.help} |")
    return "\n".join(rows)


def _toml_repr(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '""' if v == "" else f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(f'"{x}"' if isinstance(x, str) else repr(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f'{a} = "{b}"' if isinstance(b, str) else f"{a} = {b!r}" for a, b in v.items()) + "}"
    return repr(v)


__all__ = ["Knob", "KNOBS", "SECTIONS", "BY_NAME", "coerce", "defaults", "knobs_in", "markdown_table"]
