"""What the GUI costs: how soon its page is served after `faceforge gui` starts, and how much a
browser watching a training job (Train tab open: preview, graph, Analysis polling) slows the
training, against the same job with no GUI at all, alternating.

    .venv/bin/python benchmarks/gui_cost.py
    .venv/bin/python benchmarks/gui_cost.py --rounds 4 --iterations 200

Training: `quick`, batch 16, on faces of lp_d18/lp_d19 (every 2nd frame), run as a GUI job
(its own worker process) in both cases; EGs/s from the job's result. The browser is Debian's
Chromium through Playwright, as in the tests.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
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


def watcher_cpu_seconds(gui_pid: int) -> float:
    """CPU seconds used so far by the GUI server (its session) and by the browser (processes
    descended from this script whose command line names chromium)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents, total = {}, 0.0
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = fields
            parents[int(entry.name)] = int(fields[1])

    def descends_from_me(pid: int) -> bool:
        while pid > 1:
            if pid == os.getpid():
                return True
            pid = parents.get(pid, 1)
        return False

    for pid, fields in stats.items():
        in_gui = int(fields[3]) == gui_pid  # session id
        browser = False
        if not in_gui and descends_from_me(pid):
            try:
                browser = b"chromium" in Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                pass
        if in_gui or browser:
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return total


def train_job(workspace: Path, iterations: int, name: str) -> float:
    manager = JobManager(workspace)
    job = manager.submit("train", {"input_a": "faces/a", "input_b": "faces/b",
                                   "model_dir": f"models/{name}", "trainer": "quick",
                                   "batch_size": 16, "iterations": iterations,
                                   "save_interval": 50, "write_image": True,
                                   "precision": "bf16", "cpu_kernels": "faceforge"})
    while not job.status().finished:
        manager.poll()
        time.sleep(0.5)
    if job.status().state != "done":
        raise RuntimeError(job.log_tail())
    return float(job.result()["result"]["egs_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=150)
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
        alone, watched, shares = [], [], []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=CHROMIUM_ARGS)
            for round_number in range(args.rounds):
                alone.append(train_job(workspace, args.iterations, f"alone{round_number}"))
                with running_gui(workspace) as (url, process, _):
                    gui = GuiPage(browser.new_page(), url)
                    gui.open()
                    gui.tab("Train")
                    cpu_before, started = watcher_cpu_seconds(process.pid), time.monotonic()
                    watched.append(train_job(workspace, args.iterations,
                                             f"watched{round_number}"))
                    elapsed = time.monotonic() - started
                    shares.append((watcher_cpu_seconds(process.pid) - cpu_before)
                                  / (elapsed * (os.cpu_count() or 1)))
                    gui.page.close()
                print(f"round {round_number + 1}: alone {alone[-1]:.1f} EGs/s, with the GUI "
                      f"watching {watched[-1]:.1f} EGs/s; the GUI and browser used "
                      f"{shares[-1]:.1%} of the CPUs meanwhile", flush=True)
            browser.close()
    a, w = statistics.median(alone), statistics.median(watched)
    print(f"\n| training quick, batch 16 | EGs/s (median) | runs |\n|---|---:|---|\n"
          f"| no GUI | {a:.1f} | {' '.join(f'{v:.1f}' for v in alone)} |\n"
          f"| GUI open on the Train tab | {w:.1f} | {' '.join(f'{v:.1f}' for v in watched)} |"
          f"\n\nwith the GUI: {w / a - 1:+.1%}; the GUI server and the browser used "
          f"{statistics.median(shares):.1%} of the machine's CPU time while training (median)")


if __name__ == "__main__":
    main()
