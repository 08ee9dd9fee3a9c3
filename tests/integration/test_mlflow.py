"""MLflow for real: a run with train.report_to = ["mlflow"] logs live into a real MLflow store
(sqlite, through mlflow-skinny), and `workbench export-mlflow` sends a finished run afterwards by
the same translation. Everything is read back through MLflow's own client and compared with the
store: per-label metrics, params, step curves, artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE, ROOT, workbench
from tests.integration.runs import events_of, q

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra (mlflow-skinny) is not installed")
from mlflow.tracking import MlflowClient  # noqa: E402

pytestmark = pytest.mark.slow

NO_MLFLOW_ENV = {"MLFLOW_TRACKING_URI": "", "MLFLOW_EXPERIMENT_NAME": ""}


def sqlite_uri(path: Path) -> str:
    return "sqlite:///" + str(path.absolute())


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """(store, run id, run folder, tracking URI) of an encoder demo run that logged to MLflow live."""
    root = tmp_path_factory.mktemp("mlflow")
    store, uri = root / "runs.duckdb", sqlite_uri(root / "tracking" / "mlflow.db")
    (root / "tracking").mkdir()
    proc = workbench("run", DEMO_RECIPE, "--quiet", "--set", "train.max_steps=12", "--set", "train.logging_steps=2",
                     "--set", 'train.report_to=["mlflow"]', "--set", f"train.mlflow_tracking_uri={uri}",
                     "--set", "train.mlflow_experiment=reviews", store=store, env=NO_MLFLOW_ENV, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_id, run_dir, status), = q(store, "SELECT run_id, run_dir, status FROM runs")
    assert status == "completed"
    return store, run_id, Path(run_dir), uri


def stored_evals(store: Path, run_id: str) -> dict[str, float]:
    """The store's base, tuned and label-prior evaluations under the metric names MLflow gets."""
    out = {}
    for phase, split, label, metric, value in q(
            store, "SELECT phase, split, label, metric, value FROM evals WHERE run_id = ? "
                   "AND phase IN ('base', 'tuned', 'prior') AND isfinite(value)", [run_id]):
        out[f"{phase}/{split}/{metric}" if label == "(all)" else f"{phase}/{split}/{metric}/{label}"] = value
    return out


def artifact_paths(client: MlflowClient, run: str, path: str | None = None) -> set[str]:
    out = set()
    for f in client.list_artifacts(run, path):
        out |= artifact_paths(client, run, f.path) if f.is_dir else {f.path}
    return out


def test_a_live_run_logs_its_recipe_curves_per_label_evaluations_and_artifacts(live):
    store, run_id, run_dir, uri = live
    (mlflow_run, recorded_uri), = q(store, "SELECT mlflow_run_id, mlflow_uri FROM runs WHERE run_id = ?", [run_id])
    assert mlflow_run and recorded_uri == uri
    shown = workbench("show", run_id, store=store)
    assert f"run {mlflow_run} at {uri}" in " ".join(shown.stdout.split())
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(mlflow_run)
    assert run.info.run_name == run_id and run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "reviews"
    assert run.data.tags["workbench.run_id"] == run_id
    # params: the frozen recipe, every knob
    frozen = events_of(run_dir)[0]["recipe"]
    assert run.data.params["train.learning_rate"] == str(frozen["train.learning_rate"])
    assert run.data.params["model.source"] == frozen["model.source"]
    assert json.loads(run.data.params["train.report_to"]) == ["mlflow"]
    assert int(run.data.params["trainable_params"]) == q(store, "SELECT trainable_params FROM runs")[0][0]
    # step curve: one point per step event, at its step
    steps = [(e["step"], e["loss"]) for e in events_of(run_dir) if e["type"] == "step" and e.get("loss") is not None]
    assert len(steps) >= 5
    history = [(m.step, m.value) for m in client.get_metric_history(mlflow_run, "train/loss")]
    assert sorted(history) == pytest.approx(sorted(steps))
    # every base / tuned evaluation, aggregated and per label, as the store has it
    want = stored_evals(store, run_id)
    assert "tuned/validation/f1/toxicity" in want and "base/validation/f1_micro" in want
    assert "prior/validation/loss" in want and "prior/validation/f1/toxicity" in want
    assert {k: run.data.metrics.get(k) for k in want} == pytest.approx(want)
    # artifacts: the recipe, the adapter, the predictions (every phase and split), labels.json
    files = artifact_paths(client, mlflow_run)
    assert {"recipe.toml", "labels.json", "adapter/adapter_config.json", "adapter/adapter_model.safetensors",
            "predictions/predictions_tuned_validation.jsonl", "predictions/predictions_base_validation.jsonl"} <= files
    local = client.download_artifacts(mlflow_run, "predictions/predictions_tuned_validation.jsonl", str(run_dir.parent))
    assert Path(local).read_bytes() == (run_dir / "predictions_tuned_validation.jsonl").read_bytes()


