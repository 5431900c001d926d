"""A job's folder: what it is, how it stands, what it reported, what it printed.

    jobs/<id>/job.json      the request: command, option values, the equivalent command line
    jobs/<id>/status.json   state (queued, running, done, failed, stopped), pid, times, message
    jobs/<id>/events.jsonl  the structured events, one JSON object a line, appended
    jobs/<id>/log.txt       the worker's own log (what the CLI would print)
    jobs/<id>/result.json   the library call's summary once it finished

job.json, status.json and result.json are replaced atomically, so a reader sees the old or the
new file whole. events.jsonl only grows, one whole line per write; a reader keeps its byte
offset and takes complete lines only.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faceforge.errors import FormatError
from faceforge.io.files import append_text, atomic_write

STATES = ("queued", "running", "done", "failed", "stopped")
FINISHED = ("done", "failed", "stopped")


@dataclass
class JobStatus:
    state: str = "queued"
    pid: int | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    message: str = ""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def duration_s(self, now: float | None = None) -> float | None:
        if self.started is None:
            return None
        return (self.ended or now or time.time()) - self.started


def new_job_id(command: str) -> str:
    """Sortable by creation time (to the millisecond), unique: `20261129-081502123-train-3f9a`,
    and `...-tools-sort-3f9a` for a tool."""
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    name = "-".join(command.split())
    return f"{stamp}{int(now * 1000) % 1000:03d}-{name}-{secrets.token_hex(2)}"


class JobFolder:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def id(self) -> str:
        return self.path.name

    # -- the request ---------------------------------------------------------------------

    @classmethod
    def create(cls, jobs_dir: Path, command: str, values: dict[str, Any],
               command_line: str) -> JobFolder:
        jobs_dir.mkdir(parents=True, exist_ok=True)
        while True:
            path = jobs_dir / new_job_id(command)
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        job = cls(path)
        atomic_write(path / "job.json", json.dumps(
            {"command": command, "values": values, "command_line": command_line}, indent=1))
        job.write_status(JobStatus())
        return job

    def request(self) -> dict[str, Any]:
        return self._read_json("job.json")

    @property
    def command(self) -> str:
        return self.request()["command"]

    # -- status ----------------------------------------------------------------------------

    def status(self) -> JobStatus:
        data = self._read_json("status.json")
        known = {k: v for k, v in data.items() if k in JobStatus.__dataclass_fields__}
        return JobStatus(**known)

    def write_status(self, status: JobStatus) -> None:
        atomic_write(self.path / "status.json", json.dumps(asdict(status), indent=1),
                     durable=False)

    def update_status(self, **changes: Any) -> JobStatus:
        status = self.status()
        for key, value in changes.items():
            setattr(status, key, value)
        self.write_status(status)
        return status

    # -- events, log, result ---------------------------------------------------------------

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def log_path(self) -> Path:
        return self.path / "log.txt"

    def append_events(self, events: list[dict[str, Any]]) -> None:
        if events:
            append_text(self.events_path, "".join(json.dumps(e) + "\n" for e in events))

    def read_events(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """The complete event lines after byte `offset`, and the offset to ask from next."""
        try:
            with open(self.events_path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return [], offset
        end = data.rfind(b"\n") + 1  # a line still being written is left for next time
        events = []
        for line in data[:end].splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events, offset + end

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 64 * 1024))
                text = handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        # tqdm redraws its bar with carriage returns: show the last state of each line.
        shown = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
        return "\n".join(shown[-lines:])

    def write_result(self, result: dict[str, Any]) -> None:
        atomic_write(self.path / "result.json", json.dumps(result, indent=1, default=str),
                     durable=False)

    def result(self) -> dict[str, Any] | None:
        try:
            return self._read_json("result.json")
        except FormatError:
            return None

    def _read_json(self, name: str) -> dict[str, Any]:
        try:
            data = json.loads((self.path / name).read_text())
        except (OSError, ValueError) as exc:
            raise FormatError(f"job {self.id} has no readable {name} ({exc})",
                              "delete the job's folder") from None
        if not isinstance(data, dict):
            raise FormatError(f"job {self.id}'s {name} is damaged", "delete the job's folder")
        return data
