"""Loading a model for a task and wrapping it for the recipe's method (full / LoRA).

One code path for every source (hub id, local directory, tiny:<arch>) and for both the
training process and `predict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, cast

from workbench.recipe.sections import RecipeView


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    path: str  # what from_pretrained was given
    new_modules: list[str] = field(default_factory=list)  # modules newly initialised at load (the head)
    quant: Any = None  # how the checkpoint's weights were loaded: a workbench.models.checkpoint.Plan


def quiet_transformers() -> None:
    """The training log is for our events; silence library progress bars and load reports."""
    import logging
    import warnings

    import transformers

    from workbench.models.peft_import import install

    install()  # peft, whoever imports it, without bitsandbytes unless a model is 4-bit (models/peft_import.py)
    # bitsandbytes (imported for 4-bit weights) warns at import about an optional CPU kernel package,
    # and the kernels package it asks about warns that the hub is offline.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    logging.getLogger("kernels").setLevel(logging.ERROR)
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


def load_tokenizer(path: str, chat_template_file: str = ""):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        # Decoders (Llama and friends) ship without a pad token: pad with eos, as the source projects did.
        tok.pad_token = tok.eos_token
    if chat_template_file:
        from workbench.textfile import read_text_file

        tok.chat_template = read_text_file(chat_template_file, "chat template")
    return tok


# Heads that must stay out of 4-bit quantization: they are new (random), must train in full
# precision, and peft cannot make a quantized module fully trainable (modules_to_save).
HEAD_MODULES = ["score", "classifier", "pre_classifier"]


def quantization_config(recipe: RecipeView, *, keep: list[str] | None = None):
    """bitsandbytes 4-bit config from the recipe's [quant] section (None: not quantized)."""
    if not recipe.quant.use_4bit:
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=recipe.quant.type,
        bnb_4bit_use_double_quant=recipe.quant.double_quant,
        bnb_4bit_compute_dtype=compute_dtype(recipe.model.precision),
        llm_int8_skip_modules=list(recipe.quant.skip_modules) or keep,
    )


def _load_kwargs(recipe: RecipeView | None, keep: list[str] | None) -> dict[str, Any]:
    """from_pretrained's precision, quantization, placement and attention for this process."""
    if recipe is None:
        return {}
    from workbench.models.placement import this_process

    quant = quantization_config(recipe, keep=keep)
    placement = this_process(recipe, quantized=quant is not None)
    kwargs: dict[str, Any] = {}
    if recipe.model.attn_implementation != "sdpa":
        # sdpa is transformers' own default where an architecture has it (eager where not): only
        # another choice is passed, so a model without sdpa still loads.
        kwargs["attn_implementation"] = recipe.model.attn_implementation
    if placement.device_map is not None:
        kwargs["device_map"] = placement.device_map
    if quant is not None:
        kwargs |= {"quantization_config": quant, "dtype": compute_dtype(recipe.model.precision)}
    return kwargs


def _checkpoint_kwargs(path: str, recipe: RecipeView | None, kwargs: dict[str, Any]):
    """(kwargs, plan) for a checkpoint that may come quantized (workbench/models/checkpoint.py);
    a checkpoint workbench cannot train on stops here, before any weights load."""
    if recipe is None:
        return kwargs, None
    from workbench.models.checkpoint import load_kwargs, plan_for

    dtype = compute_dtype(recipe.model.precision)
    plan = plan_for(path, recipe, dtype=DTYPE_NAMES.get(str(dtype), str(dtype)))
    return load_kwargs(plan, kwargs, dtype), plan


DTYPE_NAMES = {"torch.bfloat16": "bf16", "torch.float16": "fp16", "torch.float32": "fp32"}


def keep_4bit_layout(model) -> None:
    """Stop bitsandbytes repacking 4-bit weights for its CPU inference kernel.

    On a CPU with AVX512-BF16, `Linear4bit.forward` in eval mode repacks the weight and
    un-nests the double-quantized scales; the first training step (or save) after it packs them
    back with a "best-effort inverse" that quantizes the scales anew. Each evaluation between
    epochs then nudges the frozen base weights (logits moved by 0.01-0.03 on the tiny demo), and
    the model evaluated in the run is not the one `predict` reloads. No effect on a GPU.
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def _finish_load(model, tokenizer) -> None:
    """What every loaded model gets before use: its 4-bit layout kept, the tokenizer's pad id."""
    keep_4bit_layout(model)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id


