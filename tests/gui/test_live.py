"""What keeps the page from taking CPU from a job: the light poll (gui/live.py) and the page
script that slows gradio's idle redraws (gui/calm.py)."""

from __future__ import annotations

import json
import time

import numpy as np

from faceforge.gui.calm import PAGE_SCRIPT, with_page_script
from faceforge.gui.live import LiveViews
from tests.gui.browser import GuiPage, running_gui
from tests.gui.test_starting import call, http


def test_the_poll_answers_the_shown_tab_and_the_system_panel_at_most_every_few_seconds():
    live = LiveViews()
    reads = []

    def system() -> str:
        reads.append(1)
        return f"cpu {len(reads)}"

    # Components are only collected here; LiveViews.key makes a gradio field, so the keys'
    # sources are registered as texts (the same bookkeeping).
    live.text("train-progress", lambda: "12 of 100 iterations", tab="Train")
    live.text("extract-key", lambda: '["x1", "running"]', tab="Extract")
    live.system("system-panel", system)
    assert live.answer("train") == {"values": {0: "12 of 100 iterations", 2: "cpu 1"}}
    assert live.answer("extract") == {"values": {1: '["x1", "running"]', 2: "cpu 1"}}
    assert len(reads) == 1  # read once, then kept for SYSTEM_EVERY_S
    assert live.answer("files") == {"values": {2: "cpu 1"}}


def _html_app(body: bytes, content_type: bytes, extra: list | None = None):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
            *(extra or [])]})
        await send({"type": "http.response.body", "body": body[:10], "more_body": True})
        await send({"type": "http.response.body", "body": body[10:]})
    return app


def test_the_page_script_goes_first_in_html_pages_and_nothing_else_changes():
    page = b"<!doctype html><html><head><meta charset='utf-8'></head><body></body></html>"
    start, *bodies = call(with_page_script(_html_app(page, b"text/html; charset=utf-8")),
                          http("/"))
    served = b"".join(message["body"] for message in bodies)
    assert served.startswith(b"<!doctype html><html><head>" + PAGE_SCRIPT + b"<meta")
    assert dict(start["headers"])[b"content-length"] == str(len(served)).encode()
    for content_type, extra in ((b"application/json", None),
                                (b"text/html", [(b"content-encoding", b"gzip")])):
        sent = call(with_page_script(_html_app(page, content_type, extra)), http("/"))
        assert b"".join(m.get("body", b"") for m in sent[1:]) == page


def test_an_idle_page_draws_a_few_frames_a_second_and_sends_no_gradio_events(tmp_path,
                                                                             chromium):
    """Gradio's page alone redraws 60 times a second and each of its events costs the browser a
    pass over every component: on the training machine that is taken from the training."""
    with running_gui(tmp_path / "ws") as (url, _, _log):
        page = chromium.new_page()
        # Counts the frames really asked for (runs before the page's own scripts, so the
        # page script's slowed requests reach it only when they are made).
        page.add_init_script("""window.ffFrames = 0;
            const frame = window.requestAnimationFrame.bind(window);
            window.requestAnimationFrame = (f) => { window.ffFrames++; return frame(f); };""")
        gui = GuiPage(page, url)
        events, polls = [], []
        page.on("request", lambda r: events.append(r.url) if "/queue/join" in r.url else
                polls.append(r.url) if "/ff/live" in r.url else None)
        gui.open()
        gui.tab("Train")
        gui.wait_text("train-progress", "no training yet", timeout_s=30)
        time.sleep(2)
        events.clear(), polls.clear()
        before = page.evaluate("() => window.ffFrames")
        time.sleep(10)
        frames = (page.evaluate("() => window.ffFrames") - before) / 10
        assert frames < 12, f"{frames:.0f} frames/s (gradio alone: 60)"
        assert events == [], events  # nothing changed: no gradio event
        assert 2 <= len(polls) <= 5, polls  # the light poll, every 3 s
        assert gui.text("system-panel")


def test_the_loss_log_is_read_once_and_again_only_when_replaced(tmp_path):
    from faceforge.gui import views
    from faceforge.io.files import atomic_write

    log = tmp_path / "loss_log.jsonl"
    lines = [json.dumps({"iteration": i, "loss_a": 1.0 / i, "loss_b": 2.0 / i}) for i in (1, 2)]
    log.write_text("\n".join(lines) + "\n")
    assert views.read_loss_log(tmp_path)[0] == [(1, 1.0, 2.0), (2, 0.5, 1.0)]
    with open(log, "a") as file:  # a save's scores, and a line being written
        file.write(json.dumps({"iteration": 2, "identity/a2b_to_b": 0.5}) + "\n")
        file.write('{"iteration": 3, "loss_a"')
    losses, scores = views.read_loss_log(tmp_path)
    assert len(losses) == 2 and scores == [{"iteration": 2, "identity/a2b_to_b": 0.5}]
    with open(log, "a") as file:
        file.write(': 0.3, "loss_b": 0.6}\n')
    assert views.read_loss_log(tmp_path)[0][-1] == (3, 0.3, 0.6)
    atomic_write(log, lines[0] + "\n")  # a resumed run cuts the log back to its last save
    assert views.read_loss_log(tmp_path) == ([(1, 1.0, 2.0)], [])
    iterations, scored = views.score_series(tmp_path)
    assert iterations == [] and scored == {}


def test_the_graph_is_a_picture_of_each_side_raw_and_smoothed():
    from faceforge.gui import views
    from faceforge.gui.train_views import _loss_plot

    history = [(i, 1.0 / i, 2.0 / i) for i in range(1, 5001)]
    iterations, curves = views.graph_series(history, 0.9, 1000, False)
    assert list(curves) == ["A", "B", "A smoothed", "B smoothed"]
    assert len(iterations) <= views.MAX_POINTS and iterations[0] > 4000
    assert np.all(curves["A smoothed"] > 0)
    logged = views.graph_series(history[:100], 0.0, 0, True)[1]
    assert list(logged) == ["A", "B"] and np.isclose(logged["A"][0], 0.0)
    picture = _loss_plot(iterations, curves, False)
    assert picture.shape == (300, 900, 3) and picture.dtype == np.uint8
    blue = np.all(picture == (31, 119, 180), axis=-1)  # the smoothed A line is drawn
    assert blue.sum() > 500
    assert _loss_plot(np.zeros(0), {}, False) is None