def test_export_mlflow_sends_the_same_run_once_and_again_on_request(live, tmp_path):
    store, run_id, run_dir, live_uri = live
    live_run = q(store, "SELECT mlflow_run_id FROM runs")[0][0]
    # the run's own tracking store already has it (it logged live): nothing is sent twice
    proc = workbench("export-mlflow", run_id, store=store, env=NO_MLFLOW_ENV)
    assert proc.returncode == 0 and f"already in MLflow as run {live_run}" in proc.stdout, proc.stdout + proc.stderr

    other = sqlite_uri(tmp_path / "other.db")
    proc = workbench("export-mlflow", run_id, "--tracking-uri", other, store=store, env=NO_MLFLOW_ENV)
    assert proc.returncode == 0, proc.stderr
    client, live_client = MlflowClient(tracking_uri=other), MlflowClient(tracking_uri=live_uri)
    exported, = client.search_runs([client.get_experiment_by_name("reviews").experiment_id])
    assert exported.info.run_name == run_id and exported.info.status == "FINISHED"
    # a sqlite store made by workbench keeps its artifacts beside the database, not in a working folder
    assert Path(exported.info.artifact_uri.removeprefix("file://")).is_relative_to(tmp_path / "mlartifacts")
    # one translation: the replay logs what the live run logged (train.log and the telemetry aside)
    logged = live_client.get_run(live_run)
    skip = ("system/",)
    assert {k: v for k, v in exported.data.metrics.items() if not k.startswith(skip)} == pytest.approx(
        {k: v for k, v in logged.data.metrics.items() if not k.startswith(skip)})
    assert exported.data.params == logged.data.params
    log = {"train.log"} if (run_dir / "train.log").is_file() else set()
    assert artifact_paths(client, exported.info.run_id) == artifact_paths(live_client, live_run) | log
    # recorded: the store and the run folder (so `workbench sync` keeps it)
    assert q(store, "SELECT mlflow_run_id, mlflow_uri FROM runs")[0] == (exported.info.run_id, other)
    assert json.loads((run_dir / "annotations.json").read_text())["mlflow"]["run"] == exported.info.run_id

    again = workbench("export-mlflow", run_id, "--tracking-uri", other, store=store, env=NO_MLFLOW_ENV)
    assert again.returncode == 0 and "already in MLflow as run " + exported.info.run_id in again.stdout
    assert len(client.search_runs([exported.info.experiment_id])) == 1
    forced = workbench("export-mlflow", "last", "--again", "--tracking-uri", other, store=store, env=NO_MLFLOW_ENV)
    assert forced.returncode == 0, forced.stderr
    assert len(client.search_runs([exported.info.experiment_id])) == 2


