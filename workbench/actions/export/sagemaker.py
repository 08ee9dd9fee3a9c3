"""`workbench export RUN --format sagemaker --output DIR`: DIR/model.tar.gz in the layout the
SageMaker Hugging Face inference toolkit loads, and the model card beside it (DIR/README.md).

The archive holds at its root what a folder export with --merged holds (config.json, the weights,
the tokenizer, labels.json, metrics.json, recipe.toml, README.md), plus `code/inference.py`
(model_fn, input_fn, predict_fn, output_fn around the card snippet's own functions:
code.py) and `code/requirements.txt`. A LoRA run is always merged into its base,
by the code path of --merged (a QLoRA run into the full-precision base): a serving container has
no workbench, and a merged model needs transformers alone (no peft) and serves one set of weights.

folder.py writes the folder, this module adds the code and packs it; folder.py's hidden sibling
folder makes the whole export atomic.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from workbench.actions.export.code import inference_module
from workbench.recipe.sections import RecipeView
from workbench.tasks.base import FinishedRunTask
from workbench.tasks.exported import Serving, as_python

STAGE = ".model"  # in the export's hidden folder: the archive's content before it is packed
ARCHIVE = "model.tar.gz"
EXTRACTED = "model"  # the card's name for the folder the archive was extracted into
EXPORT_LINE = (f"EXPORT = {as_python(EXTRACTED)}  # the folder model.tar.gz was extracted into "
               f"(mkdir {EXTRACTED} && tar -xzf {ARCHIVE} -C {EXTRACTED})")

def run_versions(facts: dict[str, Any]) -> dict[str, str]:
    """The package versions the run trained with (the store's JSON; {} when not recorded)."""
    raw = facts.get("versions")
    try:
        got = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return {}
    return got if isinstance(got, dict) else {}


def _installed(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _transformers(facts: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the transformers the run trained with, else this one; this one)."""
    here = _installed("transformers")
    return run_versions(facts).get("transformers") or here, here


def requirements(facts: dict[str, Any]) -> str:
    """code/requirements.txt: transformers as the run trained with. torch is left to the container:
    pinning it would replace the container's CUDA build with a download of gigabytes."""
    ran = run_versions(facts)
    pinned, here = _transformers(facts)
    lines = ["# Installed by the SageMaker container before it imports inference.py (no workbench, no peft:",
             "# the archive holds the adapter merged into its base).",
             f"# torch: the container's own (the run trained with torch {ran.get('torch', 'unknown')})."]
    if here and pinned != here:
        lines.append(f"# The model files were written by transformers {here} (the export); the run trained with "
                     f"{pinned}.")
    lines.append(f"transformers=={pinned}" if pinned else "transformers")
    return "\n".join(lines) + "\n"


def write_code(stage: Path, run_id: str, task: FinishedRunTask, labels: dict[str, Any],
               facts: dict[str, Any]) -> None:
    """stage/code/: inference.py and requirements.txt."""
    code = stage / "code"
    code.mkdir()
    (code / "inference.py").write_text(inference_module(task.inference_code(labels, "model_dir"), task.kind,
                                                        run_id=run_id), encoding="utf-8")
    (code / "requirements.txt").write_text(requirements(facts), encoding="utf-8")


def card_lines(recipe: RecipeView, serving: Serving, facts: dict[str, Any]) -> list[str]:
    """The card's SageMaker section: the archive, why it is merged, how to deploy and call it
    (`serving`: the task's words for a request and an answer)."""
    ran = run_versions(facts)
    pinned = _transformers(facts)[0] or "?"
    merged = recipe.model.method != "full"
    why = ("It holds the LoRA adapter merged into its base (as `workbench export --merged`), not the adapter: a "
           "serving container has no workbench, and a merged model needs transformers alone (no peft, no base "
           "model to fetch at start-up) and serves one set of weights as fast as the base."
           + (" The run trained against a 4-bit base; it is merged into the full-precision one." if
              recipe.quant.use_4bit else "")) if merged else "It holds the fully fine-tuned model as trained."
    return ["## SageMaker", "",
            f"`{ARCHIVE}` is laid out as the SageMaker Hugging Face inference toolkit loads it: the model files at "
            "its root, `code/inference.py` (`model_fn`, `input_fn`, `predict_fn`, `output_fn`, around the "
            f"functions of the snippet above) and `code/requirements.txt` (transformers {pinned}, as the run "
            f"trained with; torch is the container's). {why}", "",
            "Upload it to S3 and deploy it with the SageMaker Python SDK, in a Hugging Face container close to "
            f"the run's versions (torch {ran.get('torch', '?')}, transformers {pinned}):", "",
            "```",
            "from sagemaker.huggingface import HuggingFaceModel",
            "",
            f"model = HuggingFaceModel(model_data=\"s3://BUCKET/PREFIX/{ARCHIVE}\", role=ROLE,",
            "                         transformers_version=\"...\", pytorch_version=\"...\", py_version=\"...\")",
            "predictor = model.deploy(initial_instance_count=1, instance_type=\"ml.g5.xlarge\")",
            "print(predictor.predict({\"inputs\": [\"...\"]}))",
            "```", "",
            f"Request (`application/json`): {serving.request}. Answer: a JSON list with one object "
            f"per input, `{serving.answer}`, as `workbench predict` answers (the run's {serving.as_run}). "
            "The same inputs may come as `{\"text\": ...}`, as a bare JSON list or input, or one input as a "
            "`text/plain` body; any other request is refused with a message naming these forms.", "",
            "The endpoint's environment (`HuggingFaceModel(env={...})`), read once at start-up, overrides the "
            f"run's settings: {serving.environment}. A bad value stops `model_fn` with a message naming the "
            "variable.", ""]


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # The archive is unpacked by another account on another machine: no owner names, readable by all.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def pack(stage: Path, dest: Path) -> None:
    """stage's files into dest/model.tar.gz, named from the archive's root (SageMaker unpacks it
    into /opt/ml/model), the card copied beside it; stage removed."""
    # Weights barely compress at any level: level 1 takes a fraction of level 9's time for nearly the same size.
    with tarfile.open(dest / ARCHIVE, "w:gz", compresslevel=1) as tar:
        for path in sorted(stage.iterdir()):
            tar.add(path, arcname=path.name, filter=_normalised)
    shutil.copyfile(stage / "README.md", dest / "README.md")
    shutil.rmtree(stage)
