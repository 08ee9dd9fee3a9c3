"""The actions behind `workbench export` and `workbench validate` / `schema`, called as the front ends
call them: typed values in, data out (workbench/actions/export/folder.py, workbench/actions/validate.py)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import DEMO_RECIPE
from workbench.actions.export.folder import Exported, _umask
from workbench.actions.validate import knob_reference, validate_recipes


def test_the_umask_is_read_without_being_changed():
    mask = os.umask(0o027)
    try:
        assert _umask() == 0o027
        assert os.umask(0o027) == 0o027  # still in force
    finally:
        os.umask(mask)


def test_an_export_says_what_it_wrote_in_one_line():
    folder = Exported("r1", Path("/x/out"), None, "adapter", "tiny", 3 * 2**20)
    assert folder.summary == ("exported r1 to /x/out (3.0 MiB): the LoRA adapter and its tiny base model, labels.json, "
                              "metrics.json, recipe.toml; README.md says how to load it")
    archive = Exported("r1", Path("/x/out"), Path("/x/out/model.tar.gz"), "merged", "hub", 2**20)
    assert archive.summary.startswith("exported r1 to /x/out/model.tar.gz (1.0 MiB): the adapter merged into its base "
                                      "with code/inference.py")


def test_validate_goes_on_past_a_bad_recipe(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nsource = 3\n")
    results = list(validate_recipes([str(bad), str(DEMO_RECIPE)]))
    assert [r.path for r in results] == [str(bad), str(DEMO_RECIPE)]
    assert results[0].error and results[0].recipe is None
    assert results[1].error is None and results[1].recipe is not None and results[1].splits


def test_the_knob_reference_names_every_knob():
    from workbench.recipe.schema import KNOBS

    text = knob_reference()
    assert all(k.name in text for k in KNOBS)
    assert knob_reference(markdown=True).startswith("| key |")
