"""Checkpoints that come quantized, through the real CLI (workbench/models/checkpoint.py).

`workbench validate` reads a local model folder's config.json before any weights load: each kind
workbench cannot train as the recipe asks is one `error:` line naming the recipe's model.source
line, the format and what to do, exit status 2. A tiny gpt-oss with its experts in MXFP4 (as
openai/gpt-oss-* ship, tests/mxfp4.py) then trains for real: dequantized at load, LoRA, recorded
as `mxfp4→fp32` (a CPU's precision) in the run log and in `runs.quantized`.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.runs import q
from tests.integration.test_bad_input import assert_nothing_started, line_of, one_error_line
from tests.integration.test_bad_input_tasks import copy_demo
from tests.mxfp4 import GPT_OSS_QUANTIZATION, write_mxfp4_checkpoint

BNB_NF4 = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
GPTQ = {"quant_method": "gptq", "bits": 4, "group_size": 128}
AWQ = {"quant_method": "awq", "bits": 4, "version": "gemm"}


def recipe_on(tmp: Path, quantization: dict, use_4bit: bool) -> tuple[Path, str]:
    """The hate-speech demo on a local model folder whose config.json says it comes quantized so."""
    folder = tmp / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt_oss", "architectures": ["GptOssForCausalLM"],
                                                    "quantization_config": quantization}), encoding="utf-8")

    def edit(text: str) -> str:
        text = text.replace('source = "tiny:gpt_oss"', f'source = "{folder}"')
        return text if use_4bit else text.replace("use_4bit = true", "use_4bit = false")

    return copy_demo(tmp, "hate_speech", edit)


GPTQ_MISSING = [p for p in ("gptqmodel", "optimum") if find_spec(p) is None]
AWQ_MISSING = [p for p in ("gptqmodel",) if find_spec(p) is None]

REFUSED = {
    "mxfp4 with use_4bit": (GPT_OSS_QUANTIZATION, True, ["MXFP4", "cannot re-quantize to 4-bit NF4 through "
                                                         "bitsandbytes", "set quant.use_4bit = false"]),
    "bitsandbytes 4-bit without use_4bit": (BNB_NF4, False, ["4-bit by bitsandbytes (nf4)", "set quant.use_4bit = true"]),
    "bitsandbytes 8-bit": ({"quant_method": "bitsandbytes", "load_in_8bit": True}, True,
                           ["8-bit bitsandbytes", "does not train on", "unquantized checkpoint"]),
    "gptq with use_4bit": (GPTQ, True, ["GPTQ", "set quant.use_4bit = false"]),
    "compressed-tensors": ({"quant_method": "compressed-tensors"}, False,
                           ['quant_method "compressed-tensors"', "does not train on", "unquantized checkpoint"]),
    "fp8": ({"quant_method": "fp8"}, True, ['quant_method "fp8"', "does not train on"]),
}
if GPTQ_MISSING:
    REFUSED["gptq without its packages"] = (GPTQ, False, ["GPTQ", f"needs {' and '.join(GPTQ_MISSING)}",
                                                          f"pip install {' '.join(GPTQ_MISSING)}"])
if AWQ_MISSING:
    REFUSED["awq without its packages"] = (AWQ, False, ["AWQ", "needs gptqmodel", "pip install gptqmodel"])


@pytest.mark.parametrize("case", list(REFUSED))
def test_validate_refuses_in_one_line_what_cannot_train(cli, tmp_path, case):
    quantization, use_4bit, must = REFUSED[case]
    path, text = recipe_on(tmp_path, quantization, use_4bit)
    res = cli("validate", path)
    assert res.returncode == 2, (res.stdout, res.stderr)
    line = one_error_line(res)
    for s in [f"{path}:{line_of(text, 'source = ')}: ", f"model.source '{tmp_path / 'model'}' comes ", *must]:
        assert s in line, f"{s!r} not in {line!r}"
    assert_nothing_started(tmp_path)


@pytest.mark.parametrize("quantization,use_4bit", [(GPT_OSS_QUANTIZATION, False), (BNB_NF4, True)],
                         ids=["mxfp4 dequantized", "bitsandbytes 4-bit"])
def test_validate_accepts_what_trains(cli, tmp_path, quantization, use_4bit):
    path, _ = recipe_on(tmp_path, quantization, use_4bit)
    res = cli("validate", path)
    assert res.returncode == 0 and res.stdout.startswith("ok "), res.stderr


@pytest.mark.slow
def test_an_mxfp4_checkpoint_trains_lora_dequantized(cli, tmp_path):
    from workbench.models.tiny import build_tiny

    texts = [json.loads(line)["messages"][1]["content"]
             for line in (ROOT / "recipes" / "demo" / "data" / "hate" / "train.jsonl").read_text().splitlines()]
    folder = write_mxfp4_checkpoint(build_tiny("gpt_oss", texts, hidden=64, layers=2, vocab=600),
                                    tmp_path / "gpt-oss-mxfp4")
    path, _ = copy_demo(tmp_path, "hate_speech", lambda t: t.replace('source = "tiny:gpt_oss"', f'source = "{folder}"')
                        .replace("use_4bit = true", "use_4bit = false"))
    res = cli("run", path, "--quiet", "--set", "train.max_steps=3", "--set", "eval.max_examples=8",
              "--set", "train.logging_steps=1", timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    store = tmp_path / "runs.duckdb"
    ((run_id, status, quantized),) = q(store, "SELECT run_id, status, quantized FROM runs")
    assert status == "completed" and quantized == "mxfp4→fp32"
    logs = "\n".join(m for (m,) in q(store, "SELECT message FROM logs WHERE run_id = ?", [run_id]))
    assert "weights: the checkpoint's MXFP4 weights dequantized to fp32 at load" in logs
    assert q(store, "SELECT count(*) FROM steps WHERE run_id = ? AND loss IS NOT NULL", [run_id])[0][0] >= 1
