"""Forms from the option definitions: one input per option of a command, the same names,
choices, defaults and help as the command line, grouped as `--help` groups them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from faceforge.options import Option, OptionSet

# Which picker a path option gets, by the metavar its definition gives it.
PATH_KINDS = {"PATH": "media", "VIDEO": "media", "IMAGE": "media", "FOLDER": "folder",
              "FILE": "file"}
# Options whose picker lists trained models rather than any folder.
MODEL_FOLDERS = {"model_dir"}
SHELL_ONLY = {"loglevel", "logfile"}
# What the GUI starts with where it differs from the command line's default, and why: a
# training run in the GUI is watched through its preview.
GUI_DEFAULTS = {("train", "write_image"): True}


@dataclass
class Field:
    option: Option
    component: Any  # the gradio input
    path_kind: str | None  # media / folder / file / model, for pickers

    @property
    def dest(self) -> str:
        return self.option.dest


def slug(command: str) -> str:
    """A command's name as it appears in element ids: `tools sort` → `tools-sort`."""
    return command.replace(" ", "-")


def _numeric(option: Option) -> bool:
    """Numbers typed by int, float or one of the options' integer checks."""
    name = getattr(option.type, "__name__", "")
    # An empty number box reads as 0, so options whose default is "not given" get a text box.
    return option.action is None and option.nargs is None and option.default is not None and \
        (option.type in (int, float) or name in ("non_negative_int", "positive_int"))


def _label(option: Option) -> str:
    flag = next((f for f in option.flags if f.startswith("--")), option.flags[0])
    return f"{flag}" + (" (required)" if option.required else "")


def _component(command: str, option: Option, choices_for: Any) -> tuple[Any, str | None]:
    label, info = _label(option), option.help_text()
    default = GUI_DEFAULTS.get((command, option.dest), option.default)
    elem_id = f"{slug(command)}-{option.dest}"
    if option.action == "store_true":
        return gr.Checkbox(value=bool(default), label=label, info=info, elem_id=elem_id), None
    choices = option.choice_names()
    if choices is not None:
        many = option.action == "append"
        value = list(default) if many and default else default
        return gr.Dropdown(choices=list(choices), value=value, multiselect=many, label=label,
                           info=info, elem_id=elem_id), None
    if option.metavar in PATH_KINDS or option.dest in MODEL_FOLDERS:
        kind = "model" if option.dest in MODEL_FOLDERS else PATH_KINDS[option.metavar]
        many = option.action == "append"
        return gr.Dropdown(choices=choices_for(kind), value=[] if many else None,
                           multiselect=many, allow_custom_value=True, label=label, info=info,
                           elem_id=elem_id), kind
    if _numeric(option):
        return gr.Number(value=default, label=label, info=info, precision=None if
                         option.type is float else 0, elem_id=elem_id), None
    text = "" if default is None else " ".join(map(str, default)) \
        if isinstance(default, (list, tuple)) else str(default)
    return gr.Textbox(value=text, label=label, info=info, elem_id=elem_id), None


def build_form(command: str, options: OptionSet, choices_for: Any,
               open_groups: tuple[str, ...] = ("data",)) -> list[Field]:
    """The inputs of `options`, in accordions by group (the data group open)."""
    fields: list[Field] = []
    groups: dict[str, list[Option]] = {}
    for option in options:
        if option.dest not in SHELL_ONLY:
            groups.setdefault(option.group, []).append(option)
    for group, members in groups.items():
        with gr.Accordion(f"{group} options", open=group in open_groups):
            for option in members:
                component, kind = _component(command, option, choices_for)
                fields.append(Field(option, component, kind))
    return fields


def form_values(fields: list[Field], values: tuple[Any, ...]) -> dict[str, Any]:
    """Option dest → value from the inputs' current values, empty inputs left out."""
    out: dict[str, Any] = {}
    for field, value in zip(fields, values, strict=True):
        if isinstance(value, float) and field.option.type is not float and value.is_integer():
            value = int(value)
        if value in (None, "", []):
            continue
        out[field.dest] = value
    return out
