"""The Tools tab: every `faceforge tools` command, with a form from its option definitions
(as the CLI builds its arguments from them), run as a job like the three main jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from faceforge.gui import views
from faceforge.options import COMMANDS, TOOL_HELP

if TYPE_CHECKING:
    from faceforge.gui.app import Page


def tool_commands() -> list[str]:
    return [command for command in COMMANDS if command.startswith("tools ")]


def build_tools_views(page: Page) -> None:
    from faceforge.gui.app import _job_form  # one form-and-buttons builder for every job

    tools = tool_commands()
    picker = gr.Dropdown(choices=[(f"{c[len('tools '):]}: {TOOL_HELP.get(c, '')}", c)
                                  for c in tools], value=tools[0], label="tool",
                         elem_id="tools-picker")
    groups = []
    with gr.Row():
        with gr.Column(scale=1):
            for command in tools:
                with gr.Group(visible=command == tools[0]) as group:
                    _job_form(page, command)
                groups.append(group)
        with gr.Column(scale=1):
            progress = gr.Markdown(elem_id="tools-progress")
            result = gr.JSON(label="result", elem_id="tools-result")
            log = gr.Textbox(label="log", lines=12, max_lines=12, interactive=False)

    def show(chosen: str) -> list[Any]:
        return [gr.update(visible=command == chosen) for command in tools]

    def update(chosen: str, request: gr.Request) -> tuple:
        job = page.latest(chosen)
        if job is None:
            return page.fresh(request, "tools-progress", f"no `{chosen}` run yet"), None, ""
        events = page.job_events(job)
        answer = (job.result() or {}).get("result")
        return (page.fresh(request, "tools-progress", views.progress_text(events)),
                page.fresh(request, "tools-result", answer, key=(job.id, answer is None)),
                page.fresh(request, "tools-log", job.log_tail(20)))

    picker.change(show, inputs=picker, outputs=groups)
    page.changes("Tools", lambda: page.activity(*tools)).change(
        update, inputs=picker, outputs=[progress, result, log], show_progress="hidden")
