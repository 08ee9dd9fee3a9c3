"""Bad input through the real CLI: one clean `error:` line naming the file (and line / field), exit
status 2, no traceback, and nothing started (no run folder, no run in the store).

None of these trains anything: the CLI rejects bad input before any model loads."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE
from tests.integration.runs import q

COLUMNS = "text,advertisement,relevance,rant,toxicity,spam"
GOOD_ROWS = [
    "Great rides and friendly staff,0,0,0,0,0",
    "Visit my page for cheap deals!!,1,0,0,0,1",
    "My neighbour's cat is loud,0,1,0,0,0",
    "Never been but it is surely awful,0,0,1,0,0",
    "You are all idiots,0,0,0,1,0",
    "Nice food and fair prices,0,0,0,0,0",
    "Long queues but worth it,0,0,0,0,0",
    "Buy followers now at my shop,1,0,0,0,1",
    "Clean toilets and good signs,0,0,0,0,0",
    "Terrible people run this place,0,0,1,1,0",
]


def good_csv() -> str:
    return "\n".join([COLUMNS, *GOOD_ROWS]) + "\n"


def base_recipe_text(train_file: str = "train.csv") -> str:
    text = DEMO_RECIPE.read_text(encoding="utf-8")
    assert 'train_file = "data/reviews.csv"' in text
    return text.replace('train_file = "data/reviews.csv"', f'train_file = "{train_file}"')


def line_of(text: str, needle: str) -> int:
    for no, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return no
    raise AssertionError(f"{needle!r} not found")


@dataclass
class Case:
    recipe: Path
    must: list[str]  # substrings the error line must hold
    args: list[str] = field(default_factory=list)


def _recipe(tmp: Path, edit: Callable[[str], str] | None = None, csv: str | bytes | None = None) -> tuple[Path, str]:
    data = good_csv() if csv is None else csv
    (tmp / "train.csv").write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    text = base_recipe_text()
    if edit is not None:
        text = edit(text)
    path = tmp / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path, text


def case_unknown_key(tmp: Path) -> Case:
    path, text = _recipe(tmp, lambda t: t.replace("r = 16\n", "rank = 16\n"))
    return Case(path, [f"{path}:{line_of(text, 'rank = 16')}: ", "lora.rank", "did you mean lora.r?"])


def case_unknown_section(tmp: Path) -> Case:
    path, text = _recipe(tmp, lambda t: t.replace("[train]\n", "[trian]\n"))
    return Case(path, [f"{path}:{line_of(text, '[trian]')}: ", "[trian]", "did you mean [train]?"])


def case_wrong_type(tmp: Path) -> Case:
    path, text = _recipe(tmp, lambda t: t.replace("batch_size = 16\n", 'batch_size = "big"\n'))
    return Case(path, [f"{path}:{line_of(text, 'batch_size = ' + chr(34))}: ", "train.batch_size", "'big'"])


def case_out_of_range(tmp: Path) -> Case:
    path, text = _recipe(tmp, lambda t: t.replace("dropout = 0.1\n", "dropout = 1.5\n"))
    return Case(path, [f"{path}:{line_of(text, 'dropout = 1.5')}: ", "lora.dropout = 1.5", "out of range",
                       "[0, 0.99]"])


def case_missing_data_file(tmp: Path) -> Case:
    path, _ = _recipe(tmp, lambda t: t.replace('train_file = "train.csv"', 'train_file = "nope.csv"'))
    return Case(path, [f"{tmp / 'nope.csv'}: ", "not found"])


def case_missing_text_column(tmp: Path) -> Case:
    path, _ = _recipe(tmp, csv=good_csv().replace("text,", "body,", 1))
    return Case(path, [f"{tmp / 'train.csv'}:1: ", "'text'", "data.text_column"])


def case_missing_label_column(tmp: Path) -> Case:
    rows = [",".join(c for i, c in enumerate(r.split(",")) if i != 3) for r in [COLUMNS, *GOOD_ROWS]]
    path, _ = _recipe(tmp, csv="\n".join(rows) + "\n")
    return Case(path, [f"{tmp / 'train.csv'}:1: ", "'rant'", "'non_visitor_rant'"])


def case_label_value_two(tmp: Path) -> Case:
    rows = list(GOOD_ROWS)
    rows[2] = "My neighbour's cat is loud,0,1,0,2,0"  # file line 4
    path, _ = _recipe(tmp, csv="\n".join([COLUMNS, *rows]) + "\n")
    return Case(path, [f"{tmp / 'train.csv'}:4: ", "'toxicity'", "'2'", "0 or 1"])


def case_empty_text(tmp: Path) -> Case:
    rows = list(GOOD_ROWS)
    rows[1] = '"  ",1,0,0,0,1'  # file line 3
    path, _ = _recipe(tmp, csv="\n".join([COLUMNS, *rows]) + "\n")
    return Case(path, [f"{tmp / 'train.csv'}:3: ", "empty text"])


def case_not_utf8(tmp: Path) -> Case:
    rows = [r.encode() for r in [COLUMNS, *GOOD_ROWS]]
    rows[2] = "Caf\u00e9 was nice,0,0,0,0,0".encode("latin-1")  # file line 3
    path, _ = _recipe(tmp, csv=b"\n".join(rows) + b"\n")
    return Case(path, [f"{tmp / 'train.csv'}:3: ", "UTF-8"])


def case_multiline_text_then_bad_label(tmp: Path) -> Case:
    rows = list(GOOD_ROWS)
    rows[0] = '"Line one\nline two\nline three",0,0,0,0,0'  # file lines 2-4
    rows[1] = "Visit my page,yes,0,0,0,1"  # file line 5
    path, _ = _recipe(tmp, csv="\n".join([COLUMNS, *rows]) + "\n")
    return Case(path, [f"{tmp / 'train.csv'}:5: ", "'advertisement'", "'yes'"])


def case_set_unknown_key(tmp: Path) -> Case:
    path, _ = _recipe(tmp)
    return Case(path, ["--set lora.rank", "did you mean lora.r?"], ["--set", "lora.rank=4"])


def case_set_bad_value(tmp: Path) -> Case:
    path, _ = _recipe(tmp)
    return Case(path, ["--set", "lora.r", "'many'"], ["--set", "lora.r=many"])


def case_set_out_of_range(tmp: Path) -> Case:
    path, _ = _recipe(tmp)
    return Case(path, ["--set", "train.learning_rate = -1.0", "out of range"], ["--set", "train.learning_rate=-1"])


def case_toml_syntax(tmp: Path) -> Case:
    path, text = _recipe(tmp, lambda t: t.replace("alpha = 32\n", "alpha = = 32\n"))
    return Case(path, [f"{path}:{line_of(text, 'alpha = = 32')}: ", "invalid TOML"])


def case_recipe_not_found(tmp: Path) -> Case:
    path = tmp / "missing.toml"
    return Case(path, [f"{path}: ", "not found"])


def case_unknown_tiny_arch(tmp: Path) -> Case:
    path, _ = _recipe(tmp, lambda t: t.replace('source = "tiny:distilbert"', 'source = "tiny:gpt9"'))
    return Case(path, ["model.source", "tiny:gpt9", "unknown tiny architecture"])


def case_hostile_partition(tmp: Path) -> Case:
    path, text = _recipe(tmp, lambda t: t + '\n[launch]\ntarget = "slurm"\npartition = "gpu; rm -rf ~"\n')
    return Case(path, [f"{path}:{line_of(text, 'partition = ')}: ", "launch.partition", "'gpu; rm -rf ~'"])


def case_hostile_target(tmp: Path) -> Case:
    path, _ = _recipe(tmp)
    return Case(path, ["launch.target", "ProxyCommand", "ssh:HOST"], ["--set", "launch.target=ssh:-oProxyCommand=sh"])


def case_newline_in_module(tmp: Path) -> Case:
    path, text = _recipe(tmp, lambda t: t + '\n[launch]\nmodules = ["cuda/12.1", "x\\ntouch /tmp/pwned"]\n')
    line = line_of(text, 'modules = ["cuda')
    return Case(path, [f"{path}:{line}: ", "launch.modules", "module names"])


def case_sharded_model_with_several_processes(tmp: Path) -> Case:
    path, text = _recipe(tmp, lambda t: t.replace('source = "tiny:distilbert"',
                                                  'source = "tiny:distilbert"\ndevice_map = "auto"'))
    return Case(path, [f"{path}:{line_of(text, 'device_map = ')}: ", 'model.device_map = "auto"',
                       "launch.processes = 2"], ["--set", "launch.processes=2"])


def case_flash_attention_not_installed(tmp: Path) -> Case:
    path, text = _recipe(tmp, lambda t: t.replace('source = "tiny:distilbert"',
                                                  'source = "tiny:distilbert"\nattn_implementation = "flash_attention_2"'))
    return Case(path, [f"{path}:{line_of(text, 'attn_implementation = ')}: ", "model.attn_implementation",
                       "flash_attn package"])


def case_data_file_is_a_fifo(tmp: Path) -> Case:
    """A named pipe: opening it waits for a writer, for ever."""
    import os

    os.mkfifo(tmp / "pipe.csv")
    path, _ = _recipe(tmp, lambda t: t.replace('train_file = "train.csv"', 'train_file = "pipe.csv"'))
    return Case(path, [f"{tmp / 'pipe.csv'}: ", "data file is a FIFO (named pipe), not a regular file"])


def case_data_file_is_a_device(tmp: Path) -> Case:
    """A device with data.format = "csv" (as /dev/zero, which filled the memory, or /dev/urandom, which never ended)."""
    import os

    (tmp / "device").symlink_to(os.devnull)
    path, _ = _recipe(tmp, lambda t: t.replace('train_file = "train.csv"', 'train_file = "device"\nformat = "csv"'))
    # the recipe's paths are resolved: the message names the device
    return Case(path, [f"{(tmp / 'device').resolve()}: ", "data file is a character device, not a regular file"])


def case_system_prompt_file_is_a_fifo(tmp: Path) -> Case:
    import os

    os.mkfifo(tmp / "prompt.txt")
    path, text = _recipe(tmp, lambda t: t.replace('train_file = "train.csv"',
                                                  'train_file = "train.csv"\nsystem_prompt_file = "prompt.txt"'))
    return Case(path, [f"{path}:{line_of(text, 'system_prompt_file')}: {tmp / 'prompt.txt'}: ",
                       "data.system_prompt_file is a FIFO (named pipe), not a regular file"])


def case_lora_target_not_in_model(tmp: Path) -> Case:
    """The run failed 20 s later with peft's "No modules were targeted for adaptation" (exit 1)."""
    path, text = _recipe(tmp, lambda t: t.replace('target_modules = ["q_lin", "k_lin", "v_lin"]',
                                                  'target_modules = ["query", "key", "value"]'))
    return Case(path, [f"{path}:{line_of(text, 'target_modules = ')}: lora.target_modules: 'query' is no layer of "
                       "tiny:distilbert (DistilBertForSequenceClassification); its layers: word_embeddings, "
                       "position_embeddings, q_lin, k_lin, v_lin, out_lin, lin1, lin2, pre_classifier, classifier"])


