"""The launch dialog: targets from the ssh config, the [launch] fields that matter for the
chosen target, a live preview of the exact batch script, inline validation that blocks Submit,
and Submit itself: a launch failure is shown in the dialog and recorded in the store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.tui.conftest import settled, until
from workbench.tui.screens.launch import LaunchScreen, readable

SHIPPED_DEMO = ROOT / "recipes" / "demo" / "encoder_multilabel.toml"


@pytest.fixture
def ssh_config(tmp_path, monkeypatch) -> Path:
    config = tmp_path / "ssh_config"
    config.write_text("Host login1\n    HostName login1.cluster.example\nHost gpubox\n    User me\nHost *\n"
                      "    ServerAliveInterval 30\n", encoding="utf-8")
    monkeypatch.setenv("WORKBENCH_SSH_CONFIG", str(config))
    return config


def runs_in(store: Path) -> list[tuple[str, str, str | None]]:
    from workbench.store.db import connect

    with connect(store, read_only=True) as con:
        return con.execute("SELECT run_id, status, error FROM runs").fetchall()


def steady_cursor(pilot) -> None:
    """Snapshots: the text cursor drawn steadily, not blinking (a blink makes two pictures)."""
    for widget in pilot.app.screen.query("Input"):
        widget.cursor_blink = False


async def open_dialog(pilot, path: Path, overrides=()) -> LaunchScreen:
    await settled(pilot)
    await pilot.app.push_screen(LaunchScreen(path, list(overrides)))
    await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen) and pilot.app.screen.loaded,
                "the dialog to load the recipe")
    await settled(pilot)
    return pilot.app.screen


async def preview_settled(pilot) -> None:
    """Until the preview shows the fields as they are: the edits handled, the debounce fired (no
    timer pending), the preview worker done and its text on screen."""
    dialog = pilot.app.screen
    await settled(pilot)
    await until(pilot, lambda: dialog._timer is None, "the preview's debounce")
    await settled(pilot)


async def type_into(pilot, knob: str, text: str) -> None:
    field = pilot.app.screen.query_one(f"#field-launch-{knob}")
    field.focus_input()
    await until(pilot, lambda: pilot.app.focused is field.query_one("#value"), f"the focus on {knob}")
    await pilot.press("ctrl+u", *text)


def preview(dialog) -> str:
    return str(dialog.query_one("#launch-preview").render())


def visible(dialog) -> list[str]:
    return [f.knob.key for f in dialog.visible_fields()]


async def slurm_login1_on_gpu(pilot) -> None:
    dialog = await open_dialog(pilot, SHIPPED_DEMO)
    dialog.query_one("#target").value = "slurm:login1"
    await settled(pilot)
    await type_into(pilot, "partition", "gpu")
    await type_into(pilot, "time", "04:00:00")
    await type_into(pilot, "gpus", "2")
    steady_cursor(pilot)
    await preview_settled(pilot)


class TestLaunchScreen:
    def test_snapshot_80x24(self, snap_compare, make_app, ssh_config):
        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=slurm_login1_on_gpu)

    def test_snapshot_120x40(self, snap_compare, make_app, ssh_config):
        async def invalid_partition(pilot):
            await slurm_login1_on_gpu(pilot)
            await type_into(pilot, "partition", "gpu;rm")
            steady_cursor(pilot)
            await preview_settled(pilot)

        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=invalid_partition)


def test_targets_come_from_the_ssh_config_and_fields_follow_the_target(make_app, ssh_config):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            dialog = await open_dialog(pilot, SHIPPED_DEMO)
            target = dialog.query_one("#target")
            assert [str(o[0]) for o in target._options if o[1] is not target.NULL] == [
                "local", "ssh:login1", "ssh:gpubox", "slurm", "pbs", "slurm:login1", "slurm:gpubox",
                "pbs:login1", "pbs:gpubox"]
            assert target.value == "local"
            assert visible(dialog) == ["gpus", "processes", "container", "container_runtime", "container_binds",
                                       "telemetry_interval"]
            target.value = "pbs:gpubox"
            await settled(pilot)
            assert {"project", "queue", "walltime", "cpus", "mem", "workdir", "python", "venv", "conda_env",
                    "modules"} <= set(visible(dialog))
            assert not {"partition", "account", "qos", "time", "nodes"} & set(visible(dialog))

    asyncio.run(go())


def test_choosing_slurm_and_typing_a_partition_shows_it_in_the_batch_script(make_app, ssh_config):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            dialog = await open_dialog(pilot, SHIPPED_DEMO)
            assert "workbench.launch.supervisor" in preview(dialog)  # local: the detached command
            # Choose slurm with the keyboard: the target list is focused; local, ssh:login1, ssh:gpubox, slurm.
            assert pilot.app.focused is dialog.query_one("#target")
            await pilot.press("enter", "down", "down", "down", "enter")
            await settled(pilot)
            assert dialog.target == "slurm"
            assert "partition" in visible(dialog)
            await type_into(pilot, "partition", "gpu")
            await preview_settled(pilot)
            text = preview(dialog)
            assert "#SBATCH --partition=gpu" in text
            assert "sbatch" in text and not dialog.query_one("#launch-preview").has_class("error-text")

    asyncio.run(go())


def test_an_invalid_partition_is_shown_and_submit_is_refused(make_app, ssh_config, empty_store):
    async def go():
        async with make_app(store=empty_store).run_test(size=(80, 24)) as pilot:
            dialog = await open_dialog(pilot, SHIPPED_DEMO)
            dialog.query_one("#target").value = "slurm"
            await settled(pilot)
            await type_into(pilot, "partition", "gpu;rm")
            await preview_settled(pilot)
            field = dialog.query_one("#field-launch-partition")
            assert field.error and "launch.partition = 'gpu;rm' is not empty or a name" in field.error
            assert field.query_one(".knob-error").display
            assert "launch.partition" in preview(dialog) and dialog.query_one("#launch-preview").has_class("error-text")
            assert "#SBATCH" not in preview(dialog)
            await pilot.press("ctrl+s")
            await settled(pilot)
            assert pilot.app.screen is dialog and not dialog.launching
            status = str(dialog.query_one("#launch-status").render())
            assert status.startswith("Submit refused: launch.partition = 'gpu;rm' is not empty or a name")
            assert not pilot.app.notes  # said in the dialog (and under the field), not in a toast over it

    asyncio.run(go())
    assert runs_in(empty_store) == []


def test_a_failed_submission_is_shown_in_the_dialog_and_recorded(make_app, demo, empty_store, monkeypatch, slurm):
    """The real test SLURM cluster refuses a partition it does not have: the run is recorded
    failed with the scheduler's reason, the dialog stays open and says why."""
    for key, value in slurm.env.items():
        monkeypatch.setenv(key, value)  # this machine is the cluster's login node

    async def go():
        async with make_app(store=empty_store).run_test(size=(80, 24)) as pilot:
            dialog = await open_dialog(pilot, demo, ["lora.r=8"])
            dialog.query_one("#target").value = "slurm"
            await settled(pilot)
            await type_into(pilot, "partition", "nosuch")
            await preview_settled(pilot)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: not dialog.launching, "the scheduler's answer", timeout=300)
            await settled(pilot)
            assert pilot.app.screen is dialog and not dialog.launching
            status = str(dialog.query_one("#launch-status").render())
            assert status.startswith("Launch failed:") and "invalid partition" in status.lower()

    asyncio.run(go())
    [(run_id, status, error)] = runs_in(empty_store)
    assert status == "failed" and "invalid partition" in error.lower()
    frozen = (empty_store.parent / "runs" / run_id / "recipe.toml").read_text(encoding="utf-8")
    assert "r = 8" in frozen and 'partition = "nosuch"' in frozen  # the editor's and the dialog's values


