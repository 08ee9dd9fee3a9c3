"""train.packing: the padding-free batches of the generative tasks give the loss (and gradients)
of the same examples in padded batches — examples never see each other, positions restart, the
loss stays on the answers — and a model that would let them see each other (gpt-oss, whose
forward builds its masks without the position ids) is refused before training."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import AutoModelForCausalLM

from workbench.errors import UserError
from workbench.models.packing import check_packing
from workbench.models.tiny import tiny_config
from workbench.tasks.generative import IGNORE, packed_collator, sft_collator

PAD = 0


def examples(n: int, seed: int = 0) -> list[dict[str, list[int]]]:
    """SFT examples of varied lengths (up to 40 tokens, past gpt_oss's 32-token sliding window),
    the loss on an answer at the end of each, as SftDataset makes them."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        prompt = [rng.randrange(3, 100) for _ in range(rng.randrange(4, 34))]
        answer = [rng.randrange(3, 100) for _ in range(rng.randrange(1, 7))]
        ids = prompt + answer
        out.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [IGNORE] * len(prompt) + answer})
    return out


def model_of(arch: str, attn: str):
    torch.manual_seed(0)
    cfg = tiny_config(arch, hidden=64, layers=2, vocab=100, bos=1, eos=2, pad=PAD)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation=attn)
    return model.train()  # training mode as the Trainer has it (no dropout in these configs)


def loss_and_grads(model, batch: dict) -> tuple[float, torch.Tensor]:
    model.zero_grad()
    loss = model(**batch).loss
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return loss.item(), grads


@pytest.mark.parametrize("arch,attn", [("llama", "sdpa"), ("llama", "eager")])
def test_packed_batches_give_the_loss_and_gradients_of_padded_batches(arch, attn):
    model = model_of(arch, attn)
    data = examples(24)
    padded, packed = sft_collator(PAD), packed_collator()
    for start in range(0, len(data), 8):
        batch = data[start:start + 8]
        flat = packed(batch)
        assert flat["input_ids"].shape == (1, sum(len(b["input_ids"]) for b in batch))  # no padding at all
        assert "attention_mask" not in flat and flat["use_cache"] is False
        loss_pad, grad_pad = loss_and_grads(model, padded(batch))
        loss_pack, grad_pack = loss_and_grads(model, flat)
        assert loss_pack == pytest.approx(loss_pad, abs=1e-3)
        assert torch.allclose(grad_pack, grad_pad, atol=1e-4), (grad_pack - grad_pad).abs().max()


@pytest.mark.parametrize("leak", ["positions running on", "a key/value cache"])
def test_a_row_that_lets_examples_see_each_other_gives_another_loss(leak):
    """The check above can fail: without the per-example positions, or with a cache in the forward
    (transformers then builds no packed mask), each example attends to those before it."""
    model = model_of("llama", "sdpa")
    batch = examples(8, seed=1)
    flat = packed_collator()(batch)
    loss_pad, _ = loss_and_grads(model, sft_collator(PAD)(batch))
    leaky = ({"input_ids": flat["input_ids"], "labels": flat["labels"]} if leak == "positions running on"
             else {**flat, "use_cache": True})
    loss_leaky, _ = loss_and_grads(model, leaky)
    assert abs(loss_leaky - loss_pad) > 1e-2


def test_the_answer_tokens_the_loss_sees_are_the_same_packed_and_padded():
    batch = examples(8, seed=2)
    flat = packed_collator()(batch)
    padded = sft_collator(PAD, 8)(batch)
    # the model shifts labels by one inside each row: count the predicted positions in both layouts
    assert int((flat["labels"][:, 1:] != IGNORE).sum()) == int((padded["labels"][:, 1:] != IGNORE).sum())
    starts = torch.nonzero(flat["position_ids"][0] == 0).flatten().tolist()
    assert starts == [sum(len(b["input_ids"]) for b in batch[:i]) for i in range(len(batch))]
    assert all(flat["labels"][0, s].item() == IGNORE for s in starts)  # never trained across a boundary


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_the_check_before_training_passes_a_model_that_keeps_examples_apart(attn):
    line = check_packing(model_of("llama", attn), attn)
    assert line.startswith(f"packing: llama with {attn} attention keeps packed examples apart")


def test_the_check_before_training_refuses_a_model_that_lets_examples_see_each_other():
    model = model_of("gpt_oss", "eager")
    batch = examples(8)
    loss_pad, _ = loss_and_grads(model, sft_collator(PAD)(batch))
    loss_pack, _ = loss_and_grads(model, packed_collator()(batch))
    assert abs(loss_pack - loss_pad) > 1e-2  # what the check guards against, on this model
    with pytest.raises(UserError) as e:
        check_packing(model, "sdpa")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("train.packing = true: gpt_oss with eager attention lets packed examples attend")
    assert "set train.packing = false" in msg
