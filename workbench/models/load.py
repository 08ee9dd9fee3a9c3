"""Loading a model for a task and wrapping it for the recipe's method (full / LoRA).

One code path for every source (hub id, local directory, tiny:<arch>) and for both the
training process and `predict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    path: str  # what from_pretrained was given
    new_modules: list[str] = field(default_factory=list)  # modules newly initialised at load (the head)


def quiet_transformers() -> None:
    """The training log is for our events; silence library progress bars and load reports."""
    import logging
    import warnings

    import transformers

    # bitsandbytes (imported by peft) warns at import about an optional CPU kernel package.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    # peft still calls a deprecated transformers property; not actionable for our users.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()


def compute_dtype(precision: str):
    import torch

    if precision == "bf16" or (precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    return torch.float32


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        # Decoders (Llama and friends) ship without a pad token: pad with eos, as the source projects did.
        tok.pad_token = tok.eos_token
    return tok


def load_sequence_classifier(path: str, label_names: list[str], *, seed: int, tokenizer_path: str | None = None) -> LoadedModel:
    """AutoModelForSequenceClassification with a multi-label head of len(label_names) outputs.

    The head is initialised from `seed`, so the base model evaluated before training is the
    exact starting point of training.
    """
    import transformers
    from transformers import AutoModelForSequenceClassification

    tokenizer = load_tokenizer(tokenizer_path or path)
    transformers.set_seed(seed)
    model, info = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=len(label_names),
        problem_type="multi_label_classification",
        id2label=dict(enumerate(label_names)),
        label2id={n: i for i, n in enumerate(label_names)},
        output_loading_info=True,
    )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    new_modules = sorted({k.rsplit(".", 1)[0] for k in info.get("missing_keys", ())})
    return LoadedModel(model, tokenizer, path, new_modules)


def apply_method(loaded: LoadedModel, values: dict[str, Any], task_type: str = "SEQ_CLS"):
    """Wrap for training: LoRA adapters (peft) or every weight trainable (full)."""
    model = loaded.model
    if values["model.method"] == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model

    # The freshly initialised head must train and be saved with the adapter, or a reloaded
    # model would get a different random head.
    to_save = list(values["lora.modules_to_save"]) or [m.rsplit(".", 1)[-1] for m in loaded.new_modules]
    cfg = LoraConfig(
        task_type=task_type,
        r=values["lora.r"],
        lora_alpha=values["lora.alpha"],
        lora_dropout=values["lora.dropout"],
        target_modules=list(values["lora.target_modules"]) or None,
        bias=values["lora.bias"],
        modules_to_save=to_save or None,
    )
    return get_peft_model(model, cfg)


def count_params(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
