"""Keep the GUI's page from taking CPU time from the job it watches.

On the training machine every millisecond the browser spends drawing is taken from the training
(its two threads work in lock step, so a short interruption of one stalls both). Gradio's page
redraws itself 60 times a second even when nothing changes: each status tracker (the spinner and
elapsed-time counter of a component waiting for an answer) counts its seconds with a
`requestAnimationFrame` loop, and a tracker removed from the page while waiting (the page's own
loading tracker always is) never stops its loop. On a CPU-rendered page that costs about 5% of a
core for an empty page.

`PAGE_SCRIPT` runs before gradio's own scripts and lets the trackers count four times a second
instead of at every frame; everything else draws as before. It recognises the trackers by their
script file (`statustracker-*.js`); were gradio to rename it, the page would only be as busy as
gradio makes it (tests/gui measure the page's frame rate, so that would be noticed).
"""

from __future__ import annotations

from typing import Any

PAGE_SCRIPT = b"""<script>
(() => {
  const frame = window.requestAnimationFrame.bind(window);
  const cancel = window.cancelAnimationFrame.bind(window);
  const waiting = new Map();
  let next = -1;
  window.requestAnimationFrame = (callback) => {
    if (!(new Error().stack || "").includes("/statustracker-")) return frame(callback);
    const id = next--;
    waiting.set(id, setTimeout(() => waiting.set(id, -frame((t) => {
      waiting.delete(id); callback(t);
    })), 250));
    return id;
  };
  window.cancelAnimationFrame = (id) => {
    if (id >= 0) return cancel(id);
    const pending = waiting.get(id);
    waiting.delete(id);
    if (pending === undefined) return;
    if (pending < 0) cancel(-pending); else clearTimeout(pending);
  };
})();
</script>"""


def with_page_script(app: Any) -> Any:
    """An ASGI app answering like `app`, with PAGE_SCRIPT first in the <head> of its HTML
    pages."""

    async def serve(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await app(scope, receive, send)
            return
        start: dict | None = None
        body: list[bytes] = []

        async def hold(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if not headers.get(b"content-type", b"").startswith(b"text/html") \
                        or b"content-encoding" in headers:
                    await send(message)
                    return
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            page = b"".join(body).replace(b"<head>", b"<head>" + PAGE_SCRIPT, 1)
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            headers.append((b"content-length", str(len(page)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": page})

        await app(scope, receive, hold)

    return serve
