"""`tiny:<arch>` models: small random-initialised models of a real architecture, with a
tokenizer trained on the recipe's training texts. They make every code path (LoRA target
modules, heads, padding, generation) run offline on a CPU in seconds.

Built once per (arch, size, texts) and cached as an ordinary Hugging Face directory, so they
load through exactly the same `from_pretrained` code as hub and local models.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from workbench.cache import cache_dir

ARCHS = ("bert", "distilbert", "llama", "gpt_oss")
DECODERS = ("llama", "gpt_oss")  # the tiny archs a generative task can train (causal LMs)
ENCODER_MAX_POSITIONS = 512

# gpt-oss's chat format (harmony): every turn is <|start|>ROLE<|message|>CONTENT<|end|>; the
# assistant answers in a channel (analysis: its reasoning, final: the answer) and its last answer
# ends with <|return|>, the eos. As in gpt-oss's own template, a "system" message becomes the
# developer's instructions; unlike it, no fixed system turn opens the chat (the real one names the
# model, its knowledge cutoff, today's date and the reasoning effort: a hundred tokens a tiny
# tokenizer would spend on every prompt), and no tools.
HARMONY_SPECIALS = ["<|startoftext|>", "<|endoftext|>", "<|return|>", "<|start|>", "<|end|>", "<|message|>",
                    "<|channel|>", "<|constrain|>", "<|call|>"]
HARMONY_TEMPLATE = r"""
{%- for message in messages -%}
  {%- if message['role'] in ('system', 'developer') -%}
    {{- '<|start|>developer<|message|># Instructions\n\n' + message['content'] + '<|end|>' -}}
  {%- elif message['role'] == 'user' -%}
    {{- '<|start|>user<|message|>' + message['content'] + '<|end|>' -}}
  {%- elif message['role'] == 'assistant' -%}
    {{- '<|start|>assistant<|channel|>final<|message|>' + message['content'] -}}
    {{- '<|return|>' if loop.last and not add_generation_prompt else '<|end|>' -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|start|>assistant' -}}{%- endif -%}
""".strip()


def cache_root() -> Path:
    return cache_dir("tiny")


def tiny_key(arch: str, hidden: int, layers: int, vocab: int, texts: list[str]) -> str:
    h = hashlib.sha256(f"{arch}|{hidden}|{layers}|{vocab}|v3".encode())
    if arch == "gpt_oss":  # its chat template is part of the tokenizer built
        h.update(HARMONY_TEMPLATE.encode())
    for t in texts:
        h.update(t.encode("utf-8", "replace"))
        h.update(b"\x00")
    return f"{arch}-h{hidden}-l{layers}-v{vocab}-{h.hexdigest()[:12]}"


def build_tiny(arch: str, texts: list[str], *, hidden: int = 64, layers: int = 2, vocab: int = 2000,
               seed: int = 0) -> Path:
    """Return the directory of the tiny model (building and caching it on first use)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown tiny architecture {arch!r}; known: {', '.join(ARCHS)}")
    dest = cache_root() / tiny_key(arch, hidden, layers, vocab, texts)
    if (dest / "config.json").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        tokenizer = _train_tokenizer(arch, texts, vocab)
        tokenizer.save_pretrained(tmp)
        model = _random_model(arch, tokenizer, hidden, layers, seed)
        model.save_pretrained(tmp)
        try:
            tmp.rename(dest)  # atomic publish; a concurrent builder may have won the race
        except OSError:
            if not (dest / "config.json").exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _train_tokenizer(arch: str, texts: list[str], vocab: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if arch in ("bert", "distilbert"):
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        normalizer = normalizers.BertNormalizer(lowercase=False)
        pre = pre_tokenizers.BertPreTokenizer()
        # tokenizers' WordPieceTrainer breaks count ties in hash-map order, so two builds from
        # the same texts differ. Build the vocabulary deterministically instead: every character
        # (alone and as a ##continuation), then whole words by (-count, word).
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
        alphabet = sorted({c for w in counts for c in w})
        vocab_list = specials + alphabet + [f"##{c}" for c in alphabet]
        seen = set(vocab_list)
        for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if len(vocab_list) >= vocab:
                break
            if word not in seen:
                vocab_list.append(word)
                seen.add(word)
        tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab_list)}, unk_token="[UNK]"))
        tok.normalizer = normalizer
        tok.pre_tokenizer = pre
        tok.decoder = decoders.WordPiece()
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
        return PreTrainedTokenizerFast(
            tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
            mask_token="[MASK]", model_max_length=ENCODER_MAX_POSITIONS)
    if arch == "gpt_oss":
        return _harmony_tokenizer(texts, vocab)
    # llama: byte-level BPE with <s> prepended; no pad token (set from eos by the loaders, as for real Llamas)
    specials = ["<unk>", "<s>", "</s>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", bos)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   model_max_length=2048)


