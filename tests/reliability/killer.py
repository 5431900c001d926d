"""Run the faceforge CLI and kill -9 it at one chosen moment (fault injection for the tests).

    python killer.py MOMENT N -- faceforge-arguments...

MOMENT names a place where a kill matters (see `MOMENTS`); the process SIGKILLs itself the
N-th time it gets there, after doing half of that step's work: a file half-written, a
batch's images on disk but not committed. MOMENT "none" runs the command untouched (the test
then kills it from outside at a random time).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _half(path: str | os.PathLike[str]) -> None:
    """Cut a file to half its length: what a kill in the middle of writing it leaves."""
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)


def arm(moment: str, nth: int) -> None:
    calls = [0]

    def now() -> bool:
        calls[0] += 1
        return calls[0] == nth

    if moment == "weights-write":  # train: a weights or optimizer file half-written
        from faceforge.training import checkpoint

        real_save = checkpoint.save_file

        def save_file(tensors, filename, metadata=None):
            real_save(tensors, filename, metadata=metadata)
            if now():
                _half(filename)
                _die()
        checkpoint.save_file = save_file
    elif moment == "state-write":  # train: new weights on disk, state.json half-written
        from faceforge.formats import model_state
        from faceforge.io.files import temporary_path

        real_write = model_state.atomic_write

        def atomic_write(path, data, durable=True):
            if now():
                temporary_path(Path(path)).write_bytes(data.encode()[: len(data) // 2])
                _die()
            return real_write(path, data, durable=durable)
        model_state.atomic_write = atomic_write
    elif moment == "backup-copy":  # train: a file half-copied into backups/
        from faceforge.training import checkpoint

        real_copy = checkpoint.atomic_copy

        def atomic_copy(src, dst, durable=True):
            if now():
                from faceforge.io.files import temporary_path

                data = Path(src).read_bytes()
                temporary_path(Path(dst)).write_bytes(data[: len(data) // 2])
                _die()
            return real_copy(src, dst, durable=durable)
        checkpoint.atomic_copy = atomic_copy
    elif moment == "face-png":  # extract: a face image half-written
        from faceforge.formats import face_png
        from faceforge.io.files import temporary_path

        real_write = face_png.atomic_write

        def atomic_write(path, data, durable=True):
            if now():
                temporary_path(Path(path)).write_bytes(data[: len(data) // 2])
                _die()
            return real_write(path, data, durable=durable)
        face_png.atomic_write = atomic_write
    elif moment == "batch-commit":  # extract: a batch's images written, the store not yet
        from faceforge.pipeline import extract

        real_batch = extract._write_batch

        def write_batch(*args, **kwargs):
            records = real_batch(*args, **kwargs)
            if now():
                _die()
            return records
        extract._write_batch = write_batch
    elif moment in ("encode", "audio-mux"):  # convert: while encoding, or muxing the audio
        from faceforge.io import video_out

        if moment == "encode":
            real_frame = video_out.VideoOutput.write

            def write(self, index, frame):
                if now():
                    _die()
                return real_frame(self, index, frame)
            video_out.VideoOutput.write = write
        else:
            real_mux = video_out.VideoOutput._mux_audio

            def mux_audio(self, video_path, muxed_path):
                real_mux(self, video_path, muxed_path)
                if now():
                    _half(muxed_path)
                    _die()
            video_out.VideoOutput._mux_audio = mux_audio
    elif moment == "export-write":  # tools alignments export: the JSON half-streamed
        from faceforge.formats.alignments import json_io

        real_frame = json_io._frame_to_json

        def frame_to_json(frame):
            if now():
                _die()
            return real_frame(frame)
        json_io._frame_to_json = frame_to_json
    elif moment == "store-edit":  # tools alignments smooth: the edited copy half-written
        from faceforge.formats.alignments import store

        real_add = store.AlignmentsStore.add_frames

        def add_frames(self, frames):
            real_add(self, frames)
            if now():
                _die()
        store.AlignmentsStore.add_frames = add_frames
    elif moment != "none":
        raise SystemExit(f"unknown moment {moment!r}")


def main(argv: list[str]) -> int:
    moment, nth, separator, *args = argv
    assert separator == "--", "usage: killer.py MOMENT N -- faceforge-arguments"
    arm(moment, int(nth))
    from faceforge.cli import main as faceforge

    return faceforge(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
