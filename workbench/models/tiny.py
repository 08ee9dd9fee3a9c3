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

ARCHS = ("bert", "distilbert", "llama")
ENCODER_MAX_POSITIONS = 512


def cache_root() -> Path:
    return cache_dir("tiny")


def tiny_key(arch: str, hidden: int, layers: int, vocab: int, texts: list[str]) -> str:
    h = hashlib.sha256(f"{arch}|{hidden}|{layers}|{vocab}|v3".encode())
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


def _random_model(arch: str, tokenizer, hidden: int, layers: int, seed: int):
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, BertConfig, DistilBertConfig, LlamaConfig

    heads = max(1, hidden // 32)
    vocab = len(tokenizer)
    # Hugging Face's default init (std 0.02) suits hidden sizes near 768; at tiny widths it leaves
    # the random features almost blind to content. 1/sqrt(hidden) keeps signals well scaled.
    init = hidden ** -0.5
    torch.manual_seed(seed)
    if arch == "bert":
        cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                         intermediate_size=4 * hidden, max_position_embeddings=ENCODER_MAX_POSITIONS,
                         pad_token_id=tokenizer.pad_token_id, initializer_range=init)
        return AutoModel.from_config(cfg)
    if arch == "distilbert":
        cfg = DistilBertConfig(vocab_size=vocab, dim=hidden, n_layers=layers, n_heads=heads, hidden_dim=4 * hidden,
                               max_position_embeddings=ENCODER_MAX_POSITIONS, pad_token_id=tokenizer.pad_token_id,
                               initializer_range=init)
        return AutoModel.from_config(cfg)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=2048,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                      tie_word_embeddings=False, initializer_range=init)
    return AutoModelForCausalLM.from_config(cfg)
