"""The Tools tab: the `faceforge tools` commands on workspace files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from faceforge.errors import FaceforgeError

if TYPE_CHECKING:
    from faceforge.gui.app import Page


def build_tools_views(page: Page) -> None:
    gr.Markdown("### alignments store: summary and JSON export")
    stores = gr.Dropdown(label="alignments store", allow_custom_value=True,
                         choices=_stores(page), elem_id="tools-store")
    with gr.Row():
        summary = gr.Button("Summary", elem_id="tools-summary")
        export = gr.Button("Export as JSON")
        refresh = gr.Button("refresh list", size="sm")
    shown = gr.Markdown(elem_id="tools-result")
    download = gr.DownloadButton("download the export", visible=False)

    def summarise(store: str | None) -> str:
        if not store:
            return "pick a store"
        from faceforge.formats.alignments import AlignmentsStore

        try:
            with AlignmentsStore.open(page.workspace.resolve(store, must_exist=True),
                                      "r") as opened:
                numbers = opened.summary()
                meta = opened.meta()
        except FaceforgeError as exc:
            return f"error: {exc.one_line()}"
        lines = [f"**{k.replace('_', ' ')}**: {numbers[k]}" for k in
                 ("frames", "faces", "frames_without_faces", "frames_with_multiple_faces")]
        lines += [f"**{k.replace('_', ' ')}**: {meta[k]}" for k in
                  ("source_path", "status", "plugins") if k in meta]
        return "  \n".join(lines)

    def export_json(store: str | None) -> tuple[str, Any]:
        if not store:
            return "pick a store", gr.update(visible=False)
        from faceforge.formats.alignments import AlignmentsStore

        try:
            path = page.workspace.resolve(store, must_exist=True)
            target = page.workspace.root / "outputs" / f"{Path(path).stem}.json"
            with AlignmentsStore.open(path, "r") as opened:
                opened.export_json(target)
        except FaceforgeError as exc:
            return f"error: {exc.one_line()}", gr.update(visible=False)
        return (f"wrote `{page.workspace.relative(target)}`",
                gr.update(value=str(target), visible=True))

    summary.click(summarise, inputs=stores, outputs=shown)
    export.click(export_json, inputs=stores, outputs=[shown, download])
    refresh.click(lambda: gr.update(choices=_stores(page)), outputs=stores)


def _stores(page: Page) -> list[str]:
    return [p for p in page.workspace.entries("file") if p.endswith(".db")]
