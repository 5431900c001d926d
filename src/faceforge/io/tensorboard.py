"""A minimal TensorBoard event-file writer for scalars, so loss curves open in TensorBoard
without installing TensorFlow or tensorboard. Writes the TFRecord framing and the few protobuf
fields of `Event`/`Summary` that scalars need.
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
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


class ScalarWriter:
    """Appends scalar events to one TensorBoard event file in `log_dir`."""

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


def read_scalars(path: Path) -> list[tuple[int, str, float]]:
    """Read back (step, tag, value) from an event file written by ScalarWriter (for tests and
    the GUI); verifies every record's checksums."""
    data = Path(path).read_bytes()
    out = []
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        (len_crc,) = struct.unpack_from("<I", data, pos + 8)
        if len_crc != _masked_crc(data[pos:pos + 8]):
            raise ValueError(f"bad length checksum at byte {pos} of {path}")
        record = data[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack_from("<I", data, pos + 12 + length)
        if data_crc != _masked_crc(record):
            raise ValueError(f"bad data checksum at byte {pos} of {path}")
        pos += 12 + length + 4
        out.extend(_parse_event(record))
    return out


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(buf: bytes):  # noqa: ANN202 - yields (field number, wire type, value)
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _parse_event(record: bytes) -> list[tuple[int, str, float]]:
    step, out = 0, []
    for number, _, value in _fields(record):
        if number == 2:
            step = value
        elif number == 5:
            for vnum, _, entry in _fields(value):
                if vnum != 1:
                    continue
                tag, scalar = "", None
                for enum, _, item in _fields(entry):
                    if enum == 1:
                        tag = item.decode()
                    elif enum == 2:
                        scalar = struct.unpack("<f", item)[0]
                if scalar is not None:
                    out.append((step, tag, scalar))
    return out
