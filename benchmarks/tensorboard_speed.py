"""Per-step cost of the training loop's TensorBoard logging: the hand-written event writer that
faceforge used until the switch to tensorboardX (a copy is kept below) against the current
`faceforge.io.tensorboard.ScalarWriter` (tensorboardX's synchronous `EventsWriter`), and for
reference tensorboardX's two threaded writers: `FileWriter.add_summary` with one event per step,
and `SummaryWriter.add_scalar` once per tag.

Each step logs ``loss/a`` and ``loss/b``, with a flush every 250 steps, as `LossLog` does. The
writers take turns inside one process (the order rotates every round), so load from other
tenants hits them alike; the table gives the median over rounds and the spread (min-max).

    PYTHONPATH=src .venv/bin/python benchmarks/tensorboard_speed.py [--rounds 15] [--steps 2000]

"caller µs/step" is the wall time the training loop spends in the logging calls (add_scalars,
and flush, which fsyncs in tensorboardX); "CPU µs/step" is the process CPU time of those steps
plus the final close, so the work of tensorboardX's writer threads is counted too.
"""

from __future__ import annotations

import argparse
import platform
import socket
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from faceforge.io.tensorboard import ScalarWriter
from faceforge.machine import cpu_description


# ---------------------------------------------------------------------------------------------
# The hand-written writer replaced by tensorboardX (from faceforge.io.tensorboard before the
# switch), kept here only to compare against.
# ---------------------------------------------------------------------------------------------
def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def _crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, summary: bytes | None = None,
           file_version: str | None = None) -> bytes:
    out = b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step)
    if file_version is not None:
        out += _field_bytes(3, file_version.encode())
    if summary is not None:
        out += _field_bytes(5, summary)
    return out


def _scalar_summary(values: dict[str, float]) -> bytes:
    out = b""
    for tag, value in values.items():
        entry = _field_bytes(1, tag.encode()) + b"\x15" + struct.pack("<f", float(value))
        out += _field_bytes(1, entry)
    return out


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", _masked_crc(length)) + data + struct.pack(
        "<I", _masked_crc(data))


class HandWrittenScalarWriter:
    """The former faceforge writer: TFRecord framing and protobuf fields written by hand."""

    def __init__(self, log_dir: Path) -> None:
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
        self.path = log_dir / name
        self._file = open(self.path, "ab")
        self._file.write(_record(_event(time.time(), 0, file_version="brain.Event:2")))
        self._file.flush()

    def add_scalars(self, step: int, values: dict[str, float],
                    wall_time: float | None = None) -> None:
        event = _event(wall_time or time.time(), step, _scalar_summary(values))
        self._file.write(_record(event))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class FileWriterOneEvent:
    """tensorboardX's documented low-level writer (writer thread behind a queue), one event per
    step as ScalarWriter writes."""

    def __init__(self, log_dir: Path) -> None:
        from tensorboardX import FileWriter
        from tensorboardX.proto.summary_pb2 import Summary

        self._writer, self._summary = FileWriter(str(log_dir)), Summary

    def add_scalars(self, step: int, values: dict[str, float]) -> None:
        self._writer.add_summary(self._summary(value=[
            self._summary.Value(tag=tag, simple_value=value) for tag, value in values.items()
        ]), step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class SummaryWriterPerTag:
    """tensorboardX's high-level API, one `add_scalar` (one event) per tag."""

    def __init__(self, log_dir: Path) -> None:
        from tensorboardX import SummaryWriter

        self._writer = SummaryWriter(str(log_dir))

    def add_scalars(self, step: int, values: dict[str, float]) -> None:
        for tag, value in values.items():
            self._writer.add_scalar(tag, value, step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


WRITERS: dict[str, Callable[[Path], object]] = {
    "hand-written (old)": HandWrittenScalarWriter,
    "ScalarWriter, tensorboardX EventsWriter (new)": ScalarWriter,
    "tensorboardX FileWriter, one event per step": FileWriterOneEvent,
    "tensorboardX SummaryWriter, add_scalar per tag": SummaryWriterPerTag,
}


def time_writer(make: Callable[[Path], object], log_dir: Path, steps: int,
                flush_every: int) -> tuple[float, float, float, float]:
    """One run of `steps` logged steps: (add_scalars µs/call, flush ms/call, caller µs/step,
    process CPU µs/step including close)."""
    writer = make(log_dir)
    clock = time.perf_counter
    adding = flushing = 0.0
    flushes = 0
    cpu_start = time.process_time()
    for step in range(steps):
        start = clock()
        writer.add_scalars(step, {"loss/a": 0.05 + 1e-6 * step, "loss/b": 0.04 - 1e-7 * step})
        adding += clock() - start
        if (step + 1) % flush_every == 0:
            start = clock()
            writer.flush()
            flushing += clock() - start
            flushes += 1
    writer.close()
    cpu = time.process_time() - cpu_start
    return (adding / steps * 1e6, flushing / max(flushes, 1) * 1e3,
            (adding + flushing) / steps * 1e6, cpu / steps * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=2000, help="logged steps per run")
    parser.add_argument("--flush-every", type=int, default=250)
    parser.add_argument("--dir", type=Path, default=None,
                        help="folder for the event files (default: a temporary folder)")
    args = parser.parse_args()

    import tensorboardX

    print(f"CPU: {cpu_description()}")
    print(f"Python {platform.python_version()}, tensorboardX {tensorboardX.__version__}; "
          f"{args.rounds} rounds x {args.steps} steps, flush every {args.flush_every}")
    names = list(WRITERS)
    results: dict[str, list[tuple[float, ...]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        for warm_up in range(2):  # imports, first file creation
            for index, name in enumerate(names):
                time_writer(WRITERS[name], Path(scratch) / f"warm{warm_up}" / str(index), 100,
                            args.flush_every)
        for round_index in range(args.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                log_dir = Path(scratch) / f"r{round_index}" / str(names.index(name))
                results[name].append(time_writer(WRITERS[name], log_dir, args.steps,
                                                 args.flush_every))

    def cell(values: list[float], digits: int) -> str:
        low, mid, high = min(values), statistics.median(values), max(values)
        return f"{mid:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"

    print()
    print("| writer | add_scalars µs/call | flush ms/call | caller µs/step | CPU µs/step |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        cells = [cell([run[column] for run in results[name]], 2 if column == 1 else 1)
                 for column in range(4)]
        print(f"| {name} | {' | '.join(cells)} |")
    print("\nmedian over rounds (min-max); caller = add_scalars + flush per step; CPU = whole"
          " process, writer threads and close included")


if __name__ == "__main__":
    main()
