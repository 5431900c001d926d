"""The GUI's page: Extract, Train, Convert, Tools, Jobs and Files tabs and the system panel.

Forms come from the option definitions (forms.py); Start queues a job (jobs/) that runs in its
own process; the live views read the job's folder (views.py) when the page's light poll
(live.py) says it changed. Nothing here parses text output.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import cv2
import gradio as gr

from faceforge.errors import FaceforgeError
from faceforge.gui import views
from faceforge.gui.forms import Field, build_form, form_values, slug
from faceforge.gui.live import LiveViews
from faceforge.gui.system import SystemMonitor, describe
from faceforge.gui.workspace import Workspace
from faceforge.jobs.folder import JobFolder
from faceforge.jobs.kinds import command_line
from faceforge.jobs.manager import JobManager
from faceforge.options import COMMANDS

CSS = """
.ff-command textarea { font-family: monospace; font-size: 0.85em; }
.ff-error { color: #b00020; }
.ff-hidden { display: none !important; }
"""


def theme() -> gr.themes.Base:
    """Gradio's default look with the system's own fonts (no font is fetched from a CDN)."""
    return gr.themes.Default(font=["system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
                             font_mono=["ui-monospace", "Menlo", "Consolas", "monospace"])


class Page:
    """State shared by the tabs' callbacks: the workspace, the jobs, what each view showed."""

    def __init__(self, workspace: Workspace, manager: JobManager, max_upload_mb: int) -> None:
        self.workspace, self.manager = workspace, manager
        self.max_upload_mb = max_upload_mb
        self.monitor = SystemMonitor(workspace.root)
        self.events: dict[str, views.JobEvents] = {}
        self.previewer = None
        self.shown: dict[str, dict[str, Any]] = {}  # per browser session: what it was sent
        self.live = LiveViews()
        self._reading = threading.Lock()
        self.keys: dict[str, gr.Textbox] = {}

    def changes(self, tab: str, key: Any) -> gr.Textbox:
        """The field whose `.change` refreshes a tab's views: set by the page's light poll to
        `key()` while the tab is shown, so the views are read and sent only when their job
        moved (hidden tabs cost the browser and the server nothing)."""
        self.keys[tab] = self.live.key(tab, key)
        return self.keys[tab]

    def activity(self, *commands: str) -> list[Any]:
        """A key that changes whenever the latest job of one of `commands` moves: its id, state
        and how far its events and log have grown."""
        key = []
        for command in commands:
            job = self.latest(command)
            if job is not None:
                key.append((job.id, job.status().state, *(
                    path.stat().st_size if path.exists() else 0
                    for path in (job.events_path, job.log_path))))
        return key


    def fresh(self, request: gr.Request | None, name: str, value: Any,
              key: Any = None) -> Any:
        """`value` if this browser session has not been sent it (or its `key`) already, else
        gr.skip(): a refresh then sends only what changed."""
        session = self.shown.setdefault(getattr(request, "session_hash", None) or "", {})
        marker = repr(value) if key is None else key
        if session.get(name) == marker:
            return gr.skip()
        session[name] = marker
        return value

    def due(self, request: gr.Request | None, name: str, key: Any, urgent: Any,
            seconds: float) -> bool:
        """Whether to send a view again: its `key` changed, and either its `urgent` part
        changed (the user moved a control) or `seconds` passed since it was last sent (new
        data alone, such as a training graph's latest losses, waits that long)."""
        session = self.shown.setdefault(getattr(request, "session_hash", None) or "", {})
        sent = session.get(name)
        if sent is not None and (sent[0] == key or (
                sent[1] == urgent and time.monotonic() - sent[2] < seconds)):
            return False
        session[name] = (key, urgent, time.monotonic())
        return True

    def latest(self, command: str) -> JobFolder | None:
        for job in self.manager.jobs():
            if job.command == command:
                return job
        return None

    def job_events(self, job: JobFolder) -> views.JobEvents:
        with self._reading:  # the poll and gradio's workers read events from their threads
            if job.id not in self.events:
                self.events[job.id] = views.JobEvents(job)
            return self.events[job.id].update()

    def start(self, command: str, fields: list[Field], values: tuple[Any, ...]) -> str:
        """Queue a job from a form; the one-line error if its options are not valid."""
        try:
            chosen = self.checked(fields, values)
            job = self.manager.submit(command, chosen)
        except FaceforgeError as exc:
            return f"<span class='ff-error'>error: {exc.one_line()}</span>"
        return f"queued {job.id}"

    def checked(self, fields: list[Field], values: tuple[Any, ...]) -> dict[str, Any]:
        """Form values with every path confined to the workspace (kept relative to it: jobs
        run in the workspace folder)."""
        chosen = form_values(fields, values)
        for field in fields:
            if field.path_kind and field.dest in chosen:
                value = chosen[field.dest]
                for item in value if isinstance(value, list) else [value]:
                    self.workspace.resolve(item)
        return chosen

    def command_text(self, command: str, fields: list[Field], values: tuple[Any, ...]) -> str:
        try:
            line = command_line(command, form_values(fields, values))
            return f"cd {self.workspace.root} && {line}"
        except FaceforgeError as exc:
            return f"# {exc.one_line()}"


def build_ui(workspace: Workspace, manager: JobManager,
             max_upload_mb: int) -> tuple[gr.Blocks, Page]:
    page = Page(workspace, manager, max_upload_mb)
    with gr.Blocks(title="faceforge", analytics_enabled=False) as blocks:
        gr.Markdown(f"**faceforge** · workspace `{workspace.root}`")
        system = gr.Markdown(elem_id="system-panel")
        # render_children: the tabs not shown yet still exist in the page, so the views of a
        # job started earlier are in place when its tab is opened. A hidden tab's views keep
        # what they were last sent; the poll refreshes them when their job moved meanwhile.
        with gr.Tabs():
            for name, build in (("Extract", _extract_tab), ("Train", _train_tab),
                                ("Convert", _convert_tab), ("Tools", _tools_tab),
                                ("Jobs", _jobs_tab), ("Files", _files_tab)):
                with gr.Tab(name, elem_id=f"tab-{name.lower()}", render_children=True):
                    build(page)
        page.live.system(system, lambda: _system_text(page))
        page.live.poll()
        blocks.load(lambda: _system_text(page), outputs=system)
    return blocks, page


def _system_text(page: Page) -> str:
    running = [job for job in page.manager.jobs() if job.status().state == "running"]
    line = ""
    if running:
        job = running[0]
        notes = page.job_events(job).notes
        compute = next((n for n in reversed(notes) if n.startswith("compute:")), "")
        line = f"**running** {job.id}" + (f" · {compute}" if compute else "")
    return describe(page.monitor.state(), line)


def _job_form(page: Page, command: str) -> tuple[list[Field], gr.Textbox, gr.Button,
                                                  gr.Button, gr.Markdown]:
    fields = build_form(command, COMMANDS[command], page.workspace.entries)
    inputs = [f.component for f in fields]
    name = slug(command)
    shown = gr.Textbox(label="the same job on the command line", interactive=False,
                       elem_classes="ff-command", elem_id=f"{name}-command")
    with gr.Row():
        start = gr.Button(f"Start {command}", variant="primary", elem_id=f"{name}-start")
        stop = gr.Button("Stop", elem_id=f"{name}-stop")
    message = gr.Markdown(elem_id=f"{name}-message")
    for component in inputs:
        component.change(lambda *v: page.command_text(command, fields, v), inputs=inputs,
                         outputs=shown)
    start.click(lambda *v: page.start(command, fields, v), inputs=inputs, outputs=message)
    stop.click(lambda: _stop_latest(page, command), outputs=message)
    refresh = gr.Button("refresh file lists", size="sm")
    pickers = [f for f in fields if f.path_kind]
    refresh.click(lambda: [gr.update(choices=page.workspace.entries(f.path_kind))
                           for f in pickers], outputs=[f.component for f in pickers])
    return fields, shown, start, stop, message


def _stop_latest(page: Page, command: str) -> str:
    job = page.latest(command)
    if job is None or job.status().finished:
        return "nothing running"
    page.manager.stop(job.id)
    return f"stopping {job.id}: it saves what it has done first"


def _extract_tab(page: Page) -> None:
    with gr.Row():
        with gr.Column(scale=1):
            _job_form(page, "extract")
        with gr.Column(scale=1):
            progress = gr.Markdown(elem_id="extract-progress")
            faces = gr.Gallery(label="latest faces", columns=4, height=260,
                               elem_id="extract-faces")
            summary = gr.Markdown(elem_id="extract-summary")
            sheet = gr.Image(label="contact sheet", interactive=False, height=420,
                             elem_id="extract-sheet")
            log = gr.Textbox(label="log", lines=8, max_lines=8, interactive=False)
    def update(request: gr.Request) -> tuple:
        job = page.latest("extract")
        if job is None:
            return (page.fresh(request, "x-progress", "no extraction yet"),
                    gr.skip(), gr.skip(), gr.skip(), gr.skip())
        events = page.job_events(job)
        output = job.request()["values"].get("output")
        folder = page.workspace.resolve(output) if output else None
        text_summary, image = "", None
        if job.status().state == "done":
            text_summary, image = _extract_summary(page, job, folder)
        return (page.fresh(request, "x-progress", views.progress_text(events)),
                page.fresh(request, "x-faces", views.latest_faces(folder) if folder else []),
                page.fresh(request, "x-summary", text_summary),
                page.fresh(request, "x-sheet", image, key=(job.id, image is None)),
                page.fresh(request, "x-log", job.log_tail(12)))

    page.changes("Extract", lambda: page.activity("extract")).change(
        update, outputs=[progress, faces, summary, sheet, log], show_progress="hidden")


def _extract_summary(page: Page, job: JobFolder, folder: Path | None) -> tuple[str, Any]:
    """The finished extraction's store summary and contact sheet (made once per job)."""
    result = (job.result() or {}).get("result") or []
    stores = [(Path(r["source"]).name, page.workspace.resolve(r["alignments"])) for r in result]
    text = "  \n".join(f"{name}: {views.store_summary(store)}" for name, store in stores
                       if store.exists())
    sheet = job.path / "contact_sheet.jpg"
    if not sheet.exists() and folder is not None:
        views.contact_sheet(folder, sheet)
    return text, _rgb(sheet) if sheet.exists() else None


def _rgb(path: Path | str) -> Any:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _train_tab(page: Page) -> None:
    from faceforge.gui.train_views import build_train_views

    with gr.Row():
        with gr.Column(scale=1):
            _job_form(page, "train")
        with gr.Column(scale=2):
            build_train_views(page)


def _convert_tab(page: Page) -> None:
    from faceforge.gui.convert_views import build_convert_views

    with gr.Row():
        with gr.Column(scale=1):
            fields, *_ = _job_form(page, "convert")
        with gr.Column(scale=1):
            build_convert_views(page, fields)


def _tools_tab(page: Page) -> None:
    from faceforge.gui.tools_views import build_tools_views

    build_tools_views(page)


def _jobs_key(page: Page) -> list[Any]:
    """The jobs and their states, and while one runs a 3 s slot (its duration ticks on)."""
    states = [(job.id, job.status().state) for job in page.manager.jobs()[:200]]
    running = any(state == "running" for _, state in states)
    return [states, int(time.monotonic() // 3) if running else None]


def _jobs_tab(page: Page) -> None:
    headers = ["job", "state", "started", "duration", "command line"]
    table = gr.Dataframe(headers=headers, interactive=False, wrap=True, elem_id="jobs-table")
    with gr.Row():
        chosen = gr.Dropdown(label="job", choices=[], elem_id="jobs-chosen")
        stop = gr.Button("Stop")
        again = gr.Button("Run again")
    detail = gr.Markdown()
    log = gr.Textbox(label="log", lines=14, max_lines=14, interactive=False)

    def rows(request: gr.Request) -> tuple:
        out = []
        for job in page.manager.jobs()[:200]:
            status = job.status()
            duration = status.duration_s()
            out.append([job.id, status.state, time.strftime(
                "%Y-%m-%d %H:%M", time.localtime(status.started)) if status.started else "",
                views._duration(duration) if duration is not None else "",
                job.request().get("command_line", "")])
        return (page.fresh(request, "jobs", out),
                page.fresh(request, "job-ids", gr.update(choices=[r[0] for r in out]),
                           key=[r[0] for r in out]))

    def show(job_id: str | None) -> tuple[str, str]:
        if not job_id:
            return "", ""
        job = page.manager.job(job_id)
        status = job.status()
        return (f"**{status.state}** {status.message}  \n`{job.request()['command_line']}`",
                job.log_tail(60))

    def rerun(job_id: str | None) -> str:
        if not job_id:
            return "pick a job"
        request = page.manager.job(job_id).request()
        try:
            job = page.manager.submit(request["command"], request["values"])
        except FaceforgeError as exc:
            return f"error: {exc.one_line()}"
        return f"queued {job.id} (a training or an extraction resumes where it stopped)"

    def stop_job(job_id: str | None) -> str:
        if job_id:
            page.manager.stop(job_id)
            return f"stopping {job_id}"
        return "pick a job"

    page.changes("Jobs", lambda: _jobs_key(page)).change(rows, outputs=[table, chosen],
                                                          show_progress="hidden")
    chosen.change(show, inputs=chosen, outputs=[detail, log])
    again.click(rerun, inputs=chosen, outputs=detail)
    stop.click(stop_job, inputs=chosen, outputs=detail)


def _files_tab(page: Page) -> None:
    gr.Markdown("Upload videos and photos of A and B into `sources/`; everything the jobs "
                f"write stays in the workspace. Uploads up to {page.max_upload_mb} MB.")
    upload = gr.File(label="upload videos or photos", file_count="multiple",
                     elem_id="files-upload")
    uploaded = gr.Markdown(elem_id="files-uploaded")
    explorer = gr.FileExplorer(root_dir=str(page.workspace.root), file_count="single",
                               ignore_glob="**/.*", label="workspace", elem_id="files-explorer")
    download = gr.DownloadButton("download the selected file", elem_id="files-download")

    def store(files: list | None) -> str:
        if not files:
            return ""
        lines = []
        for item in files:
            path = Path(getattr(item, "name", item))
            try:
                stored = page.workspace.store_upload(path, Path(path).name,
                                                     page.max_upload_mb * 1024 * 1024)
                lines.append(f"stored `{page.workspace.relative(stored)}`")
            except FaceforgeError as exc:
                lines.append(f"<span class='ff-error'>{exc.one_line()}</span>")
        return "  \n".join(lines)

    def choose(selected: str | None) -> Any:
        if not selected:
            return gr.update(value=None)
        path = page.workspace.resolve(selected)
        return gr.update(value=str(path) if path.is_file() else None)

    upload.upload(store, inputs=upload, outputs=uploaded)
    explorer.change(choose, inputs=explorer, outputs=download)
