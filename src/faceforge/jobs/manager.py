"""Jobs of a workspace: submit, queue (one job per device at a time), start, stop, reattach.

Each job runs `python -m faceforge.jobs.worker` in its own process group, so an error, a crash
or running out of memory in a job never takes the front end down, and a job outlives the
front end: a new JobManager on the same workspace finds the running jobs (their pid is alive
and runs their folder) and marks the jobs whose process died as failed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from faceforge.errors import UsageError
from faceforge.jobs.folder import JobFolder
from faceforge.jobs.kinds import build_config, command_line, kind_of

log = logging.getLogger(__name__)

STOP_GRACE_S = 60.0  # a training save of the largest models takes a few seconds


def _alive(pid: int | None, folder: Path) -> bool:
    """Whether `pid` still runs the worker of `folder` (a reused pid does not count)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path(f"/proc/{pid}")
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return True  # no /proc to ask: trust the pid
    return state != "Z" and str(folder).encode() in cmdline


class JobManager:
    """The jobs under `workspace/jobs`. Call `poll()` regularly (the GUI does, on a timer
    thread): it reaps finished workers and starts the next queued job when a device is free."""

    def __init__(self, workspace: Path, python: str | None = None) -> None:
        self.workspace = Path(workspace)
        self.jobs_dir = self.workspace / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.python = python or sys.executable
        self.processes: dict[str, subprocess.Popen] = {}  # workers this process started
        self.lock = threading.RLock()
        self.reattach()

    # -- listing ---------------------------------------------------------------------------

    def jobs(self) -> list[JobFolder]:
        """Every job, newest first."""
        folders = [p for p in self.jobs_dir.iterdir() if (p / "job.json").exists()]
        return [JobFolder(p) for p in sorted(folders, key=lambda p: p.name, reverse=True)]

    def job(self, job_id: str) -> JobFolder:
        path = self.jobs_dir / job_id
        if "/" in job_id or job_id.startswith(".") or not (path / "job.json").exists():
            raise UsageError(f"no job {job_id!r}")
        return JobFolder(path)

    # -- submitting and running ------------------------------------------------------------

    def submit(self, command: str, values: dict[str, Any]) -> JobFolder:
        """Queue a job; its options are checked first (UsageError, nothing queued)."""
        build_config(command, values)
        with self.lock:
            job = JobFolder.create(self.jobs_dir, command, values, command_line(command, values))
            log.info("queued %s: %s", job.id, job.request()["command_line"])
        self.poll()
        return job

    def poll(self) -> None:
        with self.lock:
            for job_id, process in list(self.processes.items()):
                if process.poll() is not None:
                    del self.processes[job_id]
                    self._settle(JobFolder(self.jobs_dir / job_id), process.returncode)
            # Several managers may watch one workspace (a GUI, a script): the queue is
            # decided under a lock on the jobs folder, so a job never starts twice.
            with open(self.jobs_dir / ".queue.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    self._start_queued()
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _start_queued(self) -> None:
        busy = {self._device(job) for job in self.jobs() if job.status().state == "running"}
        for job in reversed(self.jobs()):  # oldest first
            if job.status().state != "queued":
                continue
            device = self._device(job)
            if device is None or device not in busy:
                self._start(job)
                if device is not None:
                    busy.add(device)

    def _device(self, job: JobFolder) -> str | None:
        """The device a job needs to itself, or None for light jobs that run at once."""
        request = job.request()
        if not kind_of(request["command"]).uses_device:
            return None
        return request["values"].get("device") or "default"

    def _start(self, job: JobFolder) -> None:
        log_file = open(job.log_path, "ab")  # the worker's stdout and stderr
        try:
            process = subprocess.Popen(
                [self.python, "-m", "faceforge.jobs.worker", str(job.path)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.workspace)
        finally:
            log_file.close()
        self.processes[job.id] = process
        job.update_status(state="running", pid=process.pid, started=time.time())
        log.info("started %s (pid %d)", job.id, process.pid)

    def _settle(self, job: JobFolder, returncode: int | None) -> None:
        """A worker is gone: if it could not say how it ended, say it for it."""
        status = job.status()
        if status.finished:
            return
        tail = job.log_tail(5).strip().splitlines()
        last = tail[-1] if tail else ""
        how = f"killed by signal {-returncode}" if returncode and returncode < 0 else \
            f"exit code {returncode}" if returncode is not None else "its process is gone"
        job.update_status(state="failed", ended=time.time(), exit_code=returncode,
                          message=f"the job's process ended without finishing ({how})"
                                  + (f": {last}" if last else ""))

    def reattach(self) -> None:
        """After a restart: running jobs whose worker is alive stay running (and are watched
        through their folder); those whose worker died are marked failed."""
        with self.lock:
            for job in self.jobs():
                status = job.status()
                if status.state == "running" and job.id not in self.processes \
                        and not _alive(status.pid, job.path):
                    self._settle(job, None)

    def watch(self) -> None:
        """One pass for jobs this process did not start (reattached): notice when they end."""
        with self.lock:
            for job in self.jobs():
                status = job.status()
                if status.state == "running" and job.id not in self.processes \
                        and not _alive(status.pid, job.path):
                    time.sleep(0.2)  # the worker may be writing its final status right now
                    if not job.status().finished:
                        self._settle(job, None)

    # -- stopping --------------------------------------------------------------------------

    def stop(self, job_id: str, grace_s: float = STOP_GRACE_S) -> None:
        """Ask a job to stop as Ctrl-C would (it saves, commits or cleans up), and kill it only
        if it has not ended `grace_s` seconds later. A queued job is simply dropped."""
        job = self.job(job_id)
        status = job.status()
        if status.state == "queued":
            job.update_status(state="stopped", ended=time.time(), message="removed from queue")
            return
        if status.state != "running" or not status.pid:
            return
        self._signal(status.pid, signal.SIGINT)
        threading.Thread(target=self._force_after, args=(job, status.pid, grace_s),
                         daemon=True).start()

    def _force_after(self, job: JobFolder, pid: int, grace_s: float) -> None:
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if not _alive(pid, job.path):
                return
            time.sleep(0.2)
        log.warning("job %s did not stop in %.0f s: killing it", job.id, grace_s)
        self._signal(pid, signal.SIGKILL)
        time.sleep(0.5)
        if not job.status().finished:
            job.update_status(state="stopped", ended=time.time(), exit_code=-9,
                              message=f"did not stop within {grace_s:.0f} s and was killed")

    def save_now(self, job_id: str) -> None:
        """Ask a training job to save at its next iteration."""
        status = self.job(job_id).status()
        if status.state == "running" and status.pid:
            self._signal(status.pid, signal.SIGUSR1, group=False)

    @staticmethod
    def _signal(pid: int, sig: int, group: bool = True) -> None:
        try:
            if group:
                os.killpg(os.getpgid(pid), sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass
