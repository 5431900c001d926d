"""The placeholder the server answers with while the GUI is being built."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from faceforge.gui.server import StartingUp


def run(coroutine) -> None:
    """On a thread of its own: a browser test before this one may leave a loop running here."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def call(app, scope: dict) -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    run(app(scope, receive, send))
    return sent


def http(path: str) -> dict:
    return {"type": "http", "method": "GET", "path": path, "headers": []}


def test_no_route_is_answered_before_the_gui_is_built():
    starting = StartingUp()
    for path in ("/", "/config", "/gradio_api/file=/etc/passwd", "/gradio_api/upload"):
        start, body = call(starting, http(path))
        assert start["status"] == 503 and (b"retry-after", b"1") in start["headers"]
        assert b"is starting" in body["body"]
    closed = call(starting, {"type": "websocket", "path": "/queue/join", "headers": []})
    assert closed == [{"type": "websocket.close", "code": 1013}]


def test_a_failed_build_is_said_on_the_page():
    starting = StartingUp()
    starting.failure = "gradio is not installed"
    start, body = call(starting, http("/"))
    assert start["status"] == 500 and b"gradio is not installed" in body["body"]


def test_lifespan_is_acknowledged_without_the_gui():
    starting = StartingUp()
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict] = []

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    run(starting({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete",
                                          "lifespan.shutdown.complete"]
