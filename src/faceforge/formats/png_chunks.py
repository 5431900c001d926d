"""PNG chunk plumbing shared by the PNG-based formats (face images, face patches, masks):
building chunks, putting a text chunk right after IHDR, and reading text chunks from bytes or
from a file without reading its pixels."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from faceforge.errors import FormatError
from faceforge.io.files import open_input

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNK_TYPES = (b"iTXt", b"tEXt", b"zTXt")
# Metadata is a few kB; anything far larger is not ours and is not worth reading.
_MAX_TEXT_CHUNK = 16 * 1024 * 1024
# No image faceforge reads (faces, masks, patches, frames it wrote) is anywhere near this wide;
# a header claiming more is damaged or hostile, and decoding it would take gigabytes.
MAX_PNG_SIDE = 16384
# Signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC).
_IHDR_END = len(PNG_SIGNATURE) + 8 + 13 + 4


def png_chunk(chunk_type: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC over type and data."""
    crc = zlib.crc32(data, zlib.crc32(chunk_type))
    return struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", crc)


def itxt_chunk(keyword: str, text: str) -> bytes:
    # keyword NUL, compression flag 0, method 0, empty language tag NUL, empty translation NUL.
    body = keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")
    return png_chunk(b"iTXt", body)


def encode_gray_png(image: np.ndarray, compression: int = 1) -> bytes:
    """A single-channel uint8 image as PNG, several times faster than ``cv2.imencode``.

    Every row uses PNG's "up" filter (difference to the row above): for masks, flat areas and
    soft edges become runs of zeros that zlib compresses quickly and well.
    """
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 image, got {image.dtype} {image.shape}")
    height, width = image.shape
    rows = np.empty((height, width + 1), np.uint8)
    rows[:, 0] = 2  # filter type "up"; the row above the first counts as zeros
    rows[0, 1:] = image[0]
    np.subtract(image[1:], image[:-1], out=rows[1:, 1:])  # uint8 wraps mod 256, as PNG wants
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"".join((
        PNG_SIGNATURE,
        png_chunk(b"IHDR", header),
        png_chunk(b"IDAT", zlib.compress(rows.tobytes(), compression)),
        png_chunk(b"IEND", b""),
    ))


def png_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR chunk, or None when `data` does not start like one."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def decode_png(data: bytes, flags: int, name: object, what: str = "image") -> np.ndarray:
    """Pixels of PNG `data` by `cv2.imdecode` with `flags`, after checking the size its header
    claims (so a forged header cannot make it allocate gigabytes). Raises `FormatError`."""
    import cv2

    size = png_dimensions(data)
    if size is None:
        raise FormatError(f"{name} is not a PNG file", f"give a PNG {what}")
    width, height = size
    if not (0 < width <= MAX_PNG_SIDE and 0 < height <= MAX_PNG_SIDE):
        raise FormatError(f"{name} is damaged: its header claims {width}x{height} pixels",
                          f"replace the {what} (restore it or re-create it)")
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except cv2.error:
        pixels = None
    if pixels is None:
        raise FormatError(f"{name} has damaged image data",
                          f"replace the {what} (restore it or re-create it)")
    return pixels


def _inflate(data: bytes) -> bytes:
    """zlib-decompress a text chunk, refusing one that would grow past _MAX_TEXT_CHUNK (a
    few compressed kilobytes can otherwise expand to gigabytes)."""
    inflater = zlib.decompressobj()
    text = inflater.decompress(data, _MAX_TEXT_CHUNK)
    if inflater.unconsumed_tail:
        raise zlib.error(f"it inflates to more than {_MAX_TEXT_CHUNK} bytes")
    return text


def text_chunks(data: bytes, name: object) -> tuple[dict[str, str], int | None]:
    """Every text chunk (keyword -> text) of a PNG in memory, and its width from IHDR."""
    if not data.startswith(PNG_SIGNATURE):
        raise FormatError(f"{name} is not a PNG file", "face images must be PNG files")
    texts: dict[str, str] = {}
    width = None
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, chunk_type = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            if chunk_type in TEXT_CHUNK_TYPES:
                raise FormatError(f"{name} is a truncated PNG", "re-extract the face")
            break  # cut inside the pixels: the metadata before them is still good
        body = data[pos + 8:pos + 8 + length]
        if chunk_type == b"IHDR" and length >= 8:
            width = struct.unpack(">I", body[:4])[0]
        elif chunk_type in TEXT_CHUNK_TYPES:
            check_crc(data[pos + 4:end], name)
            keyword, text = decode_text_chunk(chunk_type, body, name)
            texts.setdefault(keyword, text)
        elif chunk_type == b"IEND":
            break
        pos = end
    return texts, width


def read_text_chunks(path: Path) -> tuple[dict[str, str], int | None]:
    """Like :func:`text_chunks` but seeks past image data instead of reading it."""
    texts: dict[str, str] = {}
    width = None
    with open_input(path, "face image") as handle:
        if handle.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
            raise FormatError(f"{path} is not a PNG file", "face images must be PNG files")
        while True:
            head = handle.read(8)
            if len(head) < 8:
                break
            length, chunk_type = struct.unpack(">I4s", head)
            if chunk_type == b"IEND":
                break
            if chunk_type == b"IHDR" or (
                chunk_type in TEXT_CHUNK_TYPES and length <= _MAX_TEXT_CHUNK
            ):
                body = handle.read(length + 4)
                if len(body) < length + 4:
                    raise FormatError(f"{path} is a truncated PNG", "re-extract the face")
                body, crc = body[:length], body[length:]
                if chunk_type == b"IHDR":
                    width = struct.unpack(">I", body[:4])[0] if length >= 8 else None
                    continue
                check_crc(chunk_type + body + crc, path)
                keyword, text = decode_text_chunk(chunk_type, body, path)
                texts.setdefault(keyword, text)
            else:
                handle.seek(length + 4, os.SEEK_CUR)
    return texts, width


def check_crc(type_data_crc: bytes, name: object) -> None:
    expected = struct.unpack(">I", type_data_crc[-4:])[0]
    if zlib.crc32(type_data_crc[:-4]) != expected:
        raise FormatError(f"{name} has a damaged metadata chunk (bad CRC)", "re-extract the face")


def decode_text_chunk(chunk_type: bytes, body: bytes, name: object) -> tuple[str, str]:
    keyword, sep, rest = body.partition(b"\x00")
    try:
        if chunk_type == b"tEXt":
            return keyword.decode("latin-1"), rest.decode("latin-1")
        if chunk_type == b"zTXt":
            return keyword.decode("latin-1"), _inflate(rest[1:]).decode("latin-1")
        compressed = rest[:1] == b"\x01"
        # Skip compression method, then the language tag and translated keyword (NUL-ended).
        _language, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        if compressed:
            text = _inflate(text)
        return keyword.decode("latin-1"), text.decode("utf-8")
    except (zlib.error, UnicodeDecodeError) as exc:
        raise FormatError(
            f"{name} has an unreadable {chunk_type.decode()} chunk: {exc}", "re-extract the face"
        ) from exc


def insert_after_ihdr(png: bytes, chunk: bytes) -> bytes:
    """`png` with `chunk` placed right after IHDR, where readers find it before any pixels."""
    if png[12:16] != b"IHDR":
        raise ValueError("a PNG without a leading IHDR chunk")
    return png[:_IHDR_END] + chunk + png[_IHDR_END:]
