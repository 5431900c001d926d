"""The Convert tab's live views and its preview tool.

The preview tool is Faceswap's `preview`: one frame of the source converted with the form's
current settings (colour, mask, blur, erosion, sharpening, face scale), beside the original,
in about a second; the settings tried are the form's own, so Start converts with them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import gradio as gr

from faceforge.errors import FaceforgeError
from faceforge.gui import views
from faceforge.jobs.kinds import build_config

if TYPE_CHECKING:
    from faceforge.gui.app import Page
    from faceforge.gui.forms import Field


def build_convert_views(page: Page, fields: list[Field]) -> None:
    progress = gr.Markdown(elem_id="convert-progress")
    with gr.Row():
        source = gr.Image(label="source frame", interactive=False, height=260,
                          elem_id="convert-source")
        converted = gr.Image(label="converted", interactive=False, height=260,
                             elem_id="convert-latest")
    video = gr.Video(label="result", interactive=False, height=360, elem_id="convert-video")
    download = gr.DownloadButton("download the result", elem_id="convert-download")
    log = gr.Textbox(label="log", lines=6, max_lines=6, interactive=False)
    with gr.Accordion("Preview one frame with the settings of the form", open=False,
                      elem_id="convert-preview-tool"):
        frame = gr.Slider(0, 1000, value=0, step=1, label="frame")
        run = gr.Button("Preview", elem_id="convert-preview-run")
        took = gr.Markdown()
        with gr.Row():
            before = gr.Image(label="original", interactive=False, height=300)
            after = gr.Image(label="converted with these settings", interactive=False,
                             height=300, elem_id="convert-preview-image")
    def update(request: gr.Request) -> tuple:
        job = page.latest("convert")
        if job is None:
            return (page.fresh(request, "c-progress", "no conversion yet"), *[gr.skip()] * 5)
        events = page.job_events(job)
        images: list[Any] = [gr.skip(), gr.skip()]
        if page.fresh(request, "c-frames", None, key=(job.id, events.previews)) is None:
            images = [_rgb(job.path / "frame_source.jpg"), _rgb(job.path / "frame_converted.jpg")]
        result_video, result_file = gr.skip(), gr.skip()
        done = job.status().state == "done"
        if page.fresh(request, "c-video", None, key=(job.id, done)) is None:
            result_video = result_file = None
            if done:
                written = str((job.result() or {}).get("result", {}).get("output", ""))
                try:
                    output = page.workspace.resolve(written, must_exist=True)
                    inside = True
                except FaceforgeError:
                    output, inside = Path(written), False
                if inside and output.suffix.lower() in (".mp4", ".webm", ".gif"):
                    result_video = str(output)
                if inside and output.is_file():
                    result_file = str(output)
        return (page.fresh(request, "c-progress", views.progress_text(events)), *images,
                result_video, result_file, page.fresh(request, "c-log", job.log_tail(8)))

    def preview(*values: Any) -> tuple:
        index, form = int(values[0]), values[1:]
        started = time.perf_counter()
        try:
            chosen = page.checked(fields, form)
            chosen.setdefault("output", "outputs")
            config = build_config("convert", chosen)
            config = _absolute(page, config)
            if page.previewer is None:
                from faceforge.pipeline.preview import FramePreviewer

                page.previewer = FramePreviewer()
            original, swapped = page.previewer.convert_frame(config, index)
        except FaceforgeError as exc:
            return None, None, f"error: {exc.one_line()}"
        return (original, swapped,
                f"frame {index}: {1000 * (time.perf_counter() - started):.0f} ms")

    page.changes("Convert", lambda: page.activity("convert")).change(
        update, outputs=[progress, source, converted, video, download, log],
        show_progress="hidden")
    run.click(preview, inputs=[frame, *[f.component for f in fields]],
              outputs=[before, after, took])


def _absolute(page: Page, config: Any) -> Any:
    """The GUI process does not run in the workspace folder: its paths made absolute."""
    for name in ("input", "model_dir", "alignments", "reference_video"):
        value = getattr(config, name)
        if value is not None:
            setattr(config, name, page.workspace.resolve(value))
    return config


def _rgb(path: Path) -> Any:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.exists() else None
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
