"""Access to the GUI: the secret on every route, the workspace as the only folder, limits."""

from __future__ import annotations

import os
import subprocess
import sys
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import HTTPCookieProcessor, Request, build_opener, urlopen

import pytest

from faceforge.errors import UsageError
from faceforge.gui.workspace import Workspace
from tests.gui.browser import SECRET, running_gui

pytestmark = pytest.mark.slow


def status(url: str, cookie: str | None = None, data: bytes | None = None,
           headers: dict | None = None) -> int:
    request = Request(url, data=data, headers=dict(headers or {}))
    if cookie:
        request.add_header("Cookie", f"faceforge_token={cookie}")
    try:
        with urlopen(request, timeout=30) as response:
            response.read()
            return response.status
    except HTTPError as error:
        return error.code


def test_every_route_wants_the_secret_and_files_stay_in_the_workspace(tmp_path):
    workspace = tmp_path / "ws"
    (tmp_path / "secret.txt").write_text("not for the GUI")
    with running_gui(workspace, max_upload_mb=1) as (url, _, log):
        inside = workspace / "outputs" / "result.txt"
        inside.write_text("a result")
        (workspace / "outputs" / "link.txt").symlink_to(tmp_path / "secret.txt")
        routes = ["/", "/config", "/gradio_api/info", "/theme.css", "/gradio_api/queue/status",
                  "/ff/live?tab=train",
                  f"/gradio_api/file={inside}", "/gradio_api/upload", "/favicon.ico"]
        for route in routes:
            assert status(url + route) == 401, route
            assert status(url + route, cookie="wrong") == 401, route
        assert status(url + "/", cookie=SECRET) == 200
        # The token in the URL sets the cookie and sends the browser on without it.
        jar = CookieJar()
        browser = build_opener(HTTPCookieProcessor(jar))
        with browser.open(f"{url}/?token={SECRET}", timeout=30) as response:
            assert response.status == 200 and "token" not in response.url
        assert [cookie.name for cookie in jar] == ["faceforge_token"]
        assert status(url + f"/gradio_api/file={inside}", cookie=SECRET) == 200
        for outside in ("/etc/passwd", str(tmp_path / "secret.txt"),
                        f"{workspace}/../secret.txt", str(workspace / "outputs" / "link.txt"),
                        str(workspace / "jobs")):
            code = status(url + "/gradio_api/file=" + quote(outside), cookie=SECRET)
            assert code in (403, 404), (outside, code)
        # An upload over the limit is refused and nothing of it is kept.
        boundary = "ffboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
                f"filename=\"big.mp4\"\r\nContent-Type: video/mp4\r\n\r\n").encode() + \
            os.urandom(3 << 20) + f"\r\n--{boundary}--\r\n".encode()
        code = status(url + "/gradio_api/upload", cookie=SECRET, data=body,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert code in (400, 413), code
        cached = [p for p in (workspace / ".cache").rglob("*") if p.is_file()
                  and p.stat().st_size > 1 << 20]
        assert cached == [] and list((workspace / "sources").iterdir()) == []
        assert "Traceback" not in log.read_text()


def test_a_non_local_address_without_a_password_is_refused(tmp_path):
    for extra in (["--listen", "0.0.0.0"], ["--listen", "192.168.1.5"],
                  ["--listen", "0.0.0.0", "--auth", "short"]):
        proc = subprocess.run([sys.executable, "-m", "faceforge.cli", "gui", "--workspace",
                               str(tmp_path / "ws"), *extra], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2, proc.stderr
        errors = [line for line in proc.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1 and "Traceback" not in proc.stderr


def test_paths_that_lead_out_of_the_workspace_are_refused(tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    (tmp_path / "elsewhere").mkdir()
    (workspace.root / "sources" / "out").symlink_to(tmp_path / "elsewhere")
    assert workspace.resolve("sources") == workspace.root / "sources"
    assert workspace.resolve(str(workspace.root / "faces")) == workspace.root / "faces"
    for text in ("..", "../elsewhere", "sources/../../elsewhere", "/etc/passwd",
                 "sources/out", "sources/out/x.mp4", str(tmp_path)):
        with pytest.raises(UsageError, match="outside the workspace"):
            workspace.resolve(text)


def test_uploads_keep_only_media_under_a_clean_name(tmp_path):
    workspace = Workspace.open(tmp_path / "ws")
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"x" * 100)
    stored = workspace.store_upload(upload, "../../evil/clip.mp4", 1000)
    assert stored == workspace.root / "sources" / "clip.mp4"
    again = tmp_path / "again.bin"
    again.write_bytes(b"y")
    assert workspace.store_upload(again, "clip.mp4", 1000).name == "clip-1.mp4"
    with pytest.raises(UsageError, match="not a video or photo"):
        workspace.store_upload(again, "script.sh", 1000)
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * 2000)
    with pytest.raises(UsageError, match="larger than the upload limit"):
        workspace.store_upload(big, "big.mp4", 1000)
    assert Path(big).exists() and not (workspace.root / "sources" / "big.mp4").exists()
