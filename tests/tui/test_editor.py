"""The recipe editor: a schema-generated form; changes marked and summed up; Save writes only
the changed knobs and keeps the file's comments; invalid values are shown inline and neither
saved nor launched; leaving with unsaved changes asks first."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from textual.widgets import Select, Static

from tests.conftest import ROOT
from tests.tui.conftest import settled, until, workers_done
from workbench.recipe import load_recipe, schema
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.editor import EditorScreen
from workbench.tui.screens.launch import LaunchScreen
from workbench.tui.screens.prompt import PromptScreen
from workbench.tui.screens.recipes import RecipesScreen

SHIPPED_DEMO = ROOT / "recipes" / "demo" / "encoder_multilabel.toml"


def run_count(store: Path) -> int:
    from workbench.store.db import connect

    with connect(store, read_only=True) as con:
        return con.execute("SELECT count(*) FROM runs").fetchone()[0]


def steady_cursor(pilot) -> None:
    """Snapshots: the text cursor drawn steadily, not blinking (a blink makes two pictures)."""
    for widget in pilot.app.screen.query("Input"):
        widget.cursor_blink = False


async def settle(pilot) -> None:
    await settled(pilot)


async def open_editor(pilot, path: Path) -> EditorScreen:
    await settle(pilot)
    await pilot.app.push_screen(EditorScreen(path))
    await until(pilot, lambda: isinstance(pilot.app.screen, EditorScreen) and pilot.app.screen.loaded, "the editor")
    await settle(pilot)
    return pilot.app.screen


async def focus(pilot, field) -> None:
    """Focus a field's input and wait until it has the focus (focus moves after a refresh)."""
    field.focus_input()
    await until(pilot, lambda: pilot.app.focused is field.query_one("#value"), f"the focus on {field.knob.name}")


async def set_field(pilot, name: str, text: str, typed: bool = False) -> None:
    """Go to the field's section, focus it, replace its text (typing it key by key when `typed`)."""
    editor = pilot.app.screen
    field = editor.query_one(f"#field-{name.replace('.', '-')}")
    editor.query_one("#sections").active = f"sec-{field.knob.section or 'general'}"
    await settle(pilot)
    await focus(pilot, field)
    if typed:
        await pilot.press("ctrl+u", *text)
    else:
        field.query_one("#value").value = text  # posts Input.Changed, as typing does
    await settle(pilot)


def shown(editor, selector: str) -> str:
    return str(editor.query_one(selector).render())


async def open_data_tab(pilot, editor: EditorScreen) -> str:
    """Open the Data tab and wait for its profile or its error line; the tab's text."""
    editor.query_one("#sections").active = "data-tab"
    await until(pilot, lambda: editor._data_key is not None or "invalid" in shown(editor, "#data-status"),
                "the profile to start")
    await workers_done(pilot)
    await until(pilot, lambda: "profiling" not in shown(editor, "#data-status"), "the profile to be shown")
    await settle(pilot)
    return shown(editor, "#data-status") + "\n" + data_text(editor)


def data_text(editor: EditorScreen) -> str:
    """What the Data tab shows, as plain text at the tab's width."""
    from rich.console import Console

    console = Console(width=editor.query_one("#data-profile").size.width or 100, record=True, file=open(os.devnull, "w"))
    console.print(editor.query_one("#data-profile", Static).content)
    return console.export_text()


class TestEditorScreen:
    def test_snapshot_80x24(self, snap_compare, make_app):
        async def change_r(pilot):
            await open_editor(pilot, SHIPPED_DEMO)
            await set_field(pilot, "lora.r", "8")
            steady_cursor(pilot)
            await settle(pilot)

        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=change_r)

    def test_snapshot_120x40(self, snap_compare, make_app):
        async def invalid_rate(pilot):
            await open_editor(pilot, SHIPPED_DEMO)
            await set_field(pilot, "train.batch_size", "32")
            await set_field(pilot, "train.learning_rate", "-1")
            steady_cursor(pilot)
            await settle(pilot)

        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=invalid_rate)

    def test_snapshot_data_tab_120x40(self, snap_compare, make_app):
        async def data_tab(pilot):
            editor = await open_editor(pilot, SHIPPED_DEMO)
            await open_data_tab(pilot, editor)
            await settle(pilot)

        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=data_tab)


