"""Random but well-formed alignments records, and a field-by-field comparison of them, for the
alignments store tests."""

from __future__ import annotations

import numpy as np

from faceforge.formats import FaceRecord, FrameRecord


def make_face(rng: np.random.Generator, face_index: int = 0, full: bool = True) -> FaceRecord:
    yy, xx = np.mgrid[:128, :128]
    ellipse = (((xx - 64) / 40.0) ** 2 + ((yy - 64) / 55.0) ** 2 <= 1).astype(np.uint8) * 255
    return FaceRecord(
        face_index=face_index,
        box=tuple(float(v) for v in rng.uniform(0, 500, 4)),
        score=float(rng.uniform()),
        landmarks=rng.uniform(0, 1920, (68, 2)).astype(np.float32),
        matrix=rng.normal(size=(2, 3)),
        masks={"extended": ellipse, "components": rng.integers(0, 256, (96, 80), np.uint8)}
        if full
        else {},
        identity=rng.normal(size=128).astype(np.float32) if full else None,
        thumbnail=bytes(rng.integers(0, 256, 700, np.uint8)) if full else None,
        detector="blazeface-short",
        landmarker="dlib-68",
    )


def make_frame(rng: np.random.Generator, index: int, n_faces: int = 1) -> FrameRecord:
    return FrameRecord(
        index=index,
        name=f"clip_{index:06d}",
        width=1920,
        height=1080,
        timestamp_s=index / 29.97,
        faces=[make_face(rng, i) for i in range(n_faces)],
    )


def assert_same_frame(got: FrameRecord, want: FrameRecord) -> None:
    assert (got.index, got.name, got.width, got.height) == (
        want.index, want.name, want.width, want.height
    )
    assert got.timestamp_s == want.timestamp_s
    assert len(got.faces) == len(want.faces)
    for a, b in zip(got.faces, want.faces, strict=True):
        assert a.face_index == b.face_index
        assert a.box == b.box
        assert a.score == b.score
        assert a.landmarks.dtype == np.float32 and np.array_equal(a.landmarks, b.landmarks)
        assert a.matrix.dtype == np.float64 and np.array_equal(a.matrix, b.matrix)
        assert a.masks.keys() == b.masks.keys()
        for name in a.masks:
            assert a.masks[name].dtype == np.uint8
            assert np.array_equal(a.masks[name], b.masks[name])
        if b.identity is None:
            assert a.identity is None
        else:
            assert a.identity.dtype == np.float32 and np.array_equal(a.identity, b.identity)
        assert a.thumbnail == b.thumbnail
        assert (a.detector, a.landmarker) == (b.detector, b.landmarker)
