"""What the GUI costs: how soon its page is served after `faceforge gui` starts, and how much a
browser watching a training job (Train tab open: progress, preview, graph, Analysis) slows the
training, against the same training with no GUI at all.

    .venv/bin/python benchmarks/gui_cost.py
    .venv/bin/python benchmarks/gui_cost.py --windows 10 --window-s 40
    .venv/bin/python benchmarks/gui_cost.py --save-interval 25   # views refreshed 10x as often

Training: `quick`, batch 16, bf16, saving (with preview) every --save-interval iterations (250,
train's own default), on faces of lp_d18/lp_d19 (every 2nd frame): one long job, measured in
alternating windows (A/B, so the machine's own drift cancels out): *watched*, the GUI server and
Debian's Chromium (through Playwright, as in the tests) showing its Train tab, both on this
machine; and *alone*, the GUI server and the browser stopped (SIGSTOP: they take no CPU at all,
as with no GUI). Each window's first seconds are left out (a resumed browser catches up on its
timers). A window holding two saves or more is timed over whole save cycles (so every window
holds the same work); otherwise from iteration to iteration, the steps that hold a save left
out (the GUI's work after a save is done while the next steps run, so it counts). The CPU time
the GUI server and the browser used in the watched windows is reported as a share of the
machine's.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.gui.browser: the same GUI launcher as the tests

from faceforge.jobs.manager import JobManager  # noqa: E402
from faceforge.machine import cpu_description  # noqa: E402
from tests.gui.browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    SECRET,
    GuiPage,
    free_port,
    running_gui,
)

DATA = REPO.parent / "shared" / "data" / "video"


def startup_seconds(workspace: Path) -> tuple[float, float]:
    """Seconds from `faceforge gui` starting to its first answer (the self-reloading
    "starting" page, 503) and to the GUI's own page (200)."""
    port = free_port()
    command = [sys.executable, "-m", "faceforge.cli", "gui", "--workspace", str(workspace),
               "--port", str(port), "--auth", SECRET]
    request = Request(f"http://127.0.0.1:{port}/",
                      headers={"Cookie": f"faceforge_token={SECRET}"})
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    first = None
    try:
        while time.monotonic() - started < 120:
            try:
                with urlopen(request, timeout=5) as response:
                    response.read()
                now = time.monotonic() - started
                return (first if first is not None else now), now
            except HTTPError as error:
                if error.code != 503:
                    raise
                if first is None:
                    first = time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the GUI did not answer within 120 s")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields from the 3rd (state) on


