"""Does this model keep packed examples apart? (train.packing)

A packed row holds several examples end to end, told apart only by position ids restarting at 0
(workbench/tasks/generative.py::packed_collator). transformers turns those into per-example
attention in each architecture's forward — flash_attention_2 as variable-length sequences, sdpa
and eager through a block mask that the architecture must ask for. Not every architecture asks
(gpt-oss in transformers 5.25 builds its masks without the position ids), and one that does not
silently lets each example attend to the ones before it: training "works" on corrupted context.

So before training, one forward on two short sequences checks it for the model and kernel that
will train: the second sequence alone, and packed behind the first, must give the same logits.
"""

from __future__ import annotations

from workbench.errors import UserError

# Relative to the logits' own scale. Same-model numeric noise between the two layouts is ~1e-6 in
# fp32 and ~1e-2 in bf16 / 4-bit; attention that crosses into the other example moves them by 0.1
# to 1 on a random tiny model and more on a trained one.
TOLERANCE = 0.05


def packed_leak(model, vocab: int) -> float:
    """Largest change of the second sequence's logits when it is packed behind the first,
    relative to their largest magnitude (0: the examples are kept apart)."""
    import torch

    device = next(model.parameters()).device
    first = torch.arange(3, 3 + 11, device=device) % vocab
    second = torch.arange(20, 20 + 7, device=device) % vocab
    packed = torch.cat([first, second])[None]
    positions = torch.cat([torch.arange(len(first)), torch.arange(len(second))]).to(device)[None]
    was_training = model.training
    model.eval()  # no dropout: the two forwards must be comparable
    try:
        with torch.no_grad():  # two forwards of 18 tokens: negligible beside the training to come
            alone = model(input_ids=second[None], use_cache=False).logits[0].float()
            inside = model(input_ids=packed, position_ids=positions, use_cache=False).logits[0, len(first):].float()
    finally:
        model.train(was_training)
    return float((inside - alone).abs().max() / alone.abs().max().clamp_min(1e-6))


def check_packing(model, asked: str) -> str:  # asked: the recipe's model.attn_implementation
    """The run-log line when `model` keeps packed examples apart; one UserError line when not."""
    vocab = model.get_input_embeddings().num_embeddings
    leak = packed_leak(model, vocab)
    arch = getattr(model.config, "model_type", "this model")
    attn = getattr(model.config, "_attn_implementation", None) or asked  # what loaded
    if leak > TOLERANCE:
        raise UserError(f"train.packing = true: {arch} with {attn} attention lets packed examples attend to each other "
                        f"(logits moved by {leak:.0%} of their scale in a check before training); set train.packing "
                        "= false, or model.attn_implementation = \"flash_attention_2\" where the architecture "
                        "supports it")
    return f"packing: {arch} with {attn} attention keeps packed examples apart (checked: change {leak:.1e})"
