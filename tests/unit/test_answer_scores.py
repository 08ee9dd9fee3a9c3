"""Chat classification's class scores (tasks/generative.py answer_logprobs): a batch padded on the
left, keeping only the answer's logits, gives each (prompt, answer) pair the log-likelihood the same
sequence has alone, unpadded, with every logit computed."""

from __future__ import annotations

import pytest

from workbench.models.tiny import build_tiny
from workbench.tasks.generative import IGNORE, SftDataset, answer_logprobs

TEXTS = ["the cat sat on the mat", "hate", "offensive", "neither", "a long message about nothing at all today",
         "short", "what do you think of teachers", "cyclists are a menace on the road"]


@pytest.mark.parametrize("arch", ["llama", "gpt_oss"])
def test_batched_answer_scores_equal_each_sequence_alone(arch):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = build_tiny(arch, TEXTS, hidden=64, layers=2, vocab=300)
    tok = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(folder)
    prompts = ["the cat sat on the mat. ", "short. ", "a long message about nothing at all today and more. ",
               "what do you think of teachers? "]
    pairs = [(p, a) for p in prompts for a in ("hate", "offensive", "neither at all")]
    got = answer_logprobs(model, tok, pairs, batch_size=5, max_length=64)
    for (prompt, answer), value in zip(pairs, got):
        item = SftDataset(tok, [(prompt, answer)], 64).items[0]
        with torch.inference_mode():
            logp = torch.log_softmax(model(input_ids=torch.tensor([item["input_ids"]])).logits[0].float(), dim=-1)
        direct = sum(float(logp[j - 1, t]) for j, t in enumerate(item["labels"]) if t != IGNORE)
        assert value == pytest.approx(direct, abs=1e-4), (prompt, answer)
    assert len({round(v, 3) for v in got}) > 1  # the answers score apart