def watcher_cpu_seconds(gui_pid: int) -> tuple[float, float]:
    """CPU seconds used so far by the GUI server (its session) and by the browser (processes
    descended from this script whose command line names chromium)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents, used = {}, [0.0, 0.0]
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = fields
            parents[int(entry.name)] = int(fields[1])
    for pid, fields in stats.items():
        seconds = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        if int(fields[3]) == gui_pid:  # the GUI's session
            used[0] += seconds
        elif pid in browser_pids(parents):
            used[1] += seconds
    return used[0], used[1]


def browser_pids(parents: dict[int, int] | None = None) -> set[int]:
    """The Chromium processes this script started (through Playwright)."""
    if parents is None:
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
                parents[int(entry.name)] = int(fields[1])
    found = set()
    for pid in parents:
        ancestor = pid
        while ancestor > 1 and ancestor != os.getpid():
            ancestor = parents.get(ancestor, 1)
        if ancestor != os.getpid():
            continue
        try:
            if b"chromium" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except OSError:
            pass
    return found


class IterationClock:
    """When the training finished each iteration and saved its model, from its events (each
    stamped by the worker when it happened), read every 0.2 s on a thread of its own."""

    def __init__(self, job: Any) -> None:
        self.job, self.offset, self.saves, self.steps = job, 0, [], []
        self.running = True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while self.running:
            new, self.offset = self.job.read_events(self.offset)
            self.saves += [(e["t"], e["iteration"]) for e in new
                           if e.get("kind") == "saved" and e.get("what") == "model"]
            self.steps += [(e["t"], e["done"]) for e in new if e.get("kind") == "progress"]
            time.sleep(0.2)

    def rate(self, start: float, end: float) -> tuple[float, int]:
        """Iterations per second in [start, end] (wall clock), and the saves in it. With two
        saves or more: between the first and the last (whole save cycles, so each window holds
        the same work). Otherwise from iteration to iteration, leaving out the step that holds
        a save (writing the model is the training's own cost, and one save more or less would
        move a short window's speed by several percent); what the GUI does after a save, it does
        while the next steps run, so it is counted."""
        while self.running and (not self.steps or self.steps[-1][0] < end):
            time.sleep(0.2)
        saves = [(t, i) for t, i in self.saves if start <= t <= end]
        if len(saves) >= 2:
            return (saves[-1][1] - saves[0][1]) / (saves[-1][0] - saves[0][0]), len(saves)
        steps = [(t, i) for t, i in self.steps if start <= t <= end]
        done = seconds = 0.0
        for (t0, i0), (t1, i1) in itertools.pairwise(steps):
            if not any(t0 < t <= t1 for t, _ in saves):
                done, seconds = done + i1 - i0, seconds + t1 - t0
        if seconds <= 0:
            raise RuntimeError("no iterations in a window: make --window-s longer")
        return done / seconds, len(saves)

    def stop(self) -> None:
        self.running = False


def pause(pids: set[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def gui_pids(gui_pid: int) -> set[int]:
    """The GUI server's processes (its session: it starts its own)."""
    return {int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()
            and (fields := _stat(int(e.name))) is not None and int(fields[3]) == gui_pid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=8, help="windows of each kind")
    parser.add_argument("--window-s", type=float, default=45.0)
    parser.add_argument("--settle-s", type=float, default=8.0,
                        help="seconds left out at the start of each window")
    parser.add_argument("--save-interval", type=int, default=250,
                        help="the training saves (and the GUI refreshes its views) every N "
                        "iterations (default 250, train's own default; 25: ten times as often)")
    parser.add_argument("--startup-only", action="store_true",
                        help="only measure how soon the page is served")
    args = parser.parse_args()
    print(f"{cpu_description()}; {time.strftime('%Y-%m-%d %H:%M')}")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "workspace"
        starts = [startup_seconds(workspace) for _ in range(3)]
        for what, values in (("first page (starting, reloads itself)", [s[0] for s in starts]),
                             ("the GUI's page", [s[1] for s in starts])):
            print(f"{what} served after start: {' '.join(f'{v:.1f}' for v in values)} s "
                  f"(median {statistics.median(values):.1f} s)", flush=True)
        if args.startup_only:
            return
        manager = JobManager(workspace)
        for side, clip in (("a", "lp_d18.mp4"), ("b", "lp_d19.mp4")):
            job = manager.submit("extract", {"input": str(DATA / clip), "output": f"faces/{side}",
                                             "alignments": f"{side}.db", "extract_every_n": 2})
            while not job.status().finished:
                manager.poll()
                time.sleep(0.5)
        job = manager.submit("train", {"input_a": "faces/a", "input_b": "faces/b",
                                       "model_dir": "models/bench", "trainer": "quick",
                                       "batch_size": 16, "iterations": 10 ** 6,
                                       "save_interval": args.save_interval, "write_image": True,
                                       "precision": "bf16", "cpu_kernels": "faceforge"})
        manager.poll()  # started here: the worker is this script's child, not the GUI's
        clock = IterationClock(job)
        rates: dict[str, list[float]] = {"alone": [], "watched": []}
        shares: list[tuple[float, float]] = []
        try:
            with running_gui(workspace) as (url, process, _), sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                     args=CHROMIUM_ARGS)
                gui = GuiPage(browser.new_page(), url)
                gui.open()
                gui.tab("Train")
                gui.wait_text("train-progress", "iteration", timeout_s=300)
                watchers = gui_pids(process.pid) | browser_pids()
                for number in range(2 * args.windows):
                    kind = ("watched", "alone")[number % 2]
                    if kind == "alone":
                        pause(watchers, signal.SIGSTOP)
                    start, started = time.time(), time.monotonic()
                    before = watcher_cpu_seconds(process.pid)
                    time.sleep(args.window_s)
                    end, ended = time.time(), time.monotonic()
                    after = watcher_cpu_seconds(process.pid)
                    if kind == "alone":
                        pause(watchers, signal.SIGCONT)
                    else:
                        machine = (ended - started) * (os.cpu_count() or 1)
                        shares.append(((after[0] - before[0]) / machine,
                                       (after[1] - before[1]) / machine))
                    rate, saves = clock.rate(start + args.settle_s, end)
                    rates[kind].append(16 * rate)
                    print(f"window {number + 1} ({kind}): {rates[kind][-1]:.1f} EGs/s, "
                          f"{saves} saves", flush=True)
                browser.close()
        finally:
            clock.stop()
            manager.stop(job.id)
            while not job.status().finished:
                manager.poll()
                time.sleep(0.5)
    alone = statistics.median(rates["alone"])
    watched = statistics.median(rates["watched"])
    pairs = [w / a - 1 for w, a in zip(rates["watched"], rates["alone"], strict=True)]
    print("\n| training quick, batch 16 | EGs/s (median) | vs alone | windows |"
          "\n|---|---:|---:|---|")
    for kind, median in (("alone: no GUI (GUI server and browser stopped)", alone),
                         ("watched: GUI server and browser on the Train tab, this machine",
                          watched)):
        runs = rates["alone" if kind.startswith("alone") else "watched"]
        print(f"| {kind} | {median:.1f} | {median / alone - 1:+.1%} | "
              f"{' '.join(f'{v:.1f}' for v in runs)} |")
    print(f"\nwatched vs the alone window after it, each pair: "
          f"{' '.join(f'{p:+.1%}' for p in pairs)} (median {statistics.median(pairs):+.1%})")
    print(f"CPU share in the watched windows (of the machine's {os.cpu_count()} cores): GUI "
          f"server {statistics.median(s[0] for s in shares):.1%}, browser "
          f"{statistics.median(s[1] for s in shares):.1%}")


if __name__ == "__main__":
    main()
