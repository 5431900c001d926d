"""Face PNGs: metadata chunk round trips, PNG validity, atomic writes, Faceswap headers."""

from __future__ import annotations

import errno
import io
import json
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from faceforge.errors import FormatError, InputError, OutputError
from faceforge.formats import (
    FACE_META_VERSION,
    encode_face_png,
    face_filename,
    make_face_meta,
    parse_face_filename,
    parse_face_meta,
    read_face_meta,
    read_face_png,
    write_face_png,
)
from faceforge.formats.png_chunks import encode_gray_png, png_chunk


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(3)


def face_image(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    base = cv2.resize(rng.integers(0, 256, (8, 8, 3), np.uint8), (size, size))
    return np.ascontiguousarray(base)


def face_meta(rng: np.random.Generator, **changes) -> dict:
    values = dict(
        source="clip",
        frame_index=12,
        frame_name="clip_000012",
        face_index=1,
        source_size=(1920, 1080),
        landmarks=rng.uniform(0, 1080, (68, 2)).astype(np.float32),
        matrix=rng.normal(size=(2, 3)),
        size=128,
        centering="head",
        coverage=0.875,
        tool_version="0.1.0",
    )
    values.update(changes)
    return make_face_meta(**values)


def chunks(data: bytes) -> list[tuple[bytes, bytes, int]]:
    """(type, body, stored crc) of every chunk."""
    out, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        out.append((kind, body, crc))
        pos += 12 + length
    return out


def faceswap_png(image_bgr: np.ndarray, header_text: str) -> bytes:
    """A PNG shaped like Faceswap's: its iTXt chunk (Python literal) before IDAT."""
    png = cv2.imencode(".png", image_bgr)[1].tobytes()
    body = b"faceswap\x00\x00\x00\x00\x00" + header_text.encode("utf-8")
    split = png.find(b"IDAT") - 4
    return png[:split] + png_chunk(b"iTXt", body) + png[split:]


# -- file names ------------------------------------------------------------------------


def test_face_filename_round_trips() -> None:
    assert face_filename("clip", 12, 0) == "clip_000012_0.png"
    assert face_filename("my_clip_2", 1234567, 11) == "my_clip_2_1234567_11.png"
    assert parse_face_filename("my_clip_2_1234567_11.png") == ("my_clip_2", 1234567, 11)
    assert parse_face_filename("/faces/clip_000012_0.png") == ("clip", 12, 0)
    assert parse_face_filename("clip_12_0.png") is None
    assert parse_face_filename("notes.txt") is None
    with pytest.raises(ValueError):
        face_filename("clip", -1, 0)


# -- round trips -----------------------------------------------------------------------


def test_metadata_and_pixels_round_trip_exactly(tmp_path: Path, rng) -> None:
    image = face_image(rng)
    meta = face_meta(rng)
    path = tmp_path / face_filename("clip", 12, 1)
    write_face_png(path, image, meta)
    pixels, got = read_face_png(path)
    assert np.array_equal(pixels, image)
    assert got == {**meta, "origin": "faceforge"}
    assert read_face_meta(path) == got
    assert got["version"] == FACE_META_VERSION
    # float32 landmarks survive JSON bit for bit.
    assert np.array_equal(np.asarray(got["landmarks"], np.float32),
                          np.asarray(meta["landmarks"], np.float32))


def test_metadata_chunk_sits_right_after_ihdr_with_valid_crcs(rng) -> None:
    data = encode_face_png(face_image(rng), face_meta(rng))
    found = chunks(data)
    assert [kind for kind, _, _ in found[:2]] == [b"IHDR", b"iTXt"]
    assert found[-1][0] == b"IEND"
    for kind, body, crc in found:
        assert zlib.crc32(kind + body) == crc
    keyword, _, rest = found[1][1].partition(b"\x00")
    assert keyword == b"faceforge"
    document = json.loads(rest[4:].decode("utf-8"))  # after flag, method, 2 empty strings
    assert document["faceforge"]["frame_index"] == 12


def test_png_decodes_identically_with_pil_and_cv2(rng) -> None:
    image = face_image(rng, 96)
    data = encode_face_png(image, face_meta(rng, size=96))
    with Image.open(io.BytesIO(data)) as pil:
        pil.load()  # PIL checks every chunk CRC while loading
        assert pil.mode == "RGB"
        via_pil = np.asarray(pil)
        text = pil.text["faceforge"]
    with Image.open(io.BytesIO(data)) as pil:
        pil.verify()
    via_cv2 = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR),
                           cv2.COLOR_BGR2RGB)
    assert np.array_equal(via_pil, image)
    assert np.array_equal(via_cv2, image)
    assert json.loads(text)["faceforge"]["source"] == "clip"


