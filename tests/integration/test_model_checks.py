"""A model that cannot load, or LoRA modules it does not have, are refused before launch, through the
real CLI: `validate`, `run` and `run --dry-run` give one line and exit status 2 with nothing started
(they said "ok", and the run failed 20 to 60 s later with peft's or the hub client's own words).

The hub cases use a real Hugging Face cache layout in tmp (HF_HOME) holding a real tiny model, or
parts of it; "no network" is a hub endpoint whose port refuses connections."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from tests.integration.test_bad_input import _recipe, assert_nothing_started, good_csv, line_of, one_error_line

COMMANDS = (("validate",), ("run",), ("run", "--dry-run"))
DISTILBERT_LAYERS = "word_embeddings, position_embeddings, q_lin, k_lin, v_lin, out_lin, lin1, lin2, pre_classifier, classifier"


@pytest.fixture(scope="module")
def tiny_distilbert() -> Path:
    """A real tiny DistilBERT folder (config, tokenizer, weights), as a hub snapshot holds them."""
    from workbench.models.tiny import build_tiny

    return build_tiny("distilbert", good_csv().splitlines()[1:], hidden=32, layers=1, vocab=200)


def hub_cache(home: Path, repo: str, files: dict[str, Path]) -> dict[str, str]:
    """HF_HOME with `files` of hub model `repo` at its main revision, laid out as huggingface_hub
    keeps them (refs/main naming a snapshot folder); the environment that points there."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = home / "hub" / f"models--{repo.replace('/', '--')}"
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    for name, src in files.items():
        shutil.copy(src, snapshot / name)
    return {"HF_HOME": str(home)}


def refusing_endpoint() -> str:
    """A hub URL on this machine whose port refuses connections: a hub that cannot be reached."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _with_source(tmp: Path, source: str, extra: str = "") -> tuple[Path, str]:
    return _recipe(tmp, lambda t: t.replace('source = "tiny:distilbert"', f'source = "{source}"') + extra)


def refused(cli, tmp: Path, recipe: Path, env: dict | None = None, args=()) -> list[str]:
    """The error line of each command (validate, run, run --dry-run), all refused with nothing started."""
    lines = []
    for command in COMMANDS:
        res = cli(*command, recipe, *args, env=env, timeout=120)
        assert res.returncode == 2, (command, res.returncode, res.stdout, res.stderr)
        lines.append(one_error_line(res))
        assert_nothing_started(tmp)
    assert len(set(lines)) == 1, lines
    return lines


# --- item 9: a hub model that cannot load here ----------------------------------------------------

def test_a_hub_model_not_in_the_cache_offline_is_refused_naming_how_to_get_it(cli, tmp_path):
    recipe, text = _with_source(tmp_path, "nobody-here/no-such-model")
    line = refused(cli, tmp_path, recipe, {"HF_HOME": str(tmp_path / "hf")})[0]
    assert line == (f"error: {recipe}:{line_of(text, 'source = ')}: model.source 'nobody-here/no-such-model' is not in "
                    f"this machine's Hugging Face cache ({tmp_path / 'hf' / 'hub'}) and the hub is offline "
                    "(HF_HUB_OFFLINE): download it where there is network with `hf download nobody-here/no-such-model` "
                    "(into this cache: the same HF_HOME), set HF_HOME to a cache that holds it, or give a local folder")


def test_transformers_offline_is_offline_too(cli, tmp_path):
    recipe, _ = _with_source(tmp_path, "nobody-here/no-such-model")
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": "1"}
    assert "and the hub is offline (TRANSFORMERS_OFFLINE)" in refused(cli, tmp_path, recipe, env)[0]


def test_a_cache_holding_only_the_config_is_refused_naming_what_it_lacks(cli, tmp_path, tiny_distilbert):
    env = hub_cache(tmp_path / "hf", "org/half", {"config.json": tiny_distilbert / "config.json"})
    recipe, _ = _with_source(tmp_path, "org/half")
    line = refused(cli, tmp_path, recipe, env)[0]
    assert (f"model.source 'org/half' is only partly in this machine's Hugging Face cache ({tmp_path / 'hf' / 'hub'}; "
            "it lacks a tokenizer (tokenizer.json / tokenizer.model / vocab.txt), the weights (model.safetensors / "
            "pytorch_model.bin)) and the hub is offline (HF_HUB_OFFLINE): download it") in line


def test_a_hub_that_cannot_be_reached_is_offline(cli, tmp_path):
    """No HF_HUB_OFFLINE, no network: the hub client's retries took a minute, then an OSError (exit 1)."""
    recipe, _ = _with_source(tmp_path, "distilbert-base-uncased")
    endpoint = refusing_endpoint()
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "", "HF_ENDPOINT": endpoint}
    line = refused(cli, tmp_path, recipe, env)[0]
    assert (f"model.source 'distilbert-base-uncased' is not in this machine's Hugging Face cache "
            f"({tmp_path / 'hf' / 'hub'}) and the hub ({endpoint}) cannot be reached from here (") in line
    assert "Connection refused" in line and "`hf download distilbert-base-uncased`" in line


def test_an_id_the_hub_does_not_know_is_refused(cli, tmp_path):
    from tests.hub_stand_in import hub_stand_in

    recipe, _ = _with_source(tmp_path, "nobody-here/no-such-model")
    with hub_stand_in(known=set()) as endpoint:
        line = refused(cli, tmp_path, recipe, {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "",
                                               "HF_ENDPOINT": endpoint})[0]
    assert line.endswith(f"model.source 'nobody-here/no-such-model': no folder here, and no model of that id on the hub "
                         f"({endpoint}) (a private or gated one needs `hf auth login`)")


def test_a_whole_model_in_the_cache_is_valid_offline(cli, tmp_path, tiny_distilbert):
    files = {p.name: p for p in tiny_distilbert.iterdir() if p.is_file()}
    assert "model.safetensors" in files and "tokenizer.json" in files
    env = hub_cache(tmp_path / "hf", "org/tiny-distilbert", files)
    recipe, _ = _with_source(tmp_path, "org/tiny-distilbert")
    res = cli("validate", recipe, env=env, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith("ok "), res.stdout + res.stderr


# --- item 8: LoRA modules the model does not have -------------------------------------------------

@pytest.mark.parametrize("kind", ["local folder", "hub id in the cache"])
def test_lora_targets_the_model_lacks_are_refused_listing_its_layers(cli, tmp_path, tiny_distilbert, kind):
    """Resolved on the model built from its config (no weights read): a local folder's, a cached hub
    model's (tiny:<arch> in test_bad_input.py). Was: "ok", then peft's error 20 s into the run, exit 1."""
    env = None
    source = str(tiny_distilbert)
    if kind == "hub id in the cache":
        env = hub_cache(tmp_path / "hf", "org/tiny-distilbert",
                        {p.name: p for p in tiny_distilbert.iterdir() if p.is_file()})
        source = "org/tiny-distilbert"
    recipe, text = _with_source(tmp_path, source)
    recipe.write_text(text.replace('target_modules = ["q_lin", "k_lin", "v_lin"]', 'target_modules = ["query", "value"]'))
    line = refused(cli, tmp_path, recipe, env)[0]
    assert line == (f"error: {recipe}:{line_of(text, 'target_modules = ')}: lora.target_modules: 'query' is no layer of "
                    f"{source} (DistilBertForSequenceClassification); its layers: {DISTILBERT_LAYERS}")
