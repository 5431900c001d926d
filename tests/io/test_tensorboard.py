"""TensorBoard loss logs: what ScalarWriter writes comes back from read_scalars step by step,
the files sit where TensorBoard looks for them, and importing the module stays light."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from faceforge.io.tensorboard import ScalarWriter, read_scalars


def _float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _event_files(log_dir: Path) -> list[Path]:
    return sorted(log_dir.glob("events.out.tfevents.*"))


def test_scalars_of_several_steps_round_trip_in_order(tmp_path: Path) -> None:
    writer = ScalarWriter(tmp_path / "logs")
    expected = []
    for step in range(1, 301):
        values = {"loss/a": 1.0 / step, "loss/b": 0.5 + step * 1e-3}
        if step % 100 == 0:
            values["identity/nearer_b_share"] = step / 300
        writer.add_scalars(step, values)
        expected.extend((step, tag, _float32(value)) for tag, value in values.items())
    writer.close()
    (path,) = _event_files(tmp_path / "logs")
    assert read_scalars(path) == expected


def test_writer_creates_the_log_folder_with_one_tensorboard_event_file(tmp_path: Path) -> None:
    from tensorboardX.proto.event_pb2 import Event

    log_dir = tmp_path / "model" / "logs"
    writer = ScalarWriter(log_dir)
    files = _event_files(log_dir)
    assert log_dir.is_dir() and len(files) == 1
    # The file opens with the version record TensorBoard expects, and holds no scalar yet.
    data = files[0].read_bytes()
    (length,) = struct.unpack_from("<Q", data)
    assert Event.FromString(data[12:12 + length]).file_version == "brain.Event:2"
    assert read_scalars(files[0]) == []
    writer.close()


def test_flush_puts_every_event_on_disk_before_close(tmp_path: Path) -> None:
    writer = ScalarWriter(tmp_path)
    for step in range(10):
        writer.add_scalars(step, {"loss/a": 0.25, "loss/b": 0.125})
    writer.flush()
    (path,) = _event_files(tmp_path)
    assert [(step, tag) for step, tag, _ in read_scalars(path)] == [
        (step, tag) for step in range(10) for tag in ("loss/a", "loss/b")]
    writer.close()
    writer.close()  # a second close is harmless


def test_given_wall_time_is_kept(tmp_path: Path) -> None:
    from tensorboardX.proto.event_pb2 import Event

    writer = ScalarWriter(tmp_path)
    writer.add_scalars(7, {"loss/a": 1.0}, wall_time=1234.5)
    writer.close()
    data = _event_files(tmp_path)[0].read_bytes()
    (first,) = struct.unpack_from("<Q", data)
    second_start = 12 + first + 4
    (length,) = struct.unpack_from("<Q", data, second_start)
    event = Event.FromString(data[second_start + 12:second_start + 12 + length])
    assert (event.step, event.wall_time) == (7, 1234.5)


def test_read_scalars_rejects_a_damaged_record(tmp_path: Path) -> None:
    writer = ScalarWriter(tmp_path)
    writer.add_scalars(1, {"loss/a": 0.5})
    writer.close()
    path = _event_files(tmp_path)[0]
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF  # inside the last record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        read_scalars(path)


def test_importing_the_module_does_not_load_tensorboardx_or_torch() -> None:
    code = "import sys, faceforge.io.tensorboard; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert not {"tensorboardX", "torch"} & set(out.stdout.split())