def test_the_form_has_one_field_per_knob_grouped_by_section(make_app):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            editor = await open_editor(pilot, SHIPPED_DEMO)
            for section in ("", *schema.SECTIONS):
                pane = editor.query_one(f"#sec-{section or 'general'}")
                assert [f.knob.name for f in pane.query("KnobField")] == \
                       [k.name for k in schema.KNOBS if k.section == section]
            # Widgets by kind, values from the file (not resolved), defaults where the file is silent.
            assert isinstance(editor.query_one("#field-model-method #value"), Select)  # FieldSelect: arrows move on
            assert type(editor.query_one("#field-eval-base #value")).__name__ == "Switch"
            assert editor.query_one("#field-data-train_file").text == "data/reviews.csv"
            assert editor.query_one("#field-lora-target_modules").text == "q_lin, k_lin, v_lin"
            assert editor.query_one("#field-data-labels").text.startswith("advertisement=advertisement, ")
            assert editor.query_one("#field-train-warmup_steps").text == "0.0"
            assert not any(f.changed or f.error for f in editor.fields)

    asyncio.run(go())


def test_change_r_is_marked_summed_up_and_saved_with_the_comments_kept(make_app, demo):
    before = demo.read_text(encoding="utf-8")

    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("enter")  # the only recipe: the demo copy
            await settle(pilot)
            editor = pilot.app.screen
            assert isinstance(editor, EditorScreen) and editor.path == demo
            await set_field(pilot, "lora.r", "8", typed=True)
            field = editor.query_one("#field-lora-r")
            assert field.changed and field.has_class("-changed")
            assert shown(field, ".knob-label").startswith("●")
            assert shown(editor, "#changes") == "lora.r: 16 → 8"
            assert "1 unsaved change" in shown(editor, "#editor-title")
            assert editor.query_one("#sections").get_tab("sec-lora").label.plain == "lora ●"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert shown(editor, "#changes") == "No changes"
            assert not field.changed
            # Back to the same value: not a change.
            await set_field(pilot, "lora.r", "8")
            assert not field.changed

    asyncio.run(go())
    after = demo.read_text(encoding="utf-8")
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert changed == [("r = 16", "r = 8")]
    assert len(before.splitlines()) == len(after.splitlines())  # every comment and blank line kept
    assert load_recipe(demo)["lora.r"] == 8


def test_malformed_values_show_inline_and_are_neither_saved_nor_launched(make_app, demo, empty_store):
    before = demo.read_bytes()

    async def go():
        async with make_app(store=empty_store).run_test(size=(80, 24)) as pilot:
            editor = await open_editor(pilot, demo)
            await set_field(pilot, "lora.r", "abc", typed=True)
            r = editor.query_one("#field-lora-r")
            assert r.error == "lora.r = 'abc' is not int in [1, 4096]"
            assert r.query_one(".knob-error").display and "is not int" in shown(r, ".knob-error")
            await set_field(pilot, "train.learning_rate", "-1", typed=True)
            lr = editor.query_one("#field-train-learning_rate")
            assert "out of range" in lr.error and "float in [0, 10]" in lr.error
            assert "2 invalid" in shown(editor, "#editor-title")

            await pilot.press("ctrl+s")
            await settle(pilot)
            notes = [n for n in pilot.app.notes]
            assert any("lora.r" in (n.title + n.message) and "int in [1, 4096]" in n.message for n in notes)
            assert editor.query_one("#sections").active == "sec-lora"  # taken to the first invalid field
            assert r.query_one(".knob-error").display  # still shown

            await pilot.press("ctrl+l")
            await settle(pilot)
            assert pilot.app.screen is editor  # no launch dialog
            assert not any(isinstance(s, LaunchScreen) for s in pilot.app.screen_stack)

            await pilot.press("ctrl+o")  # save as: refused too, before asking for a name
            await settle(pilot)
            assert pilot.app.screen is editor

    asyncio.run(go())
    assert demo.read_bytes() == before
    assert sorted(p.name for p in demo.parent.glob("*.toml")) == ["encoder_multilabel.toml"]
    assert run_count(empty_store) == 0
    assert not (empty_store.parent / "runs").exists()


