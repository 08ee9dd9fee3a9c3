"""Launch pieces that need no daemon: scripts, command lines, status reconciliation, mirroring."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE
from workbench.errors import UserError
from workbench.launch import agent, batch
from workbench.launch.argv import Launch, prelude_lines, supervisor_argv, train_argv
from workbench.launch.follow import final_status, local_offsets, mirror
from workbench.launch.hosts import SshHost, remote_dir
from workbench.recipe import load_recipe

HOSTILE = ["; touch {m}", "$(touch {m})", "`touch {m}`", "x\ntouch {m}", "' ; touch {m} ; '", '" ; touch {m} ; "']


def launch_of(*overrides: str) -> Launch:
    return load_recipe(DEMO_RECIPE, overrides).launch


def test_single_process_trains_with_plain_python_and_several_through_accelerate():
    assert train_argv(launch_of(), "/r", "py") == ["py", "-m", "workbench.train", "/r"]
    argv = train_argv(launch_of("launch.processes=2"), "/r", "py", port=1234)
    assert argv[:3] == ["py", "-m", "accelerate.commands.launch"]
    assert "--multi_gpu" in argv and "--cpu" not in argv  # --cpu silently starts a single process
    assert argv[argv.index("--num_processes") + 1] == "2" and argv[-3:] == ["-m", "workbench.train", "/r"]
    gpus = train_argv(launch_of("launch.gpus=4", "launch.nodes=2"), "/r", "py", node_rank="$SLURM_NODEID")
    assert gpus[gpus.index("--num_processes") + 1] == "8" and gpus[gpus.index("--machine_rank") + 1] == "$SLURM_NODEID"


def test_slurm_script_carries_every_directive_and_quotes_paths():
    launch = launch_of("launch.partition=gpu", "launch.account=proj-1", "launch.qos=high", "launch.time=04:00:00",
                       "launch.gpus=8", "launch.cpus=16", "launch.mem=64G", "launch.modules=cuda/12.1,gcc",
                       "launch.container=/img/my image.sif")
    script = batch.render_slurm(launch, "/scratch/runs/r 1", "r1", "python3")
    for directive in ("--partition=gpu", "--account=proj-1", "--qos=high", "--time=04:00:00", "--gpus-per-node=8",
                      "--cpus-per-task=16", "--mem=64G", "--nodes=1"):
        assert f"#SBATCH {directive}\n" in script
    assert "cd '/scratch/runs/r 1'\n" in script and "module load cuda/12.1\n" in script
    assert ('exec "$WORKBENCH_CONTAINER_RUNTIME" exec --nv \'/img/my image.sif\' python3 -m workbench.launch.supervisor '
            "'/scratch/runs/r 1'") in script
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0  # valid shell


@pytest.fixture
def no_locations(monkeypatch):
    """The submitting environment without the location variables a batch job always gets when set."""
    for name in batch.LOCATIONS:
        monkeypatch.delenv(name, raising=False)


def test_pbs_script_carries_the_source_projects_options_as_directives(monkeypatch, no_locations):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    launch = launch_of("launch.project=71001002", "launch.queue=ic102", "launch.gpus=8", "launch.walltime=04:00:00")
    assert batch.submit_argv("pbs") == ["qsub", "job.pbs"]  # nothing on the command line: `qsub job.pbs` by hand
    script = batch.render_pbs(launch, "/home/u/runs/r1", "review-moderation-1", "python3", "sft_lora_train")
    assert [line for line in script.splitlines() if line.startswith("#PBS")] == [
        "#PBS -N sft_lora_train", "#PBS -j oe", "#PBS -o pbs.out", "#PBS -l select=1:ngpus=8",
        "#PBS -l walltime=04:00:00",  # its own line: sbatch (under qsub wrappers) misreads select=1,walltime=..
        "#PBS -v HF_HUB_OFFLINE",  # named, never -V, never a secret: qstat -f shows job variables
        "#PBS -P 71001002", "#PBS -q ic102"]
    assert "hf_secret" not in script and "HF_TOKEN" not in script
    assert "`qsub job.pbs`" in script.splitlines()[1]
    # sbatch (under Torque-style qsub wrappers) refuses #PBS -P: it is there only when a project is set
    assert "#PBS -P" not in batch.render_pbs(launch_of(), "/r", "r1", "python3", "x")
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0


def test_a_slurm_job_gets_only_the_non_secret_forwarded_names_that_are_set(monkeypatch, no_locations):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")  # in the default list, but a secret: never passed to a batch job
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MY_SETTING", "x")
    monkeypatch.delenv("UNSET_ONE", raising=False)
    script = batch.render_slurm(launch_of(), "/r", "r1", "python3", "demo")
    assert "#SBATCH --export=HF_HUB_OFFLINE\n" in script and "hf_secret" not in script
    script = batch.render_slurm(launch_of("launch.forward_env=MY_SETTING,UNSET_ONE"), "/r", "r1", "python3", "d")
    assert "#SBATCH --export=MY_SETTING\n" in script
    monkeypatch.delenv("HF_HUB_OFFLINE")
    script = batch.render_slurm(launch_of("launch.forward_env=UNSET_ONE"), "/r", "r1", "python3", "d")
    assert "#SBATCH --export=NONE\n" in script  # never sbatch's default, the whole submitting environment
    assert batch.submit_argv("slurm") == ["sbatch", "--parsable", "job.sbatch"]
    # where the hub cache, workbench's cache and the MLflow store are, as the submitting shell says:
    # passed when set, listed or not (a job from --export=NONE would look in ~/.cache)
    monkeypatch.setenv("HF_HOME", "/scratch/u/hf")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    script = batch.render_slurm(launch_of("launch.forward_env=MY_SETTING"), "/r", "r1", "python3", "d")
    assert "#SBATCH --export=MY_SETTING,HF_HOME,MLFLOW_TRACKING_URI\n" in script


def test_sbatch_and_qsub_run_without_secrets_in_their_own_environment():
    env = {"PATH": "/usr/bin", "SLURM_CONF": "/etc/slurm.conf", "AWS_SECRET_ACCESS_KEY": "a", "HF_TOKEN": "b",
           "DB_PASSWORD": "c", "SLURM_API_TOKEN": "d", "SBATCH_EXPORT": "ALL", "HOME": "/home/u"}
    assert batch.submission_env(env) == {"PATH": "/usr/bin", "SLURM_CONF": "/etc/slurm.conf", "HOME": "/home/u"}


@pytest.mark.parametrize("target", ["slurm", "pbs", "slurm:login1", "pbs:login1"])
def test_a_secret_listed_for_a_scheduler_is_refused_with_the_recipes_line(tmp_path, target):
    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text(DEMO_RECIPE.read_text().replace('"data/reviews.csv"', f'"{DEMO_RECIPE.parent}/data/reviews.csv"')
                           + f'\n[launch]\ntarget = "{target}"\nforward_env = ["HF_HUB_OFFLINE", "HF_TOKEN"]\n')
    line = recipe_file.read_text().splitlines().index('forward_env = ["HF_HUB_OFFLINE", "HF_TOKEN"]') + 1
    with pytest.raises(UserError) as e:
        batch.check_forward_env(load_recipe(recipe_file))
    msg = str(e.value)
    assert msg.startswith(f"{recipe_file}:{line}: launch.forward_env lists HF_TOKEN: ") and "\n" not in msg
    assert "hf auth login" in msg and "~/.cache/huggingface/token" in msg
    with pytest.raises(UserError, match="WANDB_API_KEY, DB_PASSWORD: .* remove them"):  # from a flag: no line
        batch.check_forward_env(load_recipe(DEMO_RECIPE, [f"launch.target={target}",
                                                          "launch.forward_env=WANDB_API_KEY,DB_PASSWORD"]))


def test_secrets_are_not_refused_where_they_travel_safely_or_were_not_asked_for():
    batch.check_forward_env(load_recipe(DEMO_RECIPE, ["launch.target=ssh:gpubox", "launch.forward_env=HF_TOKEN"]))
    batch.check_forward_env(load_recipe(DEMO_RECIPE, ["launch.forward_env=HF_TOKEN"]))  # local
    # the default list names HF_TOKEN, but the user did not: it is simply not passed to the job
    batch.check_forward_env(load_recipe(DEMO_RECIPE, ["launch.target=slurm"]))


def test_validate_refuses_a_secret_for_a_scheduler_in_one_line_and_notes_a_missing_hub_token(
        tmp_path, monkeypatch, capsys):
    from workbench.actions import validate
    from workbench.cli import main

    recipe_file = tmp_path / "r.toml"
    recipe_file.write_text(DEMO_RECIPE.read_text().replace('"data/reviews.csv"', f'"{DEMO_RECIPE.parent}/data/reviews.csv"')
                           + '\n[launch]\ntarget = "slurm"\nforward_env = ["HF_TOKEN"]\n')
    assert main(["validate", str(recipe_file)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {recipe_file}:") and "HF_TOKEN" in err

    # a hub model, a token in this environment, no token file: a note (a public model needs none), exit 0
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    hub = load_recipe(recipe_file, ["launch.forward_env=HF_HUB_OFFLINE", "model.source=meta-llama/Llama-3.2-1B"])
    note = validate.hub_token_note(hub)
    assert note is not None and f"no token file {tmp_path / 'hf' / 'token'}" in note and "hf auth login" in note
    assert "hf_x" not in note
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "token").write_text("hf_x")
    assert validate.hub_token_note(hub) is None
    (tmp_path / "hf" / "token").unlink()
    for quiet in (hub.with_values({"launch.target": "ssh:gpubox"}), hub.with_values({"model.source": "tiny:bert"}),
                  hub.with_values({"launch.target": "slurm:login1"})):
        assert validate.hub_token_note(quiet) is None
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    assert validate.hub_token_note(hub) is None  # no token relied on here: a public model, probably


def test_job_name_defaults_to_the_recipes_name_made_safe_and_odd_names_are_refused():
    assert batch.job_name(launch_of(), "slurm", "sft_lora_train") == "sft_lora_train"
    assert batch.job_name(launch_of(), "pbs", "my recipe; v2 (final)") == "my_recipe_v2_fi"  # 15 for PBS
    assert batch.job_name(launch_of(), "slurm", "2024 run") == "wb-2024_run"  # a letter first (PBS)
    assert batch.job_name(launch_of("launch.job_name=train-a.1"), "pbs", "x" * 40) == "train-a.1"
    sweep = batch.render_slurm(launch_of("launch.job_name=lr_sweep"), ["/a", "/b"], "r", "py", "recipe")
    assert "#SBATCH --job-name=lr_sweep\n" in sweep and "#SBATCH --output=slurm-%A_%a.out\n" in sweep
    for bad in ("a b", "a;touch x", "a\nb", "-x", "1abc", "a" * 65, "a$(id)"):
        with pytest.raises(UserError, match="launch.job_name"):
            launch_of(f"launch.job_name={bad}")


def test_log_file_names_the_schedulers_output_file():
    launch = launch_of("launch.log_file=sft-%j.out")
    assert "#SBATCH --output=sft-%j.out\n" in batch.render_slurm(launch, "/r", "r", "py", "n")
    assert "#PBS -o sft-%j.out\n" in batch.render_pbs(launch, "/r", "r", "py", "n")
    assert "#SBATCH --output=slurm-%j.out\n" in batch.render_slurm(launch_of(), "/r", "r", "py", "n")
    # not the run's own files (the scheduler truncates its output file: a resumed job would wipe them),
    # nor outside the run folder or in a folder that may not exist
    for bad in ("a b.out", "x;y", "-o", "a\nb", "a'q", "$(id).out", "train.log", "events.jsonl", "events.rank1.jsonl",
                "recipe.toml", "job.pbs", "../x.out", "/tmp/x.out", "logs/%j.out", ".hidden"):
        with pytest.raises(UserError, match="launch.log_file"):
            launch_of(f"launch.log_file={bad}")


def test_batch_jobs_run_in_a_login_shell_whatever_the_scheduler_passed():
    # the `module` function, conda, PATH: what a login on the node has, with --export=NONE too
    for launch in (launch_of(), launch_of("launch.modules=cuda/12.1"), launch_of("launch.venv=/v")):
        assert batch.render_slurm(launch, "/r", "r", "py", "n").startswith("#!/bin/bash -l\n")
        assert batch.render_pbs(launch, "/r", "r", "py", "n").startswith("#!/bin/bash -l\n")


@pytest.mark.parametrize("knob", ["partition", "account", "qos", "project", "queue", "time", "walltime", "mem",
                                  "conda_env"])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_scheduler_values_are_refused(knob, value):
    with pytest.raises(UserError, match=f"launch.{knob}"):
        launch_of(f"launch.{knob}={value.format(m='/tmp/pwned')}")


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_paths_reach_a_shell_as_one_quoted_word(tmp_path, value):
    marker = tmp_path / "pwned"
    text = value.format(m=marker)
    if "\n" in text:  # control characters are refused outright
        with pytest.raises(UserError, match="no newlines"):
            launch_of(f"launch.venv={text}")
        return
    # (set directly: `--set` would unquote a value that starts and ends with a quote)
    launch = dataclasses.replace(launch_of(), venv=text, container=text, python=text)
    run_dir = str(tmp_path / text)
    script = batch.render_slurm(launch, run_dir, "r", launch.python)
    # run the script's body with the launch commands replaced by echo: nothing else may execute
    body = script.replace('exec "$WORKBENCH_CONTAINER_RUNTIME"', 'echo "$WORKBENCH_CONTAINER_RUNTIME"')
    body = body.replace("set -eo pipefail", "").replace("exit 127", "true")
    body = body.replace("exec >>train.log 2>&1", "").replace(". ", "echo . ", 1)
    Path(run_dir).mkdir(parents=True)
    subprocess.run(["bash", "-c", body], capture_output=True, text=True, cwd=tmp_path)
    assert not marker.exists()
    words = shlex.split([line for line in script.splitlines() if line.startswith('exec "$WORKBENCH_CONTAINER')][0])
    assert words[-1] == run_dir and words[4] == text
    remote = SshHost("h", launch).remote_command("start", "wb/" + text)
    assert shlex.split(shlex.split(remote)[2].splitlines()[-1])[-1] == "wb/" + text


def test_hostile_targets_cannot_become_ssh_options():
    for bad in ("ssh:-oProxyCommand=touch /tmp/x", "ssh:host;x", "ssh:", "slurm:a b", "docker"):
        with pytest.raises(UserError, match="launch.target"):
            launch_of(f"launch.target={bad}")


def test_prelude_activates_modules_conda_and_venv_in_order():
    lines = prelude_lines(launch_of("launch.modules=cuda/12.1", "launch.conda_env=ml", "launch.venv=~/envs/wb"))
    assert lines == ["module load cuda/12.1", 'eval "$(conda shell.bash hook)"', "conda activate ml",
                     '. "$HOME"/envs/wb/bin/activate']


def test_remote_run_folders_are_relative_to_home_unless_absolute():
    assert remote_dir("workbench", "r1") == "workbench/runs/r1"
    assert remote_dir("~/wb/", "r1") == "wb/runs/r1"
    assert remote_dir("/scratch/u", "r1") == "/scratch/u/runs/r1"


@pytest.mark.parametrize("status, job, stop, want", [
    ("completed", {}, False, ("completed", None)),
    ("interrupted", {"scheduler_state": "CANCELLED", "job": {"job_id": "7"}}, False, ("cancelled", "job 7")),
    ("running", {"exit": {"returncode": -9, "signal": "SIGKILL"}}, False, ("failed", "SIGKILL")),
    ("interrupted", {"exit": {"returncode": 130}}, True, ("cancelled", "workbench stop")),
    ("queued", {"scheduler_state": "CANCELLED"}, False, ("cancelled", "scheduler")),
    ("interrupted", {"scheduler_state": "TIMEOUT", "job": {"job_id": "9"}}, False, ("interrupted", "time limit")),
    ("running", {"exit": {"returncode": 3}}, False, ("failed", "code 3")),
    ("running", {"exit": {"returncode": -15, "signal": "SIGTERM"}}, False, ("interrupted", "SIGTERM")),
    ("running", {"scheduler_state": "FAILED", "scheduler_exit": 2}, False, ("failed", "exit code 2")),
    ("running", {}, False, ("failed", "gone")),
    ("completed", {"scheduler_state": "CANCELLED"}, True, ("completed", None)),  # finished before the stop
    # ingestion already recorded a stopped run cancelled (store/ingest.py): it stays so, its exit code notwithstanding
    ("cancelled", {"exit": {"returncode": 130}}, True, ("cancelled", None)),
])
def test_final_status_reconciles_trainer_and_scheduler(status, job, stop, want):
    got = final_status(status, job, stop)
    assert got[0] == want[0]
    assert (got[1] is None) if want[1] is None else want[1] in got[1]


def test_job_ids_are_parsed_strictly():
    assert batch.parse_job_id("slurm", "1234\n") == "1234"
    assert batch.parse_job_id("slurm", "1234;cluster\n") == "1234"
    assert batch.parse_job_id("pbs", "5678.pbs-server\n") == "5678.pbs-server"
    with pytest.raises(ValueError):
        batch.parse_job_id("slurm", "sbatch: error: something\n")


def test_tail_then_mirror_copies_bytes_once_across_limits_and_torn_lines(tmp_path):
    remote, local = tmp_path / "remote", tmp_path / "local"
    remote.mkdir(), local.mkdir()
    lines = [json.dumps({"seq": i, "t": 0, "type": "log", "message": "x" * 50}) + "\n" for i in range(40)]
    (remote / "events.jsonl").write_text("".join(lines[:30]) + lines[30][:20])  # a torn line in progress
    (remote / "events.rank1.jsonl").write_text(lines[0])
    rounds = 0
    while True:  # a tiny limit forces many partial replies
        head, data = agent.tail(remote, local_offsets(local), limit=333)
        mirror(local, head, data)
        rounds += 1
        if head["complete"]:
            break
    assert rounds > 5
    assert (local / "events.jsonl").read_bytes() == (remote / "events.jsonl").read_bytes()
    assert (local / "events.rank1.jsonl").read_bytes() == lines[0].encode()
    # the writer finishes the line and goes on; a stale reply (old offset) is ignored, not appended twice
    stale_head, stale_data = agent.tail(remote, {"events.jsonl": 100})
    with open(remote / "events.jsonl", "a") as f:
        f.write(lines[30][20:] + "".join(lines[31:]))
    head, data = agent.tail(remote, local_offsets(local))
    mirror(local, stale_head, stale_data)
    mirror(local, head, data)
    assert (local / "events.jsonl").read_text() == "".join(lines)


def test_multi_node_slurm_runs_one_supervisor_per_node():
    script = batch.render_slurm(launch_of("launch.nodes=2", "launch.gpus=4"), "/r", "r", "py")
    assert "#SBATCH --nodes=2\n" in script and "#SBATCH --gpus-per-node=4\n" in script
    assert "exec srun --nodes=2 --ntasks-per-node=1 --kill-on-bad-exit=1 py -m workbench.launch.supervisor /r" in script
    # the steps take the script's environment, not sbatch's --export (NONE or a few names)
    assert script.index("export SLURM_EXPORT_ENV=ALL\n") < script.index("exec srun")
    assert 'WORKBENCH_MAIN_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)' in script


def test_seed_sweeps_render_a_job_array_each_task_in_its_own_folder(tmp_path):
    dirs = [str(tmp_path / "a b"), str(tmp_path / "c")]
    script = batch.render_slurm(launch_of(), dirs, "a", "echo")
    assert "#SBATCH --array=0-1\n" in script
    for i, d in enumerate(dirs):
        Path(d).mkdir()
        body = script.replace("exec >>train.log 2>&1", "")
        out = subprocess.run(["bash", "-c", body], env={"SLURM_ARRAY_TASK_ID": str(i), "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True)
        assert out.stdout.strip() == f"-m workbench.launch.supervisor {d}"


@pytest.mark.parametrize("runtime, on_path, expected", [
    ("auto", ("apptainer", "singularity"), "apptainer"),
    ("auto", ("singularity",), "singularity"),
    ("auto", (), None),
    ("singularity", ("apptainer", "singularity"), "singularity"),
    ("apptainer", ("singularity",), None),
])
def test_the_node_picks_its_container_runtime(tmp_path, runtime, on_path, expected):
    """The script's prelude, run by bash with only these programs on PATH: the runtime it picks, or
    exit 127 with one line saying what the node lacks."""
    from workbench.launch.argv import container_lines, pick_runtime

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in on_path:
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    launch = launch_of(f"launch.container_runtime={runtime}", "launch.container=/img/x.sif")
    script = "\n".join(container_lines(launch) + ['echo "picked $WORKBENCH_CONTAINER_RUNTIME"'])
    p = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True, env={"PATH": str(bin_dir)})
    if expected:
        assert p.returncode == 0 and p.stdout == f"picked {expected}\n", p.stderr
    else:
        assert p.returncode == 127 and p.stdout == "" and "launch.container needs" in p.stderr
    import os

    saved = os.environ["PATH"]
    os.environ["PATH"] = str(bin_dir)
    try:
        if expected:
            assert pick_runtime(launch) == expected
        else:
            with pytest.raises(LookupError, match="on this machine; it has none on PATH"):
                pick_runtime(launch)
    finally:
        os.environ["PATH"] = saved


def test_binds_reach_the_command_line_and_bad_ones_are_refused():
    from workbench.errors import UserError

    launch = launch_of("launch.container=/img/x.sif", "launch.container_binds=/scratch/alice:/scratch,/data:/data:ro",
                       "launch.container_runtime=singularity")
    argv = supervisor_argv(launch, "/r", "python3")
    assert argv[:7] == ["singularity", "exec", "--nv", "--bind", "/scratch/alice:/scratch", "--bind", "/data:/data:ro"]
    for bad in ("/a;rm -rf ~", "relative:/x", "/a b", "/a:/b:rx", "/x$(id)"):
        with pytest.raises(UserError, match="container_binds item"):
            launch_of(f"launch.container_binds={bad}")
    with pytest.raises(UserError, match="launch.container_runtime"):
        launch_of("launch.container_runtime=docker")