def test_metadata_written_by_pil_as_text_chunk_is_read(rng) -> None:
    from PIL import PngImagePlugin

    meta = face_meta(rng)
    info = PngImagePlugin.PngInfo()
    info.add_text("faceforge", json.dumps({"faceforge": meta}), zip=True)  # compressed iTXt
    buffer = io.BytesIO()
    Image.fromarray(face_image(rng)).save(buffer, format="PNG", pnginfo=info)
    assert parse_face_meta(buffer.getvalue()) == {**meta, "origin": "faceforge"}


def test_higher_compression_gives_the_same_pixels(rng) -> None:
    image = face_image(rng)
    meta = face_meta(rng)
    fast, small = encode_face_png(image, meta, 1), encode_face_png(image, meta, 9)
    for data in (fast, small):
        assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), 1)[..., ::-1], image)


def test_gray_png_encoder_is_lossless_and_standard(rng) -> None:
    for mask in (rng.integers(0, 256, (37, 53), np.uint8), np.zeros((1, 1), np.uint8)):
        data = encode_gray_png(mask)
        assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), -1), mask)
        with Image.open(io.BytesIO(data)) as pil:
            assert pil.mode == "L"
            assert np.array_equal(np.asarray(pil), mask)


# -- validation ------------------------------------------------------------------------


def test_bad_metadata_is_refused_when_encoding(rng) -> None:
    with pytest.raises(ValueError, match="landmarks"):
        face_meta(rng, landmarks=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="centering"):
        face_meta(rng, centering="body")
    meta = face_meta(rng)
    del meta["matrix"]
    with pytest.raises(ValueError, match="matrix"):
        encode_face_png(face_image(rng), meta)
    with pytest.raises(ValueError, match="RGB"):
        encode_face_png(np.zeros((8, 8), np.uint8), face_meta(rng))


def test_png_without_our_chunk_is_a_format_error(tmp_path: Path, rng) -> None:
    path = tmp_path / "plain.png"
    cv2.imwrite(str(path), face_image(rng))
    with pytest.raises(FormatError, match="no faceforge metadata in") as info:
        read_face_meta(path)
    assert "plain.png" in info.value.message
    with pytest.raises(FormatError, match="no faceforge metadata"):
        read_face_png(path)


def test_newer_metadata_version_asks_to_upgrade(tmp_path: Path, rng) -> None:
    future = {"version": FACE_META_VERSION + 1, "something": "new"}
    body = b"faceforge\x00\x00\x00\x00\x00" + json.dumps({"faceforge": future}).encode()
    png = cv2.imencode(".png", face_image(rng))[1].tobytes()
    path = tmp_path / "future.png"
    path.write_bytes(png[:33] + png_chunk(b"iTXt", body) + png[33:])
    with pytest.raises(FormatError) as info:
        read_face_meta(path)
    assert f"version {FACE_META_VERSION + 1}" in info.value.message
    assert "upgrade faceforge" in info.value.hint


def test_invalid_metadata_in_a_file_is_a_format_error(tmp_path: Path, rng) -> None:
    meta = face_meta(rng)
    meta["landmarks"] = meta["landmarks"][:10]
    body = b"faceforge\x00\x00\x00\x00\x00" + json.dumps({"faceforge": meta}).encode()
    png = cv2.imencode(".png", face_image(rng))[1].tobytes()
    path = tmp_path / "bad.png"
    path.write_bytes(png[:33] + png_chunk(b"iTXt", body) + png[33:])
    with pytest.raises(FormatError, match="invalid faceforge metadata: 'landmarks'"):
        read_face_meta(path)


def test_damaged_metadata_chunk_is_detected_by_crc(tmp_path: Path, rng) -> None:
    data = bytearray(encode_face_png(face_image(rng), face_meta(rng)))
    at = data.find(b'"source"')
    data[at + 1] = ord("S")
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="bad CRC"):
        read_face_meta(path)


def test_missing_and_non_png_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_face_meta(tmp_path / "gone.png")
    with pytest.raises(InputError, match="not found"):
        read_face_png(tmp_path / "gone.png")
    (tmp_path / "fake.png").write_text("not a png")
    with pytest.raises(FormatError, match="not a PNG"):
        read_face_meta(tmp_path / "fake.png")
    with pytest.raises(FormatError, match="not a PNG"):
        read_face_png(tmp_path / "fake.png")


def test_truncated_png_keeps_its_metadata_but_not_its_pixels(tmp_path: Path, rng) -> None:
    data = encode_face_png(face_image(rng, 256), face_meta(rng, size=256))
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    assert read_face_meta(path)["frame_index"] == 12  # the chunk comes before the pixels
    assert parse_face_meta(path.read_bytes())["frame_index"] == 12
    with pytest.raises(FormatError):
        read_face_png(path)