def test_launch_opens_the_dialog_with_changes_as_overrides_and_absolute_paths(make_app, demo):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            await open_editor(pilot, demo)
            await set_field(pilot, "lora.r", "8")
            await set_field(pilot, "data.train_file", "./data/reviews.csv")
            await set_field(pilot, "lora.target_modules", "q_lin, v_lin")
            await pilot.press("ctrl+l")
            await settle(pilot)
            dialog = pilot.app.screen
            assert isinstance(dialog, LaunchScreen)
            return dialog.base_overrides

    overrides = asyncio.run(go())
    csv = (demo.parent / "data" / "reviews.csv").resolve()
    assert sorted(overrides) == sorted([f'data.train_file="{csv}"', "lora.r=8",
                                        'lora.target_modules=["q_lin", "v_lin"]'])
    # What the dialog launches loads as edited, whatever the working directory is.
    recipe = load_recipe(demo, overrides)
    assert recipe["lora.r"] == 8 and recipe["data.train_file"] == str(csv)
    assert recipe["lora.target_modules"] == ["q_lin", "v_lin"]


def test_save_as_writes_a_copy_with_the_changes_and_paths_still_pointing_at_the_data(make_app, demo):
    before = demo.read_text(encoding="utf-8")

    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            editor = await open_editor(pilot, demo)
            await set_field(pilot, "lora.r", "4")
            await pilot.press("ctrl+o")
            await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), "the save-as prompt")
            pilot.app.screen.query_one("#answer").value = "variants/r4.toml"
            await pilot.press("enter")
            await until(pilot, lambda: editor.path == demo.parent / "variants" / "r4.toml", "the copy to be written")
            await settle(pilot)
            assert shown(editor, "#changes") == "No changes"
            assert editor.query_one("#field-name").text == "r4"

    asyncio.run(go())
    assert demo.read_text(encoding="utf-8") == before
    copy = load_recipe(demo.parent / "variants" / "r4.toml")
    assert copy["lora.r"] == 4
    # Named after its file, so its runs are told apart from the original's (run ids start with the name).
    assert copy.name == "r4" and load_recipe(demo).name == "demo_encoder_multilabel"
    assert 'name = "r4"' in (demo.parent / "variants" / "r4.toml").read_text(encoding="utf-8")
    assert copy["data.train_file"] == str((demo.parent / "data" / "reviews.csv").resolve())
    assert "# Reviews are short" in (demo.parent / "variants" / "r4.toml").read_text(encoding="utf-8")


def test_leaving_with_unsaved_changes_asks_first(make_app, demo):
    before = demo.read_bytes()

    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            editor = await open_editor(pilot, demo)
            await set_field(pilot, "eval.threshold", "0.7")
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the question")
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(pilot.app.screen, ConfirmScreen), "the question to close")
            assert pilot.app.screen is editor and editor.query_one("#field-eval-threshold").text == "0.7"
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the question")
            await pilot.press("y")
            await until(pilot, lambda: isinstance(pilot.app.screen, RecipesScreen), "the recipes again")
            await settle(pilot)

    asyncio.run(go())
    assert demo.read_bytes() == before


def test_the_data_tab_profiles_the_recipe_as_edited_and_shows_errors_in_one_line(make_app, demo):
    async def go():
        async with make_app().run_test(size=(120, 40)) as pilot:
            editor = await open_editor(pilot, demo)
            text = await open_data_tab(pilot, editor)
            assert text.startswith("as saved\n")
            assert "demo_encoder_multilabel (classification): lengths in tokens of tiny:distilbert's tokenizer" in text
            assert "train: 960 rows" in text and "validation: 240 rows" in text
            assert "model.max_length 128 truncates 0 rows (0.0%)" in text
            assert "duplicates: 13 rows (12 distinct texts)" in text
            assert "leakage train → validation: 4 rows (4 distinct texts)" in text
            train = editor.data_profile.splits[0]
            assert [(c.label, c.count) for c in train.labels] == [
                ("advertisement", 137), ("irrelevant_content", 157), ("non_visitor_rant", 141), ("toxicity", 162)]

            # An unsaved change: the tab profiles the recipe as edited when opened again.
            await set_field(pilot, "model.max_length", "30")
            await set_field(pilot, "data.validation_fraction", "0.5")
            text = await open_data_tab(pilot, editor)
            assert text.startswith("as edited (2 unsaved changes)")
            assert "train: 600 rows" in text and "validation: 600 rows" in text
            assert editor.data_profile.splits[0].lengths.max_length == 30
            assert "model.max_length 30 truncates" in text

            # A data file that is not there: one line in the tab, the editor goes on.
            await set_field(pilot, "data.train_file", "data/missing.csv")
            text = await open_data_tab(pilot, editor)
            status = shown(editor, "#data-status")
            assert status.startswith("error: ") and "missing.csv" in status and "\n" not in status.strip()
            assert editor.data_profile is None and data_text(editor).strip() == ""
            # An invalid field: named, nothing computed.
            await set_field(pilot, "lora.r", "abc")
            await open_data_tab(pilot, editor)
            assert shown(editor, "#data-status") == "lora.r is invalid: lora.r = 'abc' is not int in [1, 4096]"
            assert pilot.app.screen is editor
            assert not [n for n in pilot.app.notes if "failed" in n.title]
            # The tab is one more stop of next / previous section.
            await pilot.press("ctrl+n")
            await until(pilot, lambda: editor.query_one("#sections").active == "sec-general", "the general section")
            await pilot.press("ctrl+b")
            await until(pilot, lambda: editor.query_one("#sections").active == "data-tab", "the data tab")
            await settle(pilot)

    asyncio.run(go())


