"""`faceforge gui`: serve the web GUI for one workspace, behind a secret, offline.

Binds 127.0.0.1 by default and prints the URL (with its access token) and the SSH tunnel line
that reaches it from another computer. Binding any other address needs `--auth`. Nothing is
fetched from the internet: no analytics, no version check, no fonts or scripts from a CDN.
"""

from __future__ import annotations

import contextlib
import getpass
import ipaddress
import logging
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceforge.errors import UsageError
from faceforge.gui.auth import RequireSecret, new_secret
from faceforge.gui.calm import with_page_script
from faceforge.gui.gradio_import import skip_stub_writing
from faceforge.gui.workspace import Workspace

log = logging.getLogger("faceforge")


@dataclass
class GuiSettings:
    workspace: Path
    port: int = 7860
    listen: str = "127.0.0.1"
    auth: str | None = None
    max_upload_mb: int = 4096


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_settings(settings: GuiSettings) -> None:
    if not _is_loopback(settings.listen) and not settings.auth:
        raise UsageError(
            f"refusing to serve on {settings.listen} without a password: anyone who can reach "
            "that address could run jobs and read the workspace",
            "add --auth SECRET, or keep the default --listen 127.0.0.1 and use an SSH tunnel")
    if settings.auth is not None and len(settings.auth) < 8:
        raise UsageError("the --auth secret is too short", "use at least 8 characters")
    if not 1 <= settings.port <= 65535:
        raise UsageError(f"--port {settings.port} is not a port number", "use 1024-65535")


def prepare_offline(cache: Path) -> None:
    """Before gradio is imported: no analytics or version checks, its uploads and cached files
    in the workspace's cache (emptied at each start), and no type stubs rewritten inside the
    installed gradio (gui/gradio_import.py: most of the time importing it took)."""
    skip_stub_writing()
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("GRADIO_SSR_MODE", "False")


STARTING_PAGE = b"""<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="refresh" content="1"><title>faceforge</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3em">
<p><b>faceforge</b> is starting: the page appears in a few seconds.</p></body></html>"""


class StartingUp:
    """The app the server answers with from its first second: a page that reloads itself
    while the GUI is being built (importing gradio takes several seconds on a small CPU),
    then the GUI itself, whose startup runs on its first request."""

    def __init__(self) -> None:
        self.app: Any = None
        self.failure: str | None = None
        self.stack: contextlib.AsyncExitStack | None = None
        self.page: Any = None  # the GUI's app with its pages calmed (gui/calm.py)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self.app is None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1013})
                return
            body = STARTING_PAGE if self.failure is None else \
                f"faceforge could not start: {self.failure}".encode()
            # 503 for every route (the page included) until the GUI is there: no route of the
            # real app is ever answered by the placeholder.
            await send({"type": "http.response.start", "status": 503 if self.failure is None
                        else 500, "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                              (b"cache-control", b"no-store"),
                                              (b"retry-after", b"1")]})
            await send({"type": "http.response.body", "body": body})
            return
        if self.stack is None:
            self.stack = contextlib.AsyncExitStack()
            await self.stack.enter_async_context(self.app.router.lifespan_context(self.app))
            self.page = with_page_script(self.app)
        await self.page(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.stack is not None:
                    await self.stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def build_asgi_app(settings: GuiSettings) -> Any:
    """The whole app: gradio's page and routes (mounted on FastAPI), and the job queue."""
    workspace = Workspace.open(settings.workspace)
    prepare_offline(workspace.root / ".cache" / "gradio")
    import gradio as gr
    from fastapi import FastAPI

    from faceforge.gui.app import CSS, build_ui, theme
    from faceforge.jobs.manager import JobManager

    manager = JobManager(workspace.root)
    blocks, page = build_ui(workspace, manager, settings.max_upload_mb)
    _no_api_listing(blocks)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/ff/live")
    def live(tab: str = "extract") -> dict:  # the page's light poll (gui/live.py)
        try:
            return page.live.answer(tab)
        except Exception:  # a job folder being written or removed: the next poll answers
            log.exception("live poll")
            return {"values": {}}
    app = gr.mount_gradio_app(
        app, blocks, path="", allowed_paths=[str(workspace.root)],
        blocked_paths=[str(workspace.root / "jobs")],
        max_file_size=settings.max_upload_mb * 1024 * 1024, enable_monitoring=False,
        footer_links=[], show_error=True, ssr_mode=False, mcp_server=False, pwa=False,
        theme=theme(), css=CSS, favicon_path=None)
    _calm_queue(blocks)
    threading.Thread(target=_keep_polling, args=(manager,), daemon=True).start()
    return app


def _no_api_listing(blocks: Any) -> None:
    """Gradio lists every event's function as a public API endpoint and writes that listing
    into every page it serves: 1.9 MB of the 2.6 MB page for this GUI's ~340 events, half a
    second of the server's time per page load and as much of the browser's to read it. The
    GUI's API page is off, so the functions are made "undocumented": still called by the page,
    listed nowhere."""
    for function in getattr(blocks, "fns", {}).values():
        if getattr(function, "api_visibility", None) == "public":
            function.api_visibility = "undocumented"


def _calm_queue(blocks: Any) -> None:
    """Gradio's event queue checks for work every millisecond when it has none (and for
    progress every 10 ms): on a 2-core machine that alone took about 5% of a core from the
    training the GUI watches. Every 50 ms (and 100 ms) adds at most that much to a click's
    answer (the live views do not go through the queue, gui/live.py). These are gradio's
    internal settings: left alone if they are gone."""
    queue = getattr(blocks, "_queue", None)
    for name, seconds in (("sleep_when_free", 0.05), ("progress_update_sleep_when_free", 0.1)):
        if isinstance(getattr(queue, name, None), float):
            setattr(queue, name, seconds)


def _build_into(starting: StartingUp, settings: GuiSettings) -> None:
    try:
        starting.app = build_asgi_app(settings)
    except Exception as exc:  # a bug: say so on the page and in the log
        log.exception("the GUI could not be built")
        starting.failure = str(exc)


def _keep_polling(manager: Any) -> None:
    while True:
        try:
            manager.poll()
            manager.watch()
        except Exception:  # a damaged job folder must not stop the queue
            log.exception("job queue")
        time.sleep(1.0)


def serve(settings: GuiSettings) -> None:
    check_settings(settings)
    Workspace.open(settings.workspace)  # a bad workspace is one error line, before serving
    secret = settings.auth or new_secret()
    starting = StartingUp()
    threading.Thread(target=_build_into, args=(starting, settings), daemon=True).start()
    app = RequireSecret(starting, secret)
    import uvicorn

    host = "127.0.0.1" if settings.listen == "localhost" else settings.listen
    shown = host if host not in ("0.0.0.0", "::") else socket.gethostname()
    print(f"faceforge GUI for workspace {Path(settings.workspace).resolve()}", flush=True)
    if settings.auth:
        print(f"  http://{shown}:{settings.port}/   (log in with any name and the --auth "
              "password)", flush=True)
    else:
        print(f"  http://{shown}:{settings.port}/?token={secret}", flush=True)
    if _is_loopback(host):
        print("From another computer, open a tunnel first, then the URL above:\n"
              f"  ssh -N -L {settings.port}:127.0.0.1:{settings.port} "
              f"{getpass.getuser()}@{socket.getfqdn()}", flush=True)
    uvicorn.run(app, host=host, port=settings.port, log_level="warning")
