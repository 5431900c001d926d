"""A real browser for the GUI tests: Debian's Chromium driven by Playwright (never a
downloaded browser), and the GUI served by `faceforge gui` in its own process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SECRET = "browser-test-secret"
# What Debian's Chromium needs to run headless as root in a container, and nothing that
# reaches the network on its own.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_gui(workspace: Path, *extra: str, secret: str | None = SECRET,
                max_upload_mb: int | None = None, stop_jobs: bool = True):
    """`faceforge gui` in a subprocess; yields (base URL, process, the output it printed).
    Leaving it ends the GUI and (unless `stop_jobs` is False) the jobs it left running."""
    port = free_port()
    command = [sys.executable, "-m", "faceforge.cli", "gui", "--workspace", str(workspace),
               "--port", str(port), *extra]
    if secret:
        command += ["--auth", secret]
    if max_upload_mb:
        command += ["--max-upload-mb", str(max_upload_mb)]
    log = workspace.parent / f"gui-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while time.monotonic() - started < 90:
            if process.poll() is not None:
                raise AssertionError(f"the GUI exited: {log.read_text()[-3000:]}")
            try:
                urlopen(Request(url + "/", headers={"Cookie": f"faceforge_token={secret}"}),
                        timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError(f"the GUI did not answer: {log.read_text()[-3000:]}")
        yield url, process, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 15)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
        if stop_jobs:
            _stop_jobs(workspace)


def _stop_jobs(workspace: Path) -> None:
    """Jobs run in their own process groups and outlive the GUI by design: a test that
    leaves one running would leave it training; kill them."""
    import json

    for status in (workspace / "jobs").glob("*/status.json"):
        try:
            data = json.loads(status.read_text())
            if data.get("state") == "running" and data.get("pid"):
                os.killpg(os.getpgid(data["pid"]), 9)
        except (OSError, ValueError):
            continue


@pytest.fixture(scope="session")
def _browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: ./setup.sh installs it (apt-get "
                    "install chromium), as .ci/run does")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class _Pages:
    """The browser as a test uses it: pages it opens are closed when the test ends (a page
    left open on a stopped GUI keeps trying to reconnect, using CPU the rest of the suite
    needs)."""

    def __init__(self, browser: Any) -> None:
        self.browser, self.pages = browser, []

    def new_page(self, **kwargs: Any) -> Any:
        page = self.browser.new_page(**kwargs)
        self.pages.append(page)
        return page

    def close(self) -> None:
        for page in self.pages:
            try:
                page.context.close()
            except Exception:  # already closed with its test's failure
                pass


@pytest.fixture
def chromium(_browser):
    pages = _Pages(_browser)
    yield pages
    pages.close()


class GuiPage:
    """The GUI's page with the few gestures the tests need."""

    def __init__(self, page: Any, url: str) -> None:
        self.page, self.url = page, url
        self.outside: list[str] = []
        self.console: list[str] = []
        page.on("request", self._record)
        page.on("console", lambda message: self.console.append(message.text))
        page.set_default_timeout(30_000)

    def _record(self, request: Any) -> None:
        if not request.url.startswith((self.url, "data:", "blob:")):
            self.outside.append(request.url)

    def open(self, secret: str = SECRET) -> None:
        self.page.goto(f"{self.url}/?token={secret}")
        self.page.wait_for_selector("#system-panel")

    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name, exact=True).click()

    def open_group(self, tab_id: str, group: str) -> None:
        """Unfold a form's accordion (only the data options start unfolded)."""
        self.page.locator(f"#{tab_id}").get_by_text(f"{group} options", exact=True).click()

    def fill(self, elem_id: str, value: str) -> None:
        """A textbox, number or dropdown that takes typed values."""
        box = self.page.locator(f"#{elem_id} input, #{elem_id} textarea").first
        box.click()
        box.fill(str(value))
        box.press("Enter")
        self.page.keyboard.press("Escape")

    def choose(self, elem_id: str, value: str) -> None:
        box = self.page.locator(f"#{elem_id} input").first
        box.click()
        box.fill(value)
        self.page.get_by_role("option", name=value, exact=True).first.click()

    def click(self, elem_id: str) -> None:
        self.page.locator(f"#{elem_id}").first.click()

    def text(self, elem_id: str) -> str:
        return self.page.locator(f"#{elem_id}").first.inner_text()

    def wait_text(self, elem_id: str, *wanted: str, timeout_s: float = 240) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.text(elem_id)
            if all(w in text for w in wanted):
                return text
            self.page.wait_for_timeout(500)
        raise AssertionError(f"#{elem_id} never showed {wanted}: {self.text(elem_id)!r}; "
                             f"{self.problems()}")

    def wait_for(self, selector: str, timeout_s: float = 240) -> None:
        try:
            self.page.wait_for_selector(selector, timeout=timeout_s * 1000)
        except Exception as exc:
            raise AssertionError(f"{selector} never appeared; {self.problems()}") from exc

    def wait_image(self, elem_id: str, timeout_s: float = 240) -> None:
        """Until the image component shows a loaded picture (scrolled into view: the page
        loads images lazily)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.page.locator(f"#{elem_id}").scroll_into_view_if_needed()
            if self.page.evaluate(
                    "id => { const i = document.querySelector('#' + id + ' img');"
                    " return !!i && i.complete && i.naturalWidth > 0; }", elem_id):
                return
            self.page.wait_for_timeout(1000)
        raise AssertionError(f"#{elem_id} never showed a picture; {self.problems()}")

    def problems(self) -> str:
        """What the page said went wrong: error toasts and console errors (and a screenshot
        in $FACEFORGE_SCREENSHOTS, if set)."""
        shots = os.environ.get("FACEFORGE_SCREENSHOTS")
        if shots:
            self.screenshot(Path(shots) / "failure.png")
        toasts = self.page.locator(".toast-body").all_inner_texts()
        errors = [m for m in self.console if "error" in m.lower()]
        return f"toasts: {toasts}; console errors: {errors[-5:]}"

    def screenshot(self, path: Path) -> None:
        self.page.screenshot(path=str(path), full_page=True)