def test_an_unknown_key_is_shown_on_open_and_fixed_in_the_form(make_app, demo):
    """`[train] lr = 5e-4`: load_recipe's one-line error (file, line, `did you mean`) above the form,
    the value in train.learning_rate's field (not the default), and Save renames the key in its line."""
    from workbench.errors import UserError

    text = demo.read_text(encoding="utf-8").replace("learning_rate = 3e-3", "lr = 5e-4")
    demo.write_text(text, encoding="utf-8")
    try:
        load_recipe(demo)
        raise AssertionError("the recipe should not validate")
    except UserError as e:
        expected = str(e).replace(str(demo), "demo/encoder_multilabel.toml")
    assert "did you mean train.learning_rate?" in expected and ":42: unknown key train.lr" in expected

    async def go():
        async with make_app().run_test(size=(100, 30)) as pilot:
            editor = await open_editor(pilot, demo)
            problem = editor.query_one("#file-problem")
            assert problem.display and shown(editor, "#file-problem").splitlines()[0] == expected
            assert "train.lr is not a knob: its value 0.0005 is in train.learning_rate's field" in \
                   shown(editor, "#file-problem")
            lr = editor.query_one("#field-train-learning_rate")
            assert lr.text == "0.0005" and lr.changed and not lr.error  # the file's value, not the default
            assert shown(editor, "#changes").splitlines()[0] == "train.lr → train.learning_rate (unknown key renamed on save)"
            assert "2 unsaved changes" in shown(editor, "#editor-title")

            await pilot.press("ctrl+l")  # overrides cannot rename a key: save first
            await settle(pilot)
            assert pilot.app.screen is editor
            assert any("save first" in n.title and "train.lr → train.learning_rate" in n.message for n in pilot.app.notes)

            await pilot.press("ctrl+s")
            await until(pilot, lambda: editor.problem is None, "the file to validate")
            await settle(pilot)
            assert not problem.display and shown(editor, "#changes") == "No changes"
            assert lr.text == "0.0005" and not lr.changed

    asyncio.run(go())
    after = demo.read_text(encoding="utf-8")
    assert [(a, b) for a, b in zip(text.splitlines(), after.splitlines()) if a != b] == [("lr = 5e-4", "learning_rate = 5e-4")]
    assert len(after.splitlines()) == len(text.splitlines())
    assert load_recipe(demo)["train.learning_rate"] == 5e-4


def test_an_unknown_key_the_form_cannot_fix_is_named_with_its_line(make_app, demo):
    """`epoch = 3` where the file sets train.epochs already: the error names the line and the knob meant."""
    text = demo.read_text(encoding="utf-8").replace("epochs = 20", "epochs = 20\nepoch = 3")
    demo.write_text(text, encoding="utf-8")

    async def go():
        async with make_app().run_test(size=(100, 30)) as pilot:
            editor = await open_editor(pilot, demo)
            lines = shown(editor, "#file-problem").splitlines()
            assert lines[0] == ("demo/encoder_multilabel.toml:40: unknown key train.epoch (did you mean train.epochs?)")
            assert lines[1].startswith("Fix that line of the file")
            assert editor.fixes == [] and editor.query_one("#field-train-epochs").text == "20"

    asyncio.run(go())


