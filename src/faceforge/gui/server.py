"""`faceforge gui`: serve the web GUI for one workspace, behind a secret, offline.

Binds 127.0.0.1 by default and prints the URL (with its access token) and the SSH tunnel line
that reaches it from another computer. Binding any other address needs `--auth`. Nothing is
fetched from the internet: no analytics, no version check, no fonts or scripts from a CDN.
"""

from __future__ import annotations

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
    in the workspace's cache (emptied at each start)."""
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("GRADIO_SSR_MODE", "False")


def build_asgi_app(settings: GuiSettings, secret: str) -> tuple[RequireSecret, Any]:
    """The whole app: gradio's page and routes, every one behind the secret."""
    workspace = Workspace.open(settings.workspace)
    prepare_offline(workspace.root / ".cache" / "gradio")
    import gradio as gr
    from fastapi import FastAPI

    from faceforge.gui.app import build_ui, theme
    from faceforge.jobs.manager import JobManager

    manager = JobManager(workspace.root)
    blocks = build_ui(workspace, manager, settings.max_upload_mb)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app = gr.mount_gradio_app(
        app, blocks, path="", allowed_paths=[str(workspace.root)],
        blocked_paths=[str(workspace.root / "jobs")],
        max_file_size=settings.max_upload_mb * 1024 * 1024, enable_monitoring=False,
        footer_links=[], show_error=True, ssr_mode=False, mcp_server=False, pwa=False,
        theme=theme(), favicon_path=None)
    threading.Thread(target=_keep_polling, args=(manager,), daemon=True).start()
    return RequireSecret(app, secret), manager


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
    secret = settings.auth or new_secret()
    app, _ = build_asgi_app(settings, secret)
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
