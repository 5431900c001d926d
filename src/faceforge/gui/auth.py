"""Access to the GUI: every request must carry the secret, whatever route it asks for.

Loopback is not private on a shared server (every user of the machine can reach it), so even a
local GUI needs a secret: a generated token printed in the start-up URL, or the one given with
`--auth`. A browser proves it once, with `?token=...` in the URL (answered with a cookie and a
redirect to the same page without the token) or with HTTP Basic auth (any user name, the secret
as the password); scripts may send the cookie or Basic auth. Anything else gets 401.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

COOKIE = "faceforge_token"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def _same(given: str | None, secret: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), secret.encode())


class RequireSecret:
    """ASGI middleware in front of the whole app (pages, API, websockets, files)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]],
                 secret: str) -> None:
        self.app, self.secret = app, secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if _same(query.get("token"), self.secret) and scope["type"] == "http":
            await self._remember(scope, query, send)
            return
        if self._cookie(headers) or self._basic(headers):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "http.response.start", "status": 401, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"www-authenticate", b'Basic realm="faceforge"')]})
        await send({"type": "http.response.body",
                    "body": b"faceforge: open the URL the GUI printed when it started (it "
                            b"holds the access token), or log in with the --auth password\n"})

    def _cookie(self, headers: dict[str, str]) -> bool:
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and _same(value, self.secret):
                return True
        return False

    def _basic(self, headers: dict[str, str]) -> bool:
        kind, _, encoded = headers.get("authorization", "").partition(" ")
        if kind.lower() != "basic":
            return False
        try:
            _, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except ValueError:
            return False
        return _same(password, self.secret)

    async def _remember(self, scope: Scope, query: dict[str, str], send: Send) -> None:
        """Set the cookie and send the browser to the same page without the token in its
        address (so it does not linger in the history or in screenshots)."""
        rest = {k: v for k, v in query.items() if k != "token"}
        location = scope.get("root_path", "") + scope.get("path", "/")
        if rest:
            location += "?" + urlencode(rest)
        cookie = f"{COOKIE}={self.secret}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303, "headers": [
            (b"location", location.encode("latin-1")),
            (b"set-cookie", cookie.encode("latin-1")),
            (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})
