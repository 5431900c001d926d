"""Reading one image file: upright 8-bit RGB, and one InputError, in the caller's words, for
every way the file can be missing or bad."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceforge.errors import InputError
from faceforge.io.images import read_image_rgb


def test_image_is_read_as_rgb(tmp_path: Path) -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[..., 0] = 255  # pure red
    cv2.imwrite(str(tmp_path / "red.png"), image[..., ::-1])
    pixels = read_image_rgb(tmp_path / "red.png")
    assert pixels.shape == (4, 6, 3) and pixels.flags.c_contiguous
    assert np.array_equal(pixels, image)


def test_errors_name_the_file_with_the_callers_noun(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="reference photo .*missing.jpg does not exist"):
        read_image_rgb(tmp_path / "missing.jpg", "reference photo")
    with pytest.raises(InputError, match="reference photo .* is a folder, not an image file"):
        read_image_rgb(tmp_path, "reference photo")
    (tmp_path / "notes.jpg").write_text("not a picture")
    with pytest.raises(InputError, match="reference photo .*notes.jpg cannot be decoded"):
        read_image_rgb(tmp_path / "notes.jpg", "reference photo")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="image .*empty.png cannot be decoded"):
        read_image_rgb(tmp_path / "empty.png")