def case_lora_module_to_save_not_in_model(tmp: Path) -> Case:
    """peft saved nothing for it: the run trained without the module the user asked for."""
    path, text = _recipe(tmp, lambda t: t.replace('bias = "none"', 'bias = "none"\nmodules_to_save = ["classifer"]'))
    return Case(path, [f"{path}:{line_of(text, 'modules_to_save = ')}: lora.modules_to_save: 'classifer' is no "
                       "module of tiny:distilbert (DistilBertForSequenceClassification); its layers: "])


CASES = {f.__name__[len("case_"):]: f for f in (
    case_lora_target_not_in_model, case_lora_module_to_save_not_in_model,
    case_data_file_is_a_fifo, case_data_file_is_a_device, case_system_prompt_file_is_a_fifo,
    case_sharded_model_with_several_processes, case_flash_attention_not_installed,
    case_hostile_partition, case_hostile_target, case_newline_in_module,
    case_unknown_key, case_unknown_section, case_wrong_type, case_out_of_range, case_missing_data_file,
    case_missing_text_column, case_missing_label_column, case_label_value_two, case_empty_text, case_not_utf8,
    case_multiline_text_then_bad_label, case_set_unknown_key, case_set_bad_value, case_set_out_of_range,
    case_toml_syntax, case_recipe_not_found, case_unknown_tiny_arch,
)}