# -- atomic writes ---------------------------------------------------------------------


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path, rng) -> None:
    path = tmp_path / "clip_000012_1.png"
    for _ in range(3):  # overwriting is atomic too
        write_face_png(path, face_image(rng), face_meta(rng))
    assert [p.name for p in tmp_path.iterdir()] == ["clip_000012_1.png"]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failed_write_keeps_the_previous_face_image(
    tmp_path: Path, rng, monkeypatch, failing: str
) -> None:
    path = tmp_path / "clip_000012_1.png"
    write_face_png(path, face_image(rng), face_meta(rng))
    before = path.read_bytes()

    def disk_full(*args) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, failing, disk_full)
    with pytest.raises(OutputError, match="cannot write face image .*clip_000012_1.png") as info:
        write_face_png(path, face_image(rng), face_meta(rng))
    assert "free some space" in info.value.hint
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_ctrl_c_during_a_write_keeps_the_previous_face_image(
    tmp_path: Path, rng, monkeypatch
) -> None:
    path = tmp_path / "clip_000012_1.png"
    write_face_png(path, face_image(rng), face_meta(rng))
    before = path.read_bytes()

    def interrupted(src, dst) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_face_png(path, face_image(rng), face_meta(rng))
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_non_durable_write_skips_the_fsync(tmp_path: Path, rng, monkeypatch) -> None:
    def no_fsync(fd: int) -> None:
        raise AssertionError("durable=False must not fsync")

    monkeypatch.setattr(os, "fsync", no_fsync)
    path = tmp_path / "clip_000012_1.png"
    write_face_png(path, face_image(rng), face_meta(rng), durable=False)
    assert read_face_meta(path)["frame_index"] == 12


def test_write_into_a_missing_folder_is_an_output_error(tmp_path: Path, rng) -> None:
    blocker = tmp_path / "plain_file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write face image"):
        write_face_png(blocker / "face.png", face_image(rng), face_meta(rng))
    assert sorted(os.listdir(tmp_path)) == ["plain_file"]


# -- Faceswap --------------------------------------------------------------------------


def faceswap_header(rng, is_video: bool = True) -> dict:
    return {
        "alignments": {
            "x": 100, "y": 50, "w": 200, "h": 220,
            "landmarks_xy": rng.uniform(0, 600, (68, 2)).round(3).tolist(),
            "mask": {"components": {"mask": b"x\x9c\x03\x00\x00\x00\x00\x01",
                                    "affine_matrix": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                                    "interpolator": 2, "stored_size": 128,
                                    "stored_centering": "face"}},
            "identity": {},
        },
        "source": {
            "alignments_version": 2.3,
            "original_filename": "interview_000012_0.png",
            "face_index": 0,
            "source_filename": "interview_000012.png" if is_video else "IMG_0042.jpg",
            "source_is_video": is_video,
            "source_frame_dims": (720, 1280),
        },
    }


def test_faceswap_face_png_is_read_into_our_shape(tmp_path: Path, rng) -> None:
    header = faceswap_header(rng)
    path = tmp_path / "interview_000012_0.png"
    path.write_bytes(faceswap_png(face_image(rng, 256)[..., ::-1], str(header)))
    meta = read_face_meta(path)
    assert meta["origin"] == "faceswap"
    assert meta["source"] == "interview"
    assert meta["frame_name"] == "interview_000012.png"
    assert meta["frame_index"] == 11  # Faceswap counts frames from 1, we from 0
    assert meta["face_index"] == 0
    assert meta["source_size"] == [1280, 720]
    assert meta["landmarks"] == header["alignments"]["landmarks_xy"]
    assert meta["box"] == [100, 50, 300, 270]
    assert meta["size"] == 256
    assert meta["centering"] == "head"
    assert meta["mask_names"] == ["components"]
    pixels, same = read_face_png(path)
    assert pixels.shape == (256, 256, 3) and same == meta


def test_faceswap_face_from_an_image_folder_has_no_frame_index(rng) -> None:
    data = faceswap_png(face_image(rng)[..., ::-1], str(faceswap_header(rng, is_video=False)))
    meta = parse_face_meta(data)
    assert meta["frame_name"] == "IMG_0042.jpg"
    assert meta["frame_index"] is None and meta["source"] is None


def test_faceswap_header_with_code_is_never_executed(tmp_path: Path, rng) -> None:
    marker = tmp_path / "pwned"
    hostile = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    data = faceswap_png(face_image(rng)[..., ::-1], hostile)
    with pytest.raises(FormatError, match="Faceswap metadata"):
        parse_face_meta(data, "hostile.png")
    assert not marker.exists()