def load_sequence_classifier(path: str, label_names: list[str], *, seed: int, tokenizer_path: str | None = None,
                             recipe: RecipeView | None = None, single_label: bool = False) -> LoadedModel:
    """AutoModelForSequenceClassification with a head of len(label_names) outputs: multi-label
    (sigmoid, BCE) or, with `single_label`, one class per example (softmax, cross-entropy).

    The head is initialised from `seed`, so the base model evaluated before training is the
    exact starting point of training. With `recipe` asking for 4-bit, the body is quantized
    and the head kept in full precision.
    """
    import transformers
    from transformers import AutoModelForSequenceClassification

    tokenizer = load_tokenizer(tokenizer_path or path)
    kwargs, plan = _checkpoint_kwargs(path, recipe, _load_kwargs(recipe, HEAD_MODULES))
    transformers.set_seed(seed)
    model, info = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=len(label_names),
        problem_type="single_label_classification" if single_label else "multi_label_classification",
        id2label=dict(enumerate(label_names)),
        label2id={n: i for i, n in enumerate(label_names)},
        output_loading_info=True,
        **kwargs,
    )
    _finish_load(model, tokenizer)
    new_modules = sorted({k.rsplit(".", 1)[0] for k in info.get("missing_keys", ())})
    return LoadedModel(model, tokenizer, path, new_modules, plan)


def load_causal_lm(path: str, recipe: RecipeView, *, tokenizer_path: str | None = None,
                   quantize: bool = True) -> LoadedModel:
    """AutoModelForCausalLM for the generative tasks (chat SFT, NER), 4-bit when the recipe says
    so (and `quantize`: merging reloads the base in full precision)."""
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(tokenizer_path or path, "" if tokenizer_path else recipe.data.chat_template)
    kwargs, plan = _checkpoint_kwargs(path, recipe, _load_kwargs(recipe, None) if quantize else {})
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    _finish_load(model, tokenizer)
    if getattr(model, "generation_config", None) is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return LoadedModel(model, tokenizer, path, [], plan)


def place_for_inference(model, *, quantized: bool):
    """A reloaded model on the GPU when there is one. 4-bit weights stay where loading put them
    (bitsandbytes places them at load; `.to` would refuse)."""
    import torch

    if torch.cuda.is_available() and not quantized:
        model = model.to("cuda")
    return model


def apply_method(loaded: LoadedModel, recipe: RecipeView, task_type: str = "SEQ_CLS"):
    """Wrap for training: LoRA adapters (peft) or every weight trainable (full)."""
    from workbench import faults

    faults.at("load")  # the weights are in memory, nothing of the model recorded yet
    model = loaded.model
    if recipe.model.method == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from workbench.models.peft_import import peft_without_bitsandbytes

    with peft_without_bitsandbytes():  # bitsandbytes only where the weights are 4-bit
        from peft import get_peft_model, prepare_model_for_kbit_training

        if recipe.quant.use_4bit or getattr(loaded.quant, "kbit", False):
            # Casts norms (and the kept head) to fp32 and enables input grads, as QLoRA needs.
            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=recipe.train.gradient_checkpointing,
                gradient_checkpointing_kwargs={"use_reentrant": False})

        # The freshly initialised head must train and be saved with the adapter, or a reloaded
        # model would get a different random head.
        return get_peft_model(model, lora_config(recipe, [m.rsplit(".", 1)[-1] for m in loaded.new_modules],
                                                 task_type))


ALL_LINEAR = "all-linear"  # peft's shorthand for every linear layer but the output head


def lora_config(recipe: RecipeView, new_heads: list[str], task_type: str):
    """The recipe's LoraConfig (training, the memory estimate's count of what trains, and the check
    of its modules before launch: workbench/models/meta.py)."""
    from workbench.models.peft_import import peft_without_bitsandbytes

    with peft_without_bitsandbytes():
        from peft import LoraConfig

    to_save = list(recipe.lora.modules_to_save) or new_heads
    targets = list(recipe.lora.target_modules)
    return LoraConfig(
        task_type=task_type,
        r=recipe.lora.r,
        lora_alpha=recipe.lora.alpha,  # type: ignore[arg-type]  # peft says int; it scales by alpha / r, a float works
        lora_dropout=recipe.lora.dropout,
        # peft reads "all-linear" as the shorthand only as a string (in a list it is a module name)
        target_modules=ALL_LINEAR if [t.lower() for t in targets] == [ALL_LINEAR] else targets or None,
        bias=cast(Literal["none", "all", "lora_only"], recipe.lora.bias),  # one of the knob's choices
        modules_to_save=to_save or None,
    )


def count_params(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