def one_error_line(res) -> str:
    assert "Traceback" not in res.stdout + res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def assert_nothing_started(tmp: Path) -> None:
    runs = tmp / "runs"
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())
    store = tmp / "runs.duckdb"
    if store.exists():
        import duckdb

        con = duckdb.connect(str(store), read_only=True)
        try:
            assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0
        finally:
            con.close()


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(cli, tmp_path, name, command):
    case = CASES[name](tmp_path)
    res = cli(command, case.recipe, *case.args)
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    line = one_error_line(res)
    for s in case.must:
        assert s in line, f"{s!r} not in {line!r}"
    if command == "validate":
        assert "ok" not in res.stdout
    assert_nothing_started(tmp_path)


def test_gpus_asked_for_on_a_machine_without_them(cli, tmp_path):
    from workbench.telemetry.gpus import open_gpus

    if open_gpus(0, 1)[0]:
        pytest.skip("this machine has GPUs")
    path, _ = _recipe(tmp_path)
    line = one_error_line(cli("run", path, "--gpus", "2"))
    assert "launch.gpus = 2" in line and "0 GPU(s)" in line and "--processes" in line
    assert_nothing_started(tmp_path)


def test_unknown_tiny_arch_names_recipe_file(cli, tmp_path):
    case = case_unknown_tiny_arch(tmp_path)
    line = one_error_line(cli("run", case.recipe))
    assert str(case.recipe) in line


