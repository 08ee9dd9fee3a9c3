"""Generative evaluation: batched greedy generation vs one example at a time.

For the NER task and the hate-speech (chat classification) task, built the way their demos do:
the recipe (recipes/demo/qlora_ner.toml, recipes/demo/hate_speech.toml) through load_recipe,
its splits, the tiny Llama from resolve_source on the task's tokenizer texts, the model through
load_causal_lm + apply_method (LoRA, as the trainer's base eval sees it), prompts from
task.pairs on the validation records, and the project's own
`workbench.tasks.generative.generate` with the recipe's eval.batch_size, eval.max_new_tokens
and model.max_length — against the same call with batch_size=1. Each task runs twice: 4-bit
NF4 as the demos have it (quant.use_4bit), and not quantized.

The tiny models are random-initialised and (almost) never emit eos, so every example generates
all max_new_tokens: the work per example is the same in both arms (checked on the warm-up
call: the rows that stopped at eos are counted and reported). Batched and single runs
alternate (B S S B ...), and the speed-up is the median over adjacent pairs. The answers of the
two arms are compared (greedy, left padding: they should be the same; padding changes the
floating-point sums a little and can flip a near-tie argmax now and then).

    python benchmarks/bench_generation.py [--quick | --smoke]     # --smoke: 2 prompts, 1 pair
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import build_generative, by_size, main  # noqa: E402 - the shared runner (arguments, row table)

DEMOS = ROOT / "recipes" / "demo"
TASKS = (("NER", "qlora_ner.toml"), ("hate speech", "hate_speech.toml"))
GOAL = 4.0


def _build(values: dict):
    """(model, tokenizer, prompts of every validation record) the way workbench/train/pipeline.py builds them."""
    task, splits, tok, model = build_generative(values)
    return model, tok, [p for p, _ in task.pairs(splits.validation, tok)]


def _bench_one(name: str, values: dict, n: int, repeats: int) -> list[dict]:
    from workbench.tasks.generative import generate

    model, tok, prompts = _build(values)
    prompts = prompts[:n]
    bs, new, max_len = values["eval.batch_size"], values["eval.max_new_tokens"], values["model.max_length"]

    def gen(batch_size: int) -> list[str]:
        return generate(model, tok, prompts, batch_size=batch_size, max_new_tokens=new, max_length=max_len)

    # Warm-up (one-time allocations, kernel selection), watching what model.generate returns:
    # how many rows stopped at eos before max_new_tokens (the "never emits eos" claim, checked).
    eos_rows = [0]
    inner = model.generate

    def watched(*args, **kwargs):
        out = inner(*args, **kwargs)
        new_ids = out[:, kwargs["input_ids"].shape[1]:]
        eos_rows[0] += int(((new_ids == tok.eos_token_id).any(dim=1) | (new_ids.shape[1] < new)).sum())
        return out

    model.generate = watched   # an instance attribute over the method, for this one call
    try:
        gen(bs)
    finally:
        del model.generate
    times: dict[int, list[float]] = {bs: [], 1: []}
    answers: dict[int, list[str]] = {}
    pairs: list[float] = []
    for k in range(repeats):
        seg = {}
        for b in ((bs, 1) if k % 2 == 0 else (1, bs)):
            t0 = time.perf_counter()
            out = gen(b)
            seg[b] = time.perf_counter() - t0
            times[b].append(seg[b])
            if answers.setdefault(b, out) != out:
                raise AssertionError(f"{name}: greedy generation at batch size {b} differs between repeats")
        pairs.append(seg[1] / seg[bs])

    quant = f"4-bit {values['quant.type']}" if values["quant.use_4bit"] else "not quantized"
    device = next(model.parameters()).device.type
    label = f"{name} ({quant}, {device})"
    n_prompts = len(prompts)
    batched_s, single_s = statistics.median(times[bs]), statistics.median(times[1])
    speedup = statistics.median(pairs)
    same = sum(a == b for a, b in zip(answers[bs], answers[1]))
    if eos_rows[0] == 0:
        eos = f"random-initialised, it never emitted eos: every example generated all {new} tokens"
    else:
        eos = (f"random-initialised, it emitted eos in only {eos_rows[0]}/{n_prompts} rows (those stop early); "
               f"every other example generated all {new} tokens")
    setup = f"{n_prompts} validation prompts, max_new_tokens {new} ({eos})"
    return [
        {"benchmark": "generation", "what": f"{label}: batched, batch {bs}; {setup}",
         "value": f"{n_prompts / batched_s:.1f} ex/s", "goal": "", "ok": None},
        {"benchmark": "generation", "what": f"{label}: one example at a time (batch_size=1)",
         "value": f"{n_prompts / single_s:.1f} ex/s", "goal": "", "ok": None},
        {"benchmark": "generation", "what": f"{label}: speed-up batched / single, median of {repeats} adjacent "
                                            f"pairs ({min(pairs):.1f}x..{max(pairs):.1f}x)",
         "value": f"{speedup:.1f}x", "goal": f">= {GOAL:g}x", "ok": speedup >= GOAL},
        {"benchmark": "generation", "what": f"{label}: answers identical batched vs single (greedy, left padding)",
         "value": f"{same}/{n_prompts}", "goal": f"{n_prompts}/{n_prompts}", "ok": same == n_prompts},
    ]


def run(size: str = "full") -> list[dict]:
    import torch

    from workbench.models.load import quiet_transformers
    from workbench.recipe import load_recipe

    quiet_transformers()
    n, repeats = by_size(size, (64, 4), (16, 2), (2, 1))
    threads = torch.get_num_threads()
    rows: list[dict] = []
    try:
        if not torch.cuda.is_available():
            # On a small shared CPU, torch's OpenMP pool of every core collapses under outside
            # load (steps 50x slower at load 7 on 2 cores): one compute thread for both arms.
            torch.set_num_threads(1)
        for name, recipe in TASKS:
            values = load_recipe(DEMOS / recipe).values
            for use_4bit in (True, False):
                rows += _bench_one(name, {**values, "quant.use_4bit": use_4bit}, n, repeats)
    finally:
        torch.set_num_threads(threads)
    return rows


if __name__ == "__main__":
    raise SystemExit(main(run))
