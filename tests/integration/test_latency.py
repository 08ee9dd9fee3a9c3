"""Interactive latency, through the real CLI: a recipe that does not quantize never imports
bitsandbytes (nor prints its CPU kernel lookup), a 4-bit one still dry-runs; a dry run of an
unchanged recipe is served from the estimate cache without importing torch; and the dry run's
parameter counts equal those the run records (the lifecycle module's finished demo runs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_RECIPE, ROOT
from tests.integration.runs import q
from tests.integration.test_lifecycle import finished, two_runs  # noqa: F401 - fixtures: two runs trained once

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# The CLI in a subprocess, then which of these modules it imported, on stderr's last line.
PROBE = ("import sys\nfrom workbench.cli import main\nrc = main(sys.argv[1:])\n"
         "print('imported:', *sorted(m for m in ('torch', 'peft', 'bitsandbytes') if m in sys.modules), file=sys.stderr)\n"
         "sys.exit(rc)\n")


def _dry_run(cli_env, cwd, *args):
    p = subprocess.run([sys.executable, "-c", PROBE, "run", *map(str, args), "--dry-run"], capture_output=True,
                       text=True, cwd=cwd, timeout=300, env={**os.environ, **cli_env})
    assert p.returncode == 0, p.stdout + p.stderr
    imported = set(p.stderr.strip().splitlines()[-1].split()[1:])
    return p, imported


def _counts(text: str) -> tuple[int, int]:
    m = re.search(r"\(([\d,]+) of ([\d,]+) parameters train\)", text)
    assert m, text
    return int(m[1].replace(",", "")), int(m[2].replace(",", ""))


@pytest.fixture
def own_cache(cli_env, tmp_path):
    """An empty estimate cache beside the session's tiny models (building one takes seconds)."""
    tiny = Path(os.environ["WORKBENCH_CACHE"]) / "tiny"
    tiny.mkdir(parents=True, exist_ok=True)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "tiny").symlink_to(tiny, target_is_directory=True)
    return {**cli_env, "WORKBENCH_CACHE": str(cache)}


def test_a_recipe_that_does_not_quantize_never_imports_bitsandbytes(own_cache, tmp_path):
    cold, imported = _dry_run(own_cache, tmp_path, DEMO_RECIPE)
    assert {"torch", "peft"} <= imported, imported  # estimated and checked: the meta model was built
    assert "bitsandbytes" not in imported
    assert "gemm_4bit" not in cold.stdout + cold.stderr
    assert _counts(cold.stdout)[0] > 0  # the estimate, not a line saying why there is none
    # again: the estimate and the LoRA check come from the cache, no torch at all
    warm, imported = _dry_run(own_cache, tmp_path, DEMO_RECIPE)
    assert warm.stdout == cold.stdout
    assert not imported & {"torch", "peft", "bitsandbytes"}, imported


def test_a_4bit_recipe_still_dry_runs_with_its_4bit_estimate(own_cache, tmp_path):
    p, _ = _dry_run(own_cache, tmp_path, ROOT / "recipes" / "demo" / "decoder_classification.toml")
    assert "weights 4-bit NF4" in p.stdout, p.stdout
    assert _counts(p.stdout)[0] > 0


def test_the_dry_run_counts_what_the_run_records(cli, finished, two_runs, tmp_path):  # noqa: F811
    dry = cli("run", DEMO_RECIPE, "--dry-run", cwd=tmp_path, timeout=300)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    recorded = q(tmp_path / "runs.duckdb", "SELECT trainable_params, total_params FROM runs WHERE run_id = ?",
                 [two_runs[0]])
    assert [_counts(dry.stdout)] == recorded