def test_validate_demo_ok(cli):
    res = cli("validate", DEMO_RECIPE)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert res.stdout.startswith("ok ")
    assert str(DEMO_RECIPE) in res.stdout
    assert re.search(r"960 train, 240 validation rows, 4 labels", res.stdout), res.stdout


def test_validate_good_and_bad_reports_only_bad(cli, tmp_path):
    good = tmp_path / "good.toml"
    good.write_text(base_recipe_text(), encoding="utf-8")
    case = case_out_of_range(tmp_path)  # writes bad.toml and train.csv
    res = cli("validate", good, case.recipe)
    assert res.returncode == 2
    line = one_error_line(res)
    assert str(case.recipe) in line and str(good) not in line
    out = res.stdout.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("ok ") and str(good) in out[0]
    assert "8 train, 2 validation rows" in out[0]
    assert_nothing_started(tmp_path)


def test_run_dry_run_starts_nothing(cli, tmp_path):
    good = tmp_path / "good.toml"
    (tmp_path / "train.csv").write_text(good_csv(), encoding="utf-8")
    good.write_text(base_recipe_text(), encoding="utf-8")
    res = cli("run", good, "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "is valid" in res.stdout
    assert "# GPU memory, estimated per GPU: " in res.stdout and "parameters train)" in res.stdout
    assert_nothing_started(tmp_path)


def test_query_bad_sql(cli, tmp_path):
    """A query's error keeps DuckDB's whole message (its hints and caret: tests/integration/test_query_errors.py)."""
    res = cli("query", "select nonsense")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert all(line.startswith("error: ") for line in lines), res.stderr
    assert "query failed" in lines[0] and "nonsense" in lines[0]


def test_show_unknown_run(cli):
    res = cli("show", "nosuchrun")
    assert res.returncode == 2
    line = one_error_line(res)
    assert "'nosuchrun'" in line


def test_argument_error_is_one_line(cli):
    res = cli("run")
    assert res.returncode == 2
    line = one_error_line(res)
    assert "recipe" in line


def test_a_bug_in_a_launch_is_a_bug_not_bad_input(cli, tmp_path):
    """Exit 1 (not 2), one line naming the bug and the log; the traceback in the run's log (and on
    stderr with --debug); the run recorded failed with the bug's one-line summary."""
    res = cli("run", DEMO_RECIPE, "--quiet", env={"WORKBENCH_RAISE_AT": "launch"})
    assert res.returncode == 1, res.stdout + res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("error: a bug in workbench: RuntimeError: deliberate bug at launch") and "train.log" in line
    (run_id, status, error), = q(tmp_path / "runs.duckdb", "SELECT run_id, status, error FROM runs")
    assert status == "failed" and error == "launch failed: RuntimeError: deliberate bug at launch (WORKBENCH_RAISE_AT)"
    log = (tmp_path / "runs" / run_id / "train.log").read_text()
    assert "Traceback (most recent call last)" in log and "faults.py" in log
    res = cli("--debug", "run", DEMO_RECIPE, "--quiet", env={"WORKBENCH_RAISE_AT": "launch"})
    assert res.returncode == 1 and "Traceback (most recent call last)" in res.stderr


def test_a_container_image_that_is_not_there_is_refused_before_anything_starts(cli, tmp_path):
    res = cli("run", DEMO_RECIPE, "--container", "images/wb.sif", "--dry-run")
    line = one_error_line(res)
    assert res.returncode == 2 and f"launch.container: no such image {tmp_path / 'images' / 'wb.sif'}" in line
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "wb.sif").write_bytes(b"SIF")
    res = cli("run", DEMO_RECIPE, "--container", "images/wb.sif", "--container-runtime", "singularity",
              "--container-binds", "/scratch/alice:/scratch", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert f"singularity exec --nv --bind /scratch/alice:/scratch {tmp_path / 'images' / 'wb.sif'}" in res.stdout
    assert_nothing_started(tmp_path)
