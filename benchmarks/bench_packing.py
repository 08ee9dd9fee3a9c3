"""train.packing: training speed of padding-free (packed) batches against padded ones.

The NER demo (recipes/demo/qlora_ner.toml: 4-bit NF4 tiny Llama with LoRA, its CoNLL sentences
as instruction prompts) built the way the run sequence builds it — load_recipe, the task's splits
and SftDataset, resolve_source, load_causal_lm + apply_method — and trained on the same batches
of train.batch_size examples, in the same order, with the task's two collators: `sft_collator`
(right-padded to the batch's longest example, a multiple of 8 on CUDA) and `packed_collator` (one
row, positions restarting per example). One step is forward, backward and an AdamW step over the
trainable weights; the two arms alternate batch by batch (padded, packed, packed, padded, ...) so a
load change on the machine hits both alike, and the ratio is of their summed times. The losses
of the two arms are compared on the first batch (the model is the same object, trained by both:
only the first step starts from the same weights).

    python benchmarks/bench_packing.py [--quick | --smoke]     # --quick: 4 batches; --smoke: 2
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import build_generative, by_size, main, row  # noqa: E402 - the shared runner (arguments, row table)

NAME = "packing"
RECIPE = ROOT / "recipes" / "demo" / "qlora_ner.toml"
GOAL = 1.3


def _build(values: dict):
    """(model, packed and padded batches of the training split) as workbench/train/pipeline.py builds them."""
    import torch

    from workbench.tasks.generative import SftDataset, packed_collator, sft_collator

    task, splits, tok, model = build_generative(values)
    cuda = torch.cuda.is_available()
    data = SftDataset(tok, task.pairs(splits.train, tok), values["model.max_length"])
    bs = values["train.batch_size"]
    chunks = [[data[i] for i in range(s, min(s + bs, len(data)))] for s in range(0, len(data) - bs + 1, bs)]
    padded, packed = sft_collator(tok.pad_token_id, 8 if cuda else None), packed_collator()
    return model, [padded(c) for c in chunks], [packed(c) for c in chunks]


def _step(model, optimizer, batch: dict) -> float:
    import torch

    device = next(p for p in model.parameters() if p.requires_grad).device
    inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    loss = model(**inputs).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()  # a CPU-GPU sync point: each step is timed to its end


def run(size: str = "full") -> list[dict]:
    import torch

    from workbench.models.load import quiet_transformers
    from workbench.recipe import load_recipe

    quiet_transformers()
    values = load_recipe(RECIPE).values
    torch.manual_seed(0)
    model, padded, packed = _build({**values, "lora.dropout": 0.0})
    n = by_size(size, len(padded), 4, 2)
    padded, packed = padded[:n], packed[:n]
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

    # the first batch from the same weights: the two layouts must give the same loss
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if v.dtype.is_floating_point}
    first_padded = _step(model, optimizer, padded[0])
    model.load_state_dict(state, strict=False)
    first_packed = _step(model, optimizer, packed[0])

    def timed(batch) -> float:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        _step(model, optimizer, batch)
        return time.perf_counter() - t0

    seconds = {"padded": 0.0, "packed": 0.0}
    for i in range(n):
        order = ("padded", "packed") if i % 2 == 0 else ("packed", "padded")
        for arm in order:
            seconds[arm] += timed(padded[i] if arm == "padded" else packed[i])
    examples = n * values["train.batch_size"]
    real = sum(int(b["input_ids"].numel()) for b in packed)
    slots = sum(int(b["input_ids"].numel()) for b in padded)
    ratio = seconds["padded"] / seconds["packed"]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    attn = getattr(model.config, "_attn_implementation", "?")
    label = f"NER demo, 4-bit tiny Llama + LoRA, {device}, {attn} attention, {n} batches of {values['train.batch_size']}"
    return [
        row(NAME, f"{label}: padded batches ({slots - real} of {slots} token slots are padding, "
                  f"{(slots - real) / slots:.0%})", f"{examples / seconds['padded']:.1f} samples/s"),
        row(NAME, f"{label}: packed batches (one row each, no padding)", f"{examples / seconds['packed']:.1f} samples/s"),
        row(NAME, f"{label}: speed-up packed / padded (same batches, alternating)", f"{ratio:.2f}x",
            f">= {GOAL:g}x", ratio >= GOAL),
        row(NAME, "same loss on the first batch from the same weights (|packed - padded|)",
            f"{abs(first_packed - first_padded):.1e}", "<= 1e-3", abs(first_packed - first_padded) <= 1e-3),
    ]


if __name__ == "__main__":
    raise SystemExit(main(run))
