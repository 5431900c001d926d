"""Face patch PNGs: pixels, mask and matrix round trips, where the metadata sits, and files
that are not patches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceforge.errors import FormatError, InputError
from faceforge.formats.patch_png import (
    PATCH_META_KEY,
    PATCH_META_VERSION,
    FacePatch,
    encode_patch_png,
    read_patch,
)
from faceforge.formats.png_chunks import PNG_SIGNATURE, text_chunks

MATRIX = np.array([[0.5, 0.1, -20.25], [-0.1, 0.5, -31.5]])


@pytest.fixture
def face() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)


def test_a_patch_keeps_its_pixels_matrix_and_metadata(face, tmp_path: Path) -> None:
    path = tmp_path / "clip_000004_0.png"
    path.write_bytes(encode_patch_png(FacePatch(face, MATRIX), "clip.mp4", 4, (640, 360)))
    pixels, meta = read_patch(path)
    assert np.array_equal(pixels, face)
    assert np.array_equal(meta["matrix"], MATRIX)
    assert meta | {"matrix": None} == {
        "version": PATCH_META_VERSION, "source": "clip.mp4", "frame_index": 4, "face_index": 0,
        "frame_size": [640, 360], "patch_size": [64, 64], "matrix": None,
    }


def test_a_mask_is_stored_as_alpha(face, tmp_path: Path) -> None:
    mask = np.random.default_rng(4).integers(0, 256, (64, 64), dtype=np.uint8)
    path = tmp_path / "clip_000004_1.png"
    path.write_bytes(encode_patch_png(FacePatch(face, MATRIX, 1, mask), "clip.mp4", 4, (64, 64)))
    pixels, meta = read_patch(path)
    assert np.array_equal(pixels[..., 3], mask) and np.array_equal(pixels[..., :3], face)
    assert meta["face_index"] == 1
    with Image.open(path) as image:  # other software sees an ordinary RGBA PNG
        assert image.mode == "RGBA" and image.size == (64, 64)


def test_the_metadata_is_an_itxt_chunk_right_after_ihdr(face) -> None:
    data = encode_patch_png(FacePatch(face, MATRIX), "clip.mp4", 0, (64, 64))
    ihdr_end = len(PNG_SIGNATURE) + 8 + 13 + 4
    assert data[ihdr_end + 4 : ihdr_end + 8] == b"iTXt"
    texts, width = text_chunks(data, "patch")
    assert width == 64 and json.loads(texts[PATCH_META_KEY])["frame_size"] == [64, 64]


def test_bad_patches_are_refused(face) -> None:
    with pytest.raises(ValueError, match="2 x 3"):
        encode_patch_png(FacePatch(face, np.eye(3)), "clip.mp4", 0, (64, 64))
    with pytest.raises(ValueError, match="H x W x 3 uint8"):
        encode_patch_png(FacePatch(face.astype(np.float32), MATRIX), "clip.mp4", 0, (64, 64))
    with pytest.raises(ValueError, match="does not match"):
        encode_patch_png(FacePatch(face, MATRIX, mask=np.zeros((8, 8), np.uint8)), "c", 0,
                         (64, 64))


def test_a_file_that_is_not_a_patch_says_so(face, tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    Image.fromarray(face).save(plain)
    with pytest.raises(FormatError, match="not a faceforge patch"):
        read_patch(plain)
    with pytest.raises(InputError, match="not found"):
        read_patch(tmp_path / "missing.png")
