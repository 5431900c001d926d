"""Speed of the on-disk formats extraction writes: a 512 px face PNG (encode, atomic durable
write, metadata read without pixels) and alignments store batches (32 frames, one face with
two 128 x 128 soft masks each: insert, then read back by iteration).

Run: python benchmarks/formats_speed.py [--repeats N] [--batches N]
The face is cut from astronaut.png in ../shared/data/photos (a synthetic image without it).

Recorded (2-core x86_64 VM shared with other jobs; numbers the test suite printed before they
moved here, medians of 10 faces and 20 batches):

    face PNG 512x512 astronaut photo: encode 18.6 ms, write+fsync 20.2 ms,
        read_face_meta 464 us, 372 KiB
    alignments add_frames: 5.42 ms per 32-frame batch; iter_frames: 4160 frames/s
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from faceforge.formats import (
    AlignmentsStore,
    FaceRecord,
    FrameRecord,
    encode_face_png,
    make_face_meta,
    read_face_meta,
    write_face_png,
)

PHOTO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos" / "astronaut.png"


def face_and_meta(rng: np.random.Generator) -> tuple[np.ndarray, dict, str]:
    if PHOTO.exists():
        photo = cv2.imread(str(PHOTO))[0:260, 120:380, ::-1]
        image = np.ascontiguousarray(cv2.resize(photo, (512, 512), interpolation=cv2.INTER_CUBIC))
        kind = "astronaut photo"
    else:
        image = cv2.resize(rng.integers(0, 256, (8, 8, 3), np.uint8), (512, 512))
        kind = "synthetic"
    meta = make_face_meta(
        source="clip", frame_index=12, frame_name="clip_000012", face_index=0,
        source_size=(1920, 1080), landmarks=rng.uniform(0, 1080, (68, 2)),
        matrix=rng.normal(size=(2, 3)), size=512, centering="head", coverage=1.0,
        tool_version="benchmark",
    )
    return image, meta, kind


def face_png_speed(folder: Path, repeats: int, rng: np.random.Generator) -> str:
    image, meta, kind = face_and_meta(rng)
    encode_face_png(image, meta)  # warm-up
    encodes, writes, reads = [], [], []
    for number in range(repeats):
        path = folder / f"face_{number}.png"
        start = time.perf_counter()
        data = encode_face_png(image, meta)
        encodes.append(time.perf_counter() - start)
        start = time.perf_counter()
        write_face_png(path, image, meta)
        writes.append(time.perf_counter() - start)
        start = time.perf_counter()
        read_face_meta(path)
        reads.append(time.perf_counter() - start)
    return (
        f"face PNG 512x512 {kind}: encode {np.median(encodes) * 1e3:.1f} ms, "
        f"write+fsync {np.median(writes) * 1e3:.1f} ms, "
        f"read_face_meta {np.median(reads) * 1e6:.0f} us, {len(data) / 1024:.0f} KiB"
    )


def alignments_speed(folder: Path, batches: int, rng: np.random.Generator) -> str:
    yy, xx = np.mgrid[:128, :128]
    # Like a landmark mask: a face-shaped region with an 8 px soft edge.
    soft = np.clip((50 - np.hypot((xx - 64) * 1.2, yy - 64)) * 32, 0, 255).astype(np.uint8)

    def frame(index: int) -> FrameRecord:
        face = FaceRecord(
            face_index=0, box=(10.0, 20.0, 210.0, 260.0), score=0.9,
            landmarks=rng.uniform(0, 1080, (68, 2)).astype(np.float32),
            matrix=rng.normal(size=(2, 3)), masks={"extended": soft, "components": soft},
            identity=rng.normal(size=128).astype(np.float32), thumbnail=bytes(700),
        )
        return FrameRecord(index, f"clip_{index:06d}", 1920, 1080, index / 25, [face])

    timings = []
    with AlignmentsStore.open(folder / "speed.db", "a") as store:
        for batch in range(batches):
            frames = [frame(batch * 32 + i) for i in range(32)]
            start = time.perf_counter()
            store.add_frames(frames)
            timings.append(time.perf_counter() - start)
        start = time.perf_counter()
        count = sum(1 for _ in store.iter_frames())
        read_s = time.perf_counter() - start
    return (
        f"alignments add_frames: {np.median(timings) * 1e3:.2f} ms per 32-frame batch; "
        f"iter_frames: {count / read_s:.0f} frames/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="face PNGs written (10)")
    parser.add_argument("--batches", type=int, default=20, help="32-frame batches (20)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        print(face_png_speed(Path(folder), args.repeats, rng))
        print(alignments_speed(Path(folder), args.batches, rng))


if __name__ == "__main__":
    main()