def test_a_required_knob_left_empty_is_refused_in_one_readable_sentence(make_app, demo, empty_store):
    async def go():
        async with make_app(store=empty_store).run_test(size=(80, 24)) as pilot:
            await settled(pilot)
            await pilot.app.push_screen(LaunchScreen(demo, ['model.source=""']))
            dialog = await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen) and pilot.app.screen,
                                 "the dialog")
            await until(pilot, lambda: dialog.refused is not None, "the recipe to be refused")
            await settled(pilot)
            status = str(dialog.query_one("#launch-status").render())
            assert status == ("The recipe does not validate: encoder_multilabel.toml: "
                              "model.source is required (it cannot be empty)")
            await pilot.press("ctrl+s")
            await settled(pilot)
            assert pilot.app.screen is dialog and not dialog.launching
            assert not pilot.app.notes  # the dialog says why already: no toast over it

    asyncio.run(go())
    assert runs_in(empty_store) == []


def test_the_required_message_of_load_recipe_reads_as_one_sentence():
    # load_recipe's words for an empty required knob: its help cut at the first `.` (here mid-example).
    garbled = ('/x/r.toml: data.train_file is required (training data: a csv ... {"messages": [: '
               'a file path (string))')
    assert readable(garbled) == ("/x/r.toml: data.train_file is required (training data: a file, "
                                 "or a Hugging Face dataset in data.dataset)")
    assert readable("r.toml: model.source is required (hub id, local hugging face directory, or tiny:<arch> "
                    "(bert, distilbert, llama, gpt_oss) for a small random model: a string)") == \
        "r.toml: model.source is required (it cannot be empty)"
    other = "r.toml:3: unknown key train.lr (did you mean train.learning_rate?)"
    assert readable(other) == other