def test_fairness_rows_and_confusion_reach_mlflow(tmp_path, monkeypatch):
    """A replayed event file with fairness groups (as the hate-speech recipe's evaluations have):
    per group metrics and the table as a JSON artifact, through a real sqlite store: by default
    runs/mlflow.db beside the run folders."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    from workbench.events import EventWriter
    from workbench.tracking import mlflow_sink

    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    groups = {"women": {"examples": 40, "negatives": 30, "false_positives": 6, "fpr": 0.2, "max_fpr": 0.1, "flagged": 1.0}}
    row = {"group_column": "race", "group": "black", "examples": 50, "positives": 20, "negatives": 30, "fpr": 0.3,
           "fnr": 0.1, "flagged": 1.0, "subgroup_auc": 0.71, "bpsn_auc": 0.62, "bnsp_auc": None,
           "reasons": {"bnsp_auc": "9 negatives in the background (needs 10)"}}
    bias = {"toxic": {"overall_auc": 0.9, "groups": [row], "means": {}, "final_score": None}}
    with EventWriter(run_dir / "events.jsonl") as w:
        w.emit("start", run_id="r1", recipe={"name": "hs", "train.report_to": ["mlflow"]}, attempt=1, host="h")
        # label names MLflow takes as they are, and ones it would refuse or merge (a,b and a+b)
        labels = {"hate": {"f1": 0.5}, "a,b": {"f1": 0.1}, "a+b": {"f1": 0.9}, "n/a/": {"f1": 0.3}, "x" * 300: {"f1": 0.2}}
        w.emit("eval", phase="tuned", split="test", step=9, labels=labels, aggregates={"f1_macro": 0.4},
               groups=groups, confusion={"hate": {"hate": 3, "neither": 1}})
        # a run since the bias report: per positive class, group column and group, AUCs (None: too few)
        w.emit("eval", phase="tuned", split="validation", step=9, labels={"toxic": {"bias_final_score": 0.8}},
               aggregates={"groups_flagged": 1.0}, bias=bias)
        w.emit("targets", items=[{"metric": "f1_macro", "split": "test", "target": 0.615, "value": 0.4, "met": False}])
        w.emit("end", status="completed")
    sent = mlflow_sink.replay(run_dir, "r1", {"name": "hs", "train.mlflow_experiment": "/Shared/team exp"}, "completed")
    uri = sqlite_uri(tmp_path / "runs" / "mlflow.db")
    assert sent.uri == uri
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(sent.mlflow_run)
    assert client.get_experiment(run.info.experiment_id).name == "/Shared/team exp"
    f1 = {k: v for k, v in run.data.metrics.items() if k.startswith("tuned/test/f1/")}
    assert len(f1) == 5 and sorted(f1.values()) == [0.1, 0.2, 0.3, 0.5, 0.9]  # one metric per label, none merged
    assert f1["tuned/test/f1/hate"] == 0.5 and all(len(k) <= 250 for k in f1)
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(tmp_path / "runs" / "mlartifacts")
    assert run.data.metrics["tuned/test/group/women/fpr"] == 0.2
    assert run.data.metrics["tuned/test/group/women/flagged"] == 1.0
    assert run.data.metrics["tuned/test/f1/hate"] == 0.5
    assert client.get_metric_history(sent.mlflow_run, "tuned/test/f1_macro")[0].step == 9
    table = json.loads(Path(client.download_artifacts(sent.mlflow_run, "fairness/tuned_test.json", str(tmp_path))).read_text())
    assert table == groups
    assert "confusion/tuned_test.json" in artifact_paths(client, sent.mlflow_run)
    metrics = run.data.metrics
    assert metrics["tuned/validation/group/race/black/toxic/bpsn_auc"] == 0.62
    assert metrics["tuned/validation/group/race/black/toxic/fnr"] == 0.1
    assert "tuned/validation/group/race/black/toxic/bnsp_auc" not in metrics  # None: nothing logged
    table = json.loads(Path(client.download_artifacts(sent.mlflow_run, "fairness/tuned_validation.json",
                                                      str(tmp_path))).read_text())
    assert table == bias
    # eval.targets judged: per target 1 met / 0 not, and the run's tag
    assert run.data.metrics["targets/f1_macro_met"] == 0.0 and run.data.tags["workbench.targets_met"] == "false"


def test_report_to_mlflow_without_mlflow_installed_is_one_line_before_anything_loads(tmp_path):
    # find_spec answers None for a module set to None in sys.modules: mlflow "not installed"
    code = ("import sys; sys.modules['mlflow'] = None; from workbench.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "validate", str(DEMO_RECIPE), "--set", 'train.report_to=["mlflow"]'],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, **NO_MLFLOW_ENV})
    assert proc.returncode == 2
    line, = proc.stderr.strip().splitlines()
    assert "train.report_to" in line and "mlflow" in line and "pip install 'workbench[mlflow]'" in line


def test_a_bad_tracking_uri_is_refused_and_an_unreachable_server_fails_the_run_before_the_model_loads(tmp_path):
    store = tmp_path / "runs.duckdb"
    bad = workbench("validate", DEMO_RECIPE, "--set", "train.mlflow_tracking_uri=my server", env=NO_MLFLOW_ENV)
    assert bad.returncode == 2 and "train.mlflow_tracking_uri" in bad.stderr and "Traceback" not in bad.stderr
    # MLflow's own example, relative to whichever process opens it: refused (flag or environment)
    for how in (("--set", "train.mlflow_tracking_uri=sqlite:///mlflow.db"), ()):
        rel = workbench("validate", DEMO_RECIPE, "--set", 'train.report_to=["mlflow"]', *how,
                        env={**NO_MLFLOW_ENV, "MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"})
        assert rel.returncode == 2 and "sqlite:////" in rel.stderr and len(rel.stderr.strip().splitlines()) == 1
    # port 9 (discard): nothing listens there; the URI comes from the environment with a password in
    # it, which the run's files and the store never get
    proc = workbench("run", DEMO_RECIPE, "--quiet", "--set", 'train.report_to=["mlflow"]', store=store,
                     env={**NO_MLFLOW_ENV, "MLFLOW_TRACKING_URI": "http://ann:s3cret@127.0.0.1:9",
                          "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"})
    assert proc.returncode != 0
    (status, error, run_dir), = q(store, "SELECT status, error, run_dir FROM runs")
    assert status == "failed" and "cannot open an MLflow run at http://127.0.0.1:9" in error
    assert not [e for e in events_of(Path(run_dir)) if e["type"] == "model"]  # stopped before the model loaded
    assert "Traceback" not in (Path(run_dir) / "events.jsonl").read_text()
    for path in [*Path(run_dir).rglob("*"), store]:
        if path.is_file():
            assert b"s3cret" not in path.read_bytes(), path
    assert "s3cret" not in proc.stdout + proc.stderr


def test_credentials_never_reach_a_file():
    from workbench.recipe.schema import BY_NAME
    from workbench.tracking.mlflow_sink import public_uri

    assert public_uri("https://ann:s3cret@mlflow.example.org/x") == "https://mlflow.example.org/x"
    assert public_uri("sqlite:////data/mlflow.db") == "sqlite:////data/mlflow.db"
    uri = BY_NAME["train.mlflow_tracking_uri"].pattern
    assert uri is not None and not uri.fullmatch("https://ann:s3cret@mlflow.example.org")
    assert uri.fullmatch("http://127.0.0.1:5000") and uri.fullmatch("databricks") and uri.fullmatch("")


@pytest.mark.parametrize("text, shown", [
    ("https://user:p@ss@host.example.org/x", "https://host.example.org/x"),
    ("https://user:pa/ss@host.example.org:5000/x", "https://host.example.org:5000/x"),
    ("https://user:pa?ss@host.example.org", "https://host.example.org"),
    ("https://user:pa#ss@host.example.org/api", "https://host.example.org/api"),
    ("http://user:p@s/s@w@rd@host:5000", "http://host:5000"),
    ("https://tok%2Fen@host/x", "https://host/x"),
    ("HTTP://ann:s3cret@[::1]:5000/x", "HTTP://[::1]:5000/x"),
    ("error at https://ann:s3cret@host/api: 401 (also 'https://bob:pw@other/z')",
     "error at https://host/api: 401 (also 'https://other/z')"),
    # without credentials: unchanged, an address in a path or a query included
    ("https://host.example.org:5000/Users/me@corp.com/exp?x=a@b", "https://host.example.org:5000/Users/me@corp.com/exp?x=a@b"),
    ("databricks://profile", "databricks://profile"),
    ("sqlite:////data/ml@flow.db", "sqlite:////data/ml@flow.db"),
    ("http://ann:pw@[::1/x", "http://[::1/x"),
    ("file:///tmp/mlruns", "file:///tmp/mlruns"),
    ("no uri here: user:pass@host", "no uri here: user:pass@host"),
])
def test_the_whole_userinfo_is_dropped(text, shown):
    from workbench.tracking.mlflow_sink import public_uri

    assert public_uri(text) == shown


def test_a_resumed_run_continues_its_mlflow_run(tmp_path):
    """Killed for real (SIGKILL, no handler) after training, then resumed: one MLflow run, ended
    FINISHED, with the tuned evaluation the second attempt made."""
    store, uri = tmp_path / "runs.duckdb", sqlite_uri(tmp_path / "mlflow.db")
    args = ("--set", "train.max_steps=6", "--set", 'train.report_to=["mlflow"]',
            "--set", f"train.mlflow_tracking_uri={uri}")
    first = workbench("run", DEMO_RECIPE, "--quiet", *args, store=store,
                      env={**NO_MLFLOW_ENV, "WORKBENCH_KILL_AT": "tuned_eval"}, timeout=600)
    assert first.returncode != 0
    (run_id, mlflow_run), = q(store, "SELECT run_id, mlflow_run_id FROM runs")
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(mlflow_run).info.status == "RUNNING"  # killed: nobody ended it
    resumed = workbench("resume", run_id, "--quiet", store=store, env=NO_MLFLOW_ENV, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert q(store, "SELECT mlflow_run_id FROM runs") == [(mlflow_run,)]
    runs = client.search_runs([client.get_run(mlflow_run).info.experiment_id])
    assert [r.info.run_id for r in runs] == [mlflow_run]
    run = client.get_run(mlflow_run)
    assert run.info.status == "FINISHED" and run.data.tags["workbench.attempt"] == "2"
    assert "tuned/validation/f1_micro" in run.data.metrics


def test_runs_starting_together_share_a_new_sqlite_store(tmp_path):
    """A sweep's trainers open the default store at once: MLflow creates its tables on first use,
    and several processes doing that together used to break the database for good."""
    from workbench.tracking import mlflow_sink

    runs = tmp_path / "runs"
    code = ("import sys; from pathlib import Path; from workbench.tracking import mlflow_sink as m; "
            "d = Path(sys.argv[1]); o = m.open_live({'name': 'sweep', 'train.report_to': ['mlflow']}, d, d.name, 1, None); "
            "print(o.sink.close('completed', None, timeout=60) or 'ok')")
    procs = []
    for i in range(4):
        (runs / f"r{i}").mkdir(parents=True)
        procs.append(subprocess.Popen([sys.executable, "-c", code, str(runs / f"r{i}")], cwd=ROOT, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **NO_MLFLOW_ENV}))
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and out.strip() == "ok", err[-2000:]
    client = MlflowClient(tracking_uri=mlflow_sink.target_of({"name": "sweep"}, runs).uri)
    found = client.search_runs([client.get_experiment_by_name("sweep").experiment_id])
    assert sorted(r.info.run_name for r in found) == ["r0", "r1", "r2", "r3"]
    assert {r.info.status for r in found} == {"FINISHED"}
