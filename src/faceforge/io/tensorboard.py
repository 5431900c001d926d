"""TensorBoard event files for the training losses, written and read through tensorboardX, so
loss curves open in TensorBoard without installing TensorFlow or tensorboard.

tensorboardX imports torch when it loads, so it is imported by the functions that use it, not
by this module.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

# TFRecord framing of an event file: length (u64), masked CRC32C of the length (u32), the
# serialised Event, masked CRC32C of the Event (u32); all little-endian.
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


class ScalarWriter:
    """Appends scalar events to one TensorBoard event file (``events.out.tfevents.*``) in
    `log_dir`: one event per step holding every tag's value.

    Built on tensorboardX's synchronous `EventsWriter` rather than its `SummaryWriter` or
    `FileWriter`, which hand each event to a writer thread through a multiprocessing queue:
    that costs 3-6x the CPU per step (benchmarks/tensorboard_speed.py, recorded in
    docs/benchmarks/training.md), and here `flush` puts every event so far on disk.
    """

    def __init__(self, log_dir: Path) -> None:
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event
        from tensorboardX.proto.summary_pb2 import Summary

        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        self._events = EventsWriter(str(log_dir / "events"))
        self._events.flush()  # the file-version record, so the new file is already valid
        self._event, self._summary = Event, Summary
        self._closed = False

    def add_scalars(self, step: int, values: dict[str, float],
                    wall_time: float | None = None) -> None:
        summary = self._summary(value=[self._summary.Value(tag=tag, simple_value=float(value))
                                       for tag, value in values.items()])
        self._events.write_event(self._event(
            wall_time=time.time() if wall_time is None else wall_time, step=step, summary=summary))

    def flush(self) -> None:
        self._events.flush()

    def close(self) -> None:
        """Flush and close the file; safe to call twice."""
        if not self._closed:
            self._events.close()
            self._closed = True


def read_scalars(path: Path) -> list[tuple[int, str, float]]:
    """Read back (step, tag, value) from a TensorBoard event file (for tests and the GUI);
    verifies every record's checksums."""
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import masked_crc32c

    data = Path(path).read_bytes()
    out = []
    pos = 0
    while pos < len(data):
        header = data[pos:pos + _LENGTH.size]
        (length,) = _LENGTH.unpack(header)
        (header_crc,) = _CRC.unpack_from(data, pos + _LENGTH.size)
        if header_crc != masked_crc32c(header):
            raise ValueError(f"bad length checksum at byte {pos} of {path}")
        start = pos + _LENGTH.size + _CRC.size
        record = data[start:start + length]
        (record_crc,) = _CRC.unpack_from(data, start + length)
        if record_crc != masked_crc32c(record):
            raise ValueError(f"bad data checksum at byte {pos} of {path}")
        pos = start + length + _CRC.size
        event = Event.FromString(record)
        out.extend((event.step, value.tag, value.simple_value)
                   for value in event.summary.value if value.HasField("simple_value"))
    return out