def _harmony_tokenizer(texts: list[str], vocab: int):
    """Byte-level BPE as for llama, with gpt-oss's special tokens and chat template: no token is
    prepended (the template writes the whole prompt), eos <|return|> (the end of a final answer),
    pad <|endoftext|>, as the real tokenizer has them. The template's own words are among the
    training texts, so they cost a token each, not one per byte."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fixed = ["# Instructions", "developer", "user", "assistant", "final"]
    tok.train_from_iterator(list(texts) + fixed * 64,
                            trainers.BpeTrainer(vocab_size=vocab, special_tokens=HARMONY_SPECIALS,
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|startoftext|>", eos_token="<|return|>",
                                   pad_token="<|endoftext|>", model_max_length=2048,
                                   chat_template=HARMONY_TEMPLATE)


def _random_model(arch: str, tokenizer, hidden: int, layers: int, seed: int):
    import torch
    from transformers import AutoModel, AutoModelForCausalLM

    cfg = tiny_config(arch, hidden=hidden, layers=layers, vocab=len(tokenizer), bos=tokenizer.bos_token_id,
                      eos=tokenizer.eos_token_id, pad=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    return (AutoModelForCausalLM if arch in DECODERS else AutoModel).from_config(cfg)


def tiny_config(arch: str, *, hidden: int, layers: int, vocab: int, bos: int | None = None, eos: int | None = None,
                pad: int | None = None):
    """The config of a tiny:<arch> model (what _random_model builds; the memory estimate reads it
    without building the tokenizer: `vocab` is then the recipe's tiny_vocab_size, an upper bound)."""
    from transformers import BertConfig, DistilBertConfig, LlamaConfig

    heads = max(1, hidden // 32)
    # Hugging Face's default init (std 0.02) suits hidden sizes near 768; at tiny widths it leaves
    # the random features almost blind to content. 1/sqrt(hidden) keeps signals well scaled.
    init = hidden ** -0.5
    if arch == "bert":
        return BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                          intermediate_size=4 * hidden, max_position_embeddings=ENCODER_MAX_POSITIONS,
                          pad_token_id=pad, initializer_range=init)
    if arch == "distilbert":
        return DistilBertConfig(vocab_size=vocab, dim=hidden, n_layers=layers, n_heads=heads, hidden_dim=4 * hidden,
                                max_position_embeddings=ENCODER_MAX_POSITIONS, pad_token_id=pad,
                                initializer_range=init)
    if arch == "gpt_oss":
        return _gpt_oss_config(vocab, hidden, layers, init, bos, eos, pad)
    return LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=2048,
                       bos_token_id=bos, eos_token_id=eos, tie_word_embeddings=False, initializer_range=init)


def _gpt_oss_config(vocab: int, hidden: int, layers: int, init: float, bos, eos, pad):
    """gpt-oss at tiny size, with what makes it gpt-oss: a mixture of experts in every layer (a
    router picking the top 2 of 4 experts per token; the experts' weights fused into 3-D parameters,
    gate_up_proj and down_proj, not nn.Linear), attention sinks, grouped-query attention with biases,
    sliding-window layers alternating with full-attention ones, YaRN rope (the real defaults)."""
    from transformers import GptOssConfig

    heads = max(2, hidden // 32)
    return GptOssConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads // 2, head_dim=hidden // heads,
        num_local_experts=4, num_experts_per_tok=2, sliding_window=32,
        layer_types=["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(layers)],
        initializer_range=init, tie_word_embeddings=False,
        bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
