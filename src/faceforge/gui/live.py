"""The page's one light poll: what keeps the live views current at little cost to the job.

Every gradio event costs the browser a pass over the state of every component on the page
(several hundred: the generated forms), about 50 ms of a CPU-rendered page's time, and the
server a trip through its queue. On the training machine that time is taken from the training.
So the page does not refresh its views on a timer. It polls `ff/live` every POLL_SECONDS with a
plain request (no gradio event): the answer carries the system panel, the Train tab's progress
line, and for the shown tab a *key* (its job's id, state and how far its events and log have
grown; for the Train tab the preview's time, which changes at each save). The key lands in a
hidden field of the tab; only when it changes does the field's change event refresh the tab's
views through gradio. A training therefore costs a gradio event at each save, not one every
2 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import gradio as gr

POLL_SECONDS = 3.0
SYSTEM_EVERY_S = 5.0  # the system panel's numbers (and nvidia-smi) at most this often

# A frontend-only event (no server function, so no gradio queue and no loading states): asks
# `ff/live` for the shown tab and returns the values of the page's live outputs, keeping the
# last known value of those the answer leaves out.
POLL_JS = """
async () => {
  const live = window.faceforgeLive || (window.faceforgeLive = {values: INITIAL});
  const shown = document.querySelector('button.selected[id^="tab-"][id$="-button"]');
  const tab = shown ? shown.id.slice(4, -7) : "extract";
  try {
    const answer = await fetch("ff/live?tab=" + encodeURIComponent(tab), {cache: "no-store"});
    if (answer.ok) {
      const got = await answer.json();
      for (const [index, value] of Object.entries(got.values)) live.values[Number(index)] = value;
    }
  } catch (error) { /* the server is restarting: keep what is shown */ }
  return [...live.values];
}
"""


class LiveViews:
    """The outputs the poll sets, in order, and where each one's value comes from."""

    def __init__(self) -> None:
        self.outputs: list[Any] = []
        self._sources: list[tuple[str | None, Callable[[], Any]]] = []
        self._initial: list[Any] = []
        self._system: tuple[float, Any] = (-1e9, None)

    def text(self, component: Any, source: Callable[[], str], tab: str | None = None) -> None:
        """`component` shows `source()` (when `tab` is shown, or always when it is None)."""
        self.outputs.append(component)
        self._sources.append((tab, source))
        self._initial.append("")

    def system(self, component: Any, source: Callable[[], str]) -> None:
        """The system panel: polled like a text, read at most every SYSTEM_EVERY_S."""
        def cached() -> str:
            if time.monotonic() - self._system[0] >= SYSTEM_EVERY_S:
                self._system = (time.monotonic(), source())
            return self._system[1]
        self.text(component, cached)

    def key(self, tab: str, source: Callable[[], Any]) -> gr.Textbox:
        """A hidden field set to `source()` while `tab` is shown: its `.change` is the tab's
        refresh."""
        box = gr.Textbox(value="", visible=True, container=False, show_label=False,
                         elem_classes="ff-hidden", elem_id=f"{tab.lower()}-live-key")
        self.outputs.append(box)
        self._sources.append((tab, lambda: json.dumps(source(), default=str)))
        self._initial.append("")
        return box

    def poll(self) -> None:
        """Start the poll (once every live output is registered)."""
        gr.Timer(POLL_SECONDS).tick(None, outputs=self.outputs, show_progress="hidden",
                                    js=POLL_JS.replace("INITIAL", json.dumps(self._initial)))

    def answer(self, tab: str) -> dict[str, Any]:
        """What `ff/live?tab=TAB` answers: {"values": {output index: value}}."""
        values = {}
        for index, (only, source) in enumerate(self._sources):
            if only is None or only.lower() == tab.lower():
                values[index] = source()
        return {"values": values}