def test_a_required_field_left_empty_shows_inline_and_launch_says_so_in_one_sentence(make_app, demo):
    async def go():
        async with make_app().run_test(size=(100, 30)) as pilot:
            editor = await open_editor(pilot, demo)
            await set_field(pilot, "model.source", "", typed=True)
            source = editor.query_one("#field-model-source")
            assert source.error == "model.source is required (it cannot be empty)"
            assert source.query_one(".knob-error").display and shown(source, ".knob-error") == source.error

            # data.train_file: required unless data.dataset names a dataset (load_recipe's rule and words).
            await set_field(pilot, "data.train_file", "", typed=True)
            train = editor.query_one("#field-data-train_file")
            required = "data.train_file is required (training data: a file, or a Hugging Face dataset in data.dataset)"
            assert train.error == required and shown(train, ".knob-error") == required
            await set_field(pilot, "data.dataset", "imdb", typed=True)
            assert train.error is None and not train.query_one(".knob-error").display
            await set_field(pilot, "data.dataset", "", typed=True)
            assert train.error == required
            assert "2 invalid" in shown(editor, "#editor-title")

            await pilot.press("ctrl+l")
            await settle(pilot)
            assert pilot.app.screen is editor
            note = pilot.app.notes[-1]
            assert note.title == "launch refused: model.source is invalid"
            assert note.message == "model.source is required (it cannot be empty)"
            await set_field(pilot, "model.source", "tiny:distilbert", typed=True)
            await pilot.press("ctrl+l")
            await settle(pilot)
            assert pilot.app.screen is editor and pilot.app.notes[-1].message == required

    asyncio.run(go())


def test_keys_typed_right_after_ctrl_n_end_and_ctrl_u_land_in_the_new_field(make_app, demo):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            editor = await open_editor(pilot, demo)
            name = editor.query_one("#field-name")
            assert pilot.app.focused is name.query_one("#value")
            await pilot.press("ctrl+n", "ctrl+u", *"tiny:bert")
            await settle(pilot)
            assert editor.query_one("#sections").active == "sec-model"
            assert editor.query_one("#field-model-source").text == "tiny:bert"
            await pilot.press("ctrl+n", "end", *"_v2")
            await settle(pilot)
            assert editor.query_one("#field-data-train_file").text == "data/reviews.csv_v2"
            await pilot.press("ctrl+b", "end", "backspace", "8")
            await settle(pilot)
            assert editor.query_one("#field-model-source").text == "tiny:ber8"
            assert name.text == "demo_encoder_multilabel"  # nothing went to the field left behind

    asyncio.run(go())


async def burst(pilot, *keys: str) -> None:
    """Keys as a terminal delivers them when the app is busy: all in the app's queue at once, none
    handled before the next arrives (what pilot.press waits for between keys)."""
    from textual import events

    for key in keys:
        pilot.app.post_message(events.Key(key, key if len(key) == 1 else None))
    await settle(pilot)


def test_keys_arriving_together_with_ctrl_n_go_to_the_next_sections_field(make_app, demo):
    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            editor = await open_editor(pilot, demo)
            await burst(pilot, "ctrl+n", "ctrl+u", *"tiny:bert")
            assert editor.query_one("#field-model-source").text == "tiny:bert"
            assert editor.query_one("#field-name").text == "demo_encoder_multilabel"
            await burst(pilot, "ctrl+n", "end", *"_v2", "ctrl+b", "ctrl+u", "x")
            assert editor.query_one("#field-data-train_file").text == "data/reviews.csv_v2"
            assert editor.query_one("#field-model-source").text == "x"

    asyncio.run(go())


def test_what_is_typed_while_a_save_is_written_is_kept(make_app, demo, monkeypatch):
    """The re-read after a save used to put the file's value back into a field typed in meanwhile."""
    import threading

    from workbench.recipe import load as recipe_load

    gate, writing = threading.Event(), threading.Event()
    update = recipe_load.update_recipe_file

    def held(path, changes):
        writing.set()
        assert gate.wait(120), "the test never let the save finish"
        update(path, changes)

    monkeypatch.setattr(recipe_load, "update_recipe_file", held)

    async def go():
        async with make_app().run_test(size=(80, 24)) as pilot:
            editor = await open_editor(pilot, demo)
            await set_field(pilot, "lora.r", "8", typed=True)
            field = editor.query_one("#field-lora-r")
            try:
                await pilot.press("ctrl+s", "end", "backspace", "1", "2")
                await until(pilot, writing.is_set, "the save to be under way")
            finally:
                gate.set()
            await until(pilot, lambda: field.baseline == 8, "the file to be read again")
            await settle(pilot)
            assert field.text == "12" and field.changed
            assert shown(editor, "#changes") == "lora.r: 8 → 12"

    asyncio.run(go())
    assert load_recipe(demo)["lora.r"] == 8
