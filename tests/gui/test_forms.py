"""The GUI's forms are built from the same option definitions as the command line."""

from __future__ import annotations

import gradio as gr
import pytest

from faceforge.gui.forms import GUI_DEFAULTS, SHELL_ONLY, build_form, form_values
from faceforge.options import COMMANDS


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_of_the_command_line_is_in_the_form(command):
    options = COMMANDS[command]
    with gr.Blocks():
        fields = build_form(command, options, lambda kind: [f"some/{kind}"])
    by_dest = {field.dest: field for field in fields}
    assert set(by_dest) == {o.dest for o in options} - SHELL_ONLY
    for option in options:
        if option.dest in SHELL_ONLY:
            continue
        component = by_dest[option.dest].component
        long_flag = next((f for f in option.flags if f.startswith("--")), option.flags[0])
        assert component.label.startswith(long_flag), option.dest
        assert component.elem_id == f"{command.replace(' ', '-')}-{option.dest}"
        assert option.help in (component.info or ""), option.dest
        choices = option.choice_names()
        if choices is not None:
            offered = [c[1] if isinstance(c, tuple) else c for c in component.choices]
            assert offered == list(choices), option.dest
        expected = GUI_DEFAULTS.get((command, option.dest), option.default)
        if isinstance(component, gr.Checkbox):
            assert component.value is bool(expected)
        elif choices is not None and expected is not None:
            value = component.value
            assert (list(value) if isinstance(value, (list, tuple)) else value) == \
                (list(expected) if isinstance(expected, tuple) else expected), option.dest


def test_empty_inputs_are_left_to_the_defaults_and_whole_numbers_stay_whole():
    options = COMMANDS["train"]
    with gr.Blocks():
        fields = build_form("train", options, lambda kind: [])
    values = [None] * len(fields)
    index = {f.dest: i for i, f in enumerate(fields)}
    values[index["batch_size"]] = 8.0
    values[index["input_a"]] = "faces/a"
    chosen = form_values(fields, tuple(values))
    assert chosen == {"input_a": "faces/a", "batch_size": 8}
    assert isinstance(chosen["batch_size"], int)
