"""How much GPU memory a run will need, per GPU, before anything is loaded.

The model is built from its config.json on the meta device (accelerate's `init_empty_weights`:
no weights are read or allocated) and wrapped for the recipe's method through the same LoRA
config training uses, so parameter counts are exact; bytes follow from the precision, the 4-bit
layout, the optimizer and an activation model. Activations are an estimate at batch x
max_length (the upper bound: batches are padded only to their own longest example), after
Korthikanti et al. 2022 (sequence x batch x hidden terms per layer; sdpa / flash attention keep no
seq^2 scores) plus the logits a causal LM keeps for its loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from workbench.recipe.sections import RecipeView

GIB = 1 << 30
CUDA_OVERHEAD = int(0.6 * GIB)  # CUDA context, cuBLAS workspace and allocator slack, per process


@dataclass
class MemoryEstimate:
    params: int  # parameters as training counts them (count_params: the head, and LoRA's adapters and saved copies)
    trainable: int  # parameters the optimizer updates (LoRA adapters + head, or all)
    parts: dict[str, int] = field(default_factory=dict)  # bytes per GPU by what holds them
    gpus: int = 1  # GPUs one model spans (device_map = "auto"), else 1
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def lines(self, gpu_memory: list[int] | None = None, where: str = "") -> list[str]:
        """What --dry-run prints and the launch dialog shows; a warning when it cannot fit."""
        span = f" (the model sharded over {self.gpus} GPUs)" if self.gpus > 1 else ""
        out = [f"GPU memory, estimated per GPU{span}: {gib(self.total)}  "
               f"({self.trainable:,} of {self.params:,} parameters train)"]
        out.append("  " + ", ".join(f"{name} {gib(n)}" for name, n in self.parts.items() if n))
        out += [f"  {n}" for n in self.notes]
        if gpu_memory:
            smallest = min(gpu_memory)
            if self.total > smallest:
                out.append(f"warning: about {gib(self.total)} per GPU will not fit the {gib(smallest)} of "
                           f"{where or 'this machine'}'s GPU: lower train.batch_size or model.max_length, turn on "
                           "train.gradient_checkpointing or quant.use_4bit")
            else:
                out.append(f"  fits {where or 'this machine'}'s GPU ({gib(smallest)})")
        return out


def gib(n: float) -> str:
    """Bytes as people read them: 3.71 GiB, 612 MiB, 48 KiB."""
    if n >= GIB:
        return f"{n / GIB:.2f} GiB" if n < 100 * GIB else f"{n / GIB:.0f} GiB"
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n / 1024:.0f} KiB"


DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def estimate(recipe: RecipeView, config, *, causal: bool, num_labels: int = 2) -> MemoryEstimate:
    """The estimate for one training process of the recipe `recipe` on a model of `config`."""
    import torch

    from workbench.models.load import HEAD_MODULES, count_params
    from workbench.models.meta import meta_model, wrap_lora

    quantized = bool(recipe.quant.use_4bit)
    model = meta_model(config, causal=causal, num_labels=num_labels)
    params = sum(p.numel() for p in model.parameters())
    # Unquantized weights load in the checkpoint's dtype (transformers' dtype="auto"); beside 4-bit
    # ones, in the compute dtype: bf16 on the GPU this estimates for, unless the recipe says fp32.
    load_dtype = str(getattr(config, "dtype", None) or "float32").replace("torch.", "")
    if quantized:
        load_dtype = {"fp32": "float32", "fp16": "float16"}.get(recipe.model.precision, "bfloat16")
    weight_bytes = DTYPE_BYTES.get(load_dtype, 4)

    # 4-bit: every Linear but the kept heads / lm_head as NF4 (half a byte) plus one absmax per
    # 64 weights (fp32, or 8-bit with a second-level scale under double quantization).
    skip = set(recipe.quant.skip_modules) or set(HEAD_MODULES)
    skip |= {"lm_head"}
    linear = 0
    if quantized:
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] not in skip:
                linear += module.weight.numel()
    scale = (1 + 4 / 256) / 64 if recipe.quant.double_quant else 4 / 64
    weights = int(linear * (0.5 + scale) + (params - linear) * weight_bytes)

    method = recipe.model.method
    if method == "lora":
        # counted as training counts what it records (count_params): peft's total holds the adapters
        # and the trained copies of the saved heads beside the base model's parameters
        trainable, total = count_params(wrap_lora(model, recipe, causal=causal))
        train_bytes = 4  # adapters (and saved heads) train in fp32 (peft's autocast_adapter_dtype)
        parts = {"weights": weights, "adapters": trainable * train_bytes}
    else:
        trainable = total = params
        train_bytes = weight_bytes
        parts = {"weights": weights}

    optimizer = recipe.train.optimizer
    if optimizer == "auto":
        optimizer = "paged_adamw_8bit" if quantized else "adamw_torch"
    state_bytes = {"paged_adamw_8bit": 2, "adamw_bnb_8bit": 2, "sgd": 0, "adafactor": 1}.get(
        optimizer, 2 * train_bytes)  # AdamW: two moments in the parameters' dtype
    parts["gradients"] = trainable * train_bytes
    parts["optimizer"] = trainable * state_bytes

    parts["activations"] = _activations(recipe, config, causal)
    parts["CUDA context"] = CUDA_OVERHEAD
    gpus = 1
    est = MemoryEstimate(total, trainable, parts, gpus)
    est.notes.append(f"activations at batch {recipe.train.batch_size} x {recipe.model.max_length} tokens"
                     + (", gradient checkpointing" if recipe.train.gradient_checkpointing else "")
                     + f"; weights {'4-bit NF4' if quantized else load_dtype}; optimizer {optimizer}")
    return est


def shard(est: MemoryEstimate, gpus: int) -> MemoryEstimate:
    """device_map = "auto": the weights (and what trains with them) split over `gpus`; the
    activations pass from GPU to GPU, so each holds about its share of them too."""
    if gpus <= 1:
        return est
    parts = {k: (v if k == "CUDA context" else -(-v // gpus)) for k, v in est.parts.items()}
    return MemoryEstimate(est.params, est.trainable, parts, gpus, est.notes)


def _activations(recipe: RecipeView, config, causal: bool) -> int:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    h = _first(text, "hidden_size", "dim", "n_embd", "d_model")
    layers = _first(text, "num_hidden_layers", "n_layers", "n_layer", "num_layers")
    inter = _first(text, "intermediate_size", "hidden_dim", "n_inner", "ffn_dim") or 4 * h
    experts = _first(text, "num_experts_per_tok", "num_experts_per_token", "moe_topk") or 1
    vocab = _first(text, "vocab_size")
    b, s = recipe.train.batch_size, recipe.model.max_length
    act = 2 if recipe.model.precision != "fp32" else 4
    # per layer: attention (inputs of q/k/v/o, their outputs, the attention output, norms) ~ 16 sbh
    # bytes at 16 bits; the MLP (input, gate/up outputs, activation, down input) ~ 8 sbI per active expert
    per_layer = s * b * (16 * h + 8 * inter * experts) * act // 2
    if recipe.train.gradient_checkpointing:
        # only each layer's input is kept; one layer's activations are rebuilt at a time
        body = layers * s * b * h * act + per_layer
    else:
        body = layers * per_layer
    logits = b * s * vocab * (act + 4 + 4) if causal else 0  # logits, their fp32 upcast and its grad
    return int(body + logits)


def _first(config, *names: str) -> int:
    for n in names:
        v = getattr(config, n, None)
        if isinstance(v, int) and v > 0:
            return v
    return 0


def estimate_lines(recipe: RecipeView, *, causal: bool, num_labels: int, gpu_memory: list[int] | None,
                   where: str, tiny_texts: Callable[[], list[str]]) -> list[str]:
    """The estimate as printed, or one line saying why there is none. `tiny_texts`: the training
    texts a tiny model's tokenizer is trained on (read only when the estimate is not cached), so
    its counts are the run's own."""
    from workbench.models.memory_cache import cached_estimate

    est = cached_estimate(recipe, causal=causal, num_labels=num_labels, tiny_texts=tiny_texts)
    if est is None:
        return [f"GPU memory: not estimated ({recipe.model.source.spec} is not in this machine's Hugging Face cache)"]
    if recipe.model.device_map == "auto" and gpu_memory and len(gpu_memory) > 1:
        est = shard(est, len(gpu_memory))
    return est.lines(gpu_memory, where)