def test_a_failed_launch_is_said_in_the_dialog_only(make_app, demo, empty_store):
    """The dialog's status line says why; no toast repeats it on top of the dialog."""
    missing = demo.parent / "data" / "missing.csv"

    async def go():
        async with make_app(store=empty_store).run_test(size=(80, 24)) as pilot:
            dialog = await open_dialog(pilot, demo, [f'data.train_file="{missing}"'])
            await pilot.press("ctrl+s")
            await until(pilot, lambda: not dialog.launching, "the launch to fail")
            await settled(pilot)
            assert pilot.app.screen is dialog
            status = str(dialog.query_one("#launch-status").render())
            assert status.startswith("Launch failed: ") and "missing.csv" in status and "\n" not in status
            assert not pilot.app.notes

    asyncio.run(go())
    assert runs_in(empty_store) == []


def test_lora_modules_the_model_lacks_are_refused_by_the_dialog(make_app, demo, empty_store):
    """The dialog's launch goes through the commands' preflight: the LoRA module check included
    (was: the run started and failed in training with peft's error)."""

    async def go():
        async with make_app(store=empty_store).run_test(size=(120, 40)) as pilot:
            dialog = await open_dialog(pilot, demo, ['lora.target_modules=["query"]'])
            await pilot.press("ctrl+s")
            await until(pilot, lambda: not dialog.launching and "Launch failed" in str(
                dialog.query_one("#launch-status").render()), "the refusal")
            status = " ".join(str(dialog.query_one("#launch-status").render()).split())
            assert "lora.target_modules: 'query' is no layer of tiny:distilbert" in status, status

    asyncio.run(go())
    assert runs_in(empty_store) == []


def test_a_recipe_of_several_runs_is_previewed_as_its_runs(make_app, demo, empty_store):
    """A sweep (here two seeds): the preview says how many runs, lists each with what differs and its memory
    estimate, before Submit (was: one script, and Submit refused after the fact). Launching them:
    test_launch_group.py."""

    async def go():
        async with make_app(store=empty_store).run_test(size=(120, 40)) as pilot:
            dialog = await open_dialog(pilot, demo, ["seeds=[1, 2]"])
            await preview_settled(pilot)
            text = preview(dialog)
            assert "# 2 runs, one group: seeds 1, 2" in text, text
            assert "#   run 1: train.seed=1" in text and "#   run 2: train.seed=2" in text, text
            assert text.count("#     GPU memory") == 2, text
            assert "the script below is the first run's" in text
            assert not dialog.query_one("#launch-preview").has_class("error-text")

    asyncio.run(go())
    assert runs_in(empty_store) == []
