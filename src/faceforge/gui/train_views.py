"""The Train tab's live views: preview, Graph (losses raw and smoothed, identity match) and
Analysis (one row per session, EGs/s), all read from the model folder and the job's events."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import gradio as gr

from faceforge.core.plot import OTHER_COLOURS, OUTPUT_COLOUR, SOURCE_COLOUR, line_plot
from faceforge.gui import views

# The graph and the Analysis table are redrawn at the saves, and at most this often (a model
# saved every few iterations): each redraw costs the browser CPU time, which on the training
# machine is taken from the training (the live EGs/s is in the polled progress line).
GRAPH_EVERY_S = 10.0

if TYPE_CHECKING:
    from faceforge.gui.app import Page


def _model_dir(page: Page) -> tuple[Any, Path | None]:
    job = page.latest("train")
    if job is None:
        return None, None
    model = job.request()["values"].get("model_dir")
    return job, page.workspace.resolve(model) if model else None


def build_train_views(page: Page) -> None:
    progress = gr.Markdown(elem_id="train-progress")
    with gr.Row():
        save_now = gr.Button("Save now", size="sm", elem_id="train-save-now")
        refresh = gr.Button("Refresh preview now", size="sm")
        masks = gr.Checkbox(label="show the training masks", value=False)
    said = gr.Markdown()
    preview = gr.Image(label="preview: A, A→A, A→B | B, B→B, B→A", show_label=False,
                       interactive=False, height=440, elem_id="train-preview")
    with gr.Tabs():
        with gr.Tab("Graph", elem_id="train-graph-tab"):
            with gr.Row():
                smoothing = gr.Slider(0.0, 0.99, value=0.9, step=0.01, label="smoothing")
                last_n = gr.Number(value=0, precision=0, label="last N iterations (0: all)")
                log_scale = gr.Checkbox(label="log scale", value=False)
                session = gr.Dropdown(label="session", choices=["all"], value="all")
            # Pictures drawn on the server (core/plot.py): a plot component redraws its
            # points in the browser at each update, on the machine the training runs on.
            graph = gr.Image(label="loss", interactive=False,
                             elem_id="train-graph", format="png")
            identity = gr.Image(label="at each save: dlib distance of A→B swaps to B and A "
                                      "(lower is nearer), mouth kept (correlation) and "
                                      "sharpness (÷ A's; higher is better)",
                                interactive=False, elem_id="train-identity", format="png")
        with gr.Tab("Analysis", elem_id="train-analysis-tab"):
            table = gr.Dataframe(headers=views.SESSION_HEADERS, interactive=False,
                                 elem_id="train-analysis")
            export = gr.DownloadButton("export CSV", elem_id="train-analysis-csv")

    def save() -> str:
        job, _ = _model_dir(page)
        if job is None or job.status().state != "running":
            return "no training is running"
        page.manager.save_now(job.id)
        return "saving at the next iteration; the preview follows"

    def picture(model: Path | None, with_masks: bool, force: bool,
                request: gr.Request | None) -> Any:
        if model is None:
            return None
        path = model / ("preview_masked.png" if with_masks else "preview.png")
        if not path.exists():
            path = model / "preview.png"
        if not path.exists():
            return None
        key = (str(path), path.stat().st_mtime_ns, force and time.monotonic())
        if page.fresh(request, "t-preview", None, key=key) is not None:
            return gr.skip()
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)

    def update(smoothing: float, last_n: float, log_scale: bool, session: str,
               with_masks: bool, request: gr.Request) -> tuple:
        job, model = _model_dir(page)
        if job is None:
            return (gr.skip(),) * 5
        events = page.job_events(job)
        rows = views.analysis_rows(model, events)
        sessions = [str(r[0]) for r in rows if r[0] != "total"]
        history = views.loss_history(model, events)
        controls = (job.id, smoothing, last_n, log_scale, session)
        graph = gr.skip()
        if page.due(request, "t-graph", (controls, len(history),
                                         history[-1] if history else None), controls,
                    GRAPH_EVERY_S):  # new settings at once, new losses at most every 10 s
            graph = _loss_plot(*views.graph_series(
                history, float(smoothing), int(last_n or 0), bool(log_scale),
                _session_window(model, session)), bool(log_scale))
        saves, scores = views.score_series(model)
        return (picture(model, with_masks, False, request), graph,
                page.fresh(request, "t-identity", _score_plot(saves, scores),
                           key=(job.id, len(saves))),
                rows if page.due(request, "t-table", rows, job.id, GRAPH_EVERY_S)
                else gr.skip(),
                page.fresh(request, "t-sessions", gr.update(choices=["all", *sessions]),
                           key=sessions))

    def csv_file() -> Any:
        _, model = _model_dir(page)
        if model is None:
            return None
        target = page.workspace.root / "outputs" / f"{model.name}_analysis.csv"
        target.write_text(views.analysis_csv(views.analysis_rows(model)))
        return str(target)

    def progress_line() -> str:
        job = page.latest("train")
        return "no training yet" if job is None else views.progress_text(page.job_events(job))

    def key() -> list[Any]:
        """New views to send: the job's state and each save (a new preview); the graph and
        Analysis follow the saves, as in Faceswap (the progress line with the live EGs/s is
        polled apart)."""
        job, model = _model_dir(page)
        if job is None:
            return []
        state = job.status().state
        previews = [path.stat().st_mtime_ns for path in
                    (model / "preview.png", model / "preview_masked.png")
                    if path.exists()] if model else []
        return [job.id, state, previews, None if state == "running"
                else page.activity("train")]

    inputs = [smoothing, last_n, log_scale, session, masks]
    outputs = [preview, graph, identity, table, session]  # the progress line is polled
    page.live.text(progress, progress_line, tab="Train")
    page.changes("Train", key).change(update, inputs=inputs, outputs=outputs,
                                      show_progress="hidden")
    for control in (smoothing, last_n, log_scale, session):
        control.change(update, inputs=inputs, outputs=outputs)
    def toggle(with_masks: bool, request: gr.Request) -> Any:
        return picture(_model_dir(page)[1], with_masks, True, request)

    masks.change(toggle, inputs=masks, outputs=preview)
    save_now.click(save, outputs=said)
    refresh.click(save, outputs=said)
    export.click(csv_file, outputs=export)


# Raw losses light, smoothed dark; A blue, B orange.
_LOSS_COLOURS = {"A": (158, 198, 225), "B": (252, 196, 148), "A smoothed": (31, 119, 180),
                 "B smoothed": (230, 110, 10)}


def _loss_plot(iterations: Any, curves: dict[str, Any], log_scale: bool) -> Any:
    if not len(iterations):
        return None
    prefix = "log10 " if log_scale else ""
    return line_plot(iterations, [(prefix + name, values, _LOSS_COLOURS[name])
                                  for name, values in curves.items()],
                     x_label="iteration", size=(900, 300),
                     thickness=[2 if name.endswith("smoothed") else 1 for name in curves])


def _score_plot(saves: list[int], scores: dict[str, list[float | None]]) -> Any:
    if not saves:
        return None
    colours = [OUTPUT_COLOUR, SOURCE_COLOUR, *OTHER_COLOURS]
    return line_plot(saves, [(name, values, colour) for (name, values), colour
                             in zip(scores.items(), colours, strict=False)],
                     x_label="iteration", size=(900, 220))


def _session_window(model: Path | None, session: str) -> tuple[int, int] | None:
    """The iterations of one session, for the Graph's drill-down."""
    if model is None or session in ("all", None, ""):
        return None
    from faceforge.formats.model_state import read_state

    state = read_state(model)
    index = int(session) - 1
    if state is None or not 0 <= index < len(state.sessions):
        return None
    chosen = state.sessions[index]
    end = chosen.start_iteration + chosen.iterations if index < len(state.sessions) - 1 \
        else 10 ** 12
    return chosen.start_iteration, end
