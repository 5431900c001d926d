"""The bad-input corpus: damaged, forged and wrong inputs to extract, train, convert and the
tools, each generated here. Every case must end with a non-zero exit, exactly one error line
and no traceback, and must leave every file that existed before byte for byte as it was.

Cases run the CLI in the test process (`faceforge.cli.main`), so each costs milliseconds to a
second rather than the two seconds of a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from faceforge.cli import main
from faceforge.formats.png_chunks import itxt_chunk, png_chunk

from .conftest import one_error_line, tree_hashes

DEEP = 100_000


@dataclass
class Inputs:
    """What a case may use: read-only shared inputs and its own folder."""

    video: Path  # lp_d18.mp4
    other_video: Path  # lp_d19.mp4
    faces_a: Path
    faces_b: Path
    store: Path  # lp_d18's store (read-only: a case that damages it copies it first)
    model: Path  # the small model (likewise)
    tmp: Path


@dataclass
class Case:
    id: str
    argv: Callable[[Inputs], list]


CASES: list[Case] = []


def case(case_id: str, argv: Callable[[Inputs], list]) -> None:
    CASES.append(Case(case_id, argv))


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def deep_json(key: str = "x") -> str:
    return '{"' + key + '": ' + "[" * DEEP + "]" * DEEP + "}"


# -- option values -----------------------------------------------------------------------------

def _extract(i: Inputs, *extra) -> list:
    return ["extract", "-i", i.video, "-o", i.tmp / "out", "-p", i.tmp / "new.db", *extra]


def _train(i: Inputs, *extra) -> list:
    return ["train", "-A", i.faces_a, "-B", i.faces_b, "-m", i.tmp / "model", "-t", "quick",
            "-bs", "2", "-it", "2", "--no-identity", *extra]


def _convert(i: Inputs, *extra, model: Path | None = None, store: Path | None = None) -> list:
    return ["convert", "-i", i.video, "-o", i.tmp / "out", "-m", model or i.model, "-p",
            store or i.store, *extra]


for flag, value in [("-sz", "0"), ("-sz", "100000"), ("-sz", "big"), ("-N", "0"),
                    ("-N", "-3"), ("--landmark-threshold", "-1"),
                    ("--png-compression", "10"), ("-D", "no-such-detector"),
                    ("-A", "no-such-aligner"), ("-nm", "no-such-mask"), ("-min", "-5"),
                    ("-c", "sideways")]:
    case(f"extract {flag} {value}", lambda i, f=flag, v=value: _extract(i, f, v))
case("extract missing input", lambda i: ["extract", "-i", i.tmp / "nope.mp4", "-o", i.tmp / "o"])
case("extract empty folder", lambda i: (i.tmp / "empty").mkdir() or [
    "extract", "-i", i.tmp / "empty", "-o", i.tmp / "o"])
case("extract text named mp4", lambda i: [
    "extract", "-i", write(i.tmp / "clip.mp4", "not a video\n" * 100), "-o", i.tmp / "o"])
case("extract random bytes mp4", lambda i: [
    "extract", "-i", write(i.tmp / "clip.mp4", os.urandom(20000)), "-o", i.tmp / "o"])
case("extract empty mp4", lambda i: [
    "extract", "-i", write(i.tmp / "clip.mp4", b""), "-o", i.tmp / "o"])
case("extract png that is text", lambda i: [
    "extract", "-i", write(i.tmp / "frames" / "f1.png", "text").parent, "-o", i.tmp / "o"])
case("extract output under a file", lambda i: [
    "extract", "-i", i.video, "-o", write(i.tmp / "file", "x") / "faces", "-p", i.tmp / "a.db"])
case("extract store path is a folder", lambda i: (i.tmp / "dir.db").mkdir() or _extract(
    i)[:-2] + ["-p", i.tmp / "dir.db"])

for flag, value in [("-it", "-5"), ("-it", "0"), ("-bs", "0"), ("-bs", "-1"), ("-s", "0"),
                    ("--coverage", "5"), ("--coverage", "500"), ("-t", "no-such-trainer"),
                    ("-lr", "fast"), ("--accumulate", "0"), ("--optimizer", "sgd"),
                    ("-L", "LOUD")]:
    case(f"train {flag} {value}", lambda i, f=flag, v=value: _train(i, f, v))
case("train faces A missing", lambda i: ["train", "-A", i.tmp / "none", "-B", i.faces_b, "-m",
                                         i.tmp / "m", "-it", "2"])
case("train faces B empty", lambda i: (i.tmp / "empty").mkdir() or [
    "train", "-A", i.faces_a, "-B", i.tmp / "empty", "-m", i.tmp / "m", "-it", "2"])
case("train faces folder of text", lambda i: [
    "train", "-A", write(i.tmp / "t" / "a.png", "text").parent, "-B", i.faces_b, "-m",
    i.tmp / "m", "-it", "2", "--no-identity"])
case("train timelapse one side", lambda i: _train(i, "-x", i.faces_a))
case("train model folder is a file", lambda i: [
    "train", "-A", i.faces_a, "-B", i.faces_b, "-m", write(i.tmp / "model", "x"), "-it", "2"])

for flag, value in [("-S", "-100"), ("-S", "1000"), ("-R", "5000-6000"), ("-R", "10-5"),
                    ("-R", "x-y"), ("--output-scale", "0"), ("--output-scale", "5000"),
                    ("--writer", "no-such-writer"), ("--crf", "abc"), ("-M", "no-such-mask"),
                    ("-c", "no-such-colour"), ("-j", "many")]:
    case(f"convert {flag} {value}", lambda i, f=flag, v=value: _convert(i, f, v))
case("convert missing input", lambda i: _convert(i)[:1] + ["-i", i.tmp / "nope.mp4"]
     + _convert(i)[3:])
case("convert missing model", lambda i: _convert(i, model=i.tmp / "no-model"))
case("convert folder without a model", lambda i: (i.tmp / "m").mkdir() or _convert(
    i, model=i.tmp / "m"))
case("convert missing store", lambda i: _convert(i, store=i.tmp / "none.db"))
case("convert store of another video", lambda i: ["convert", "-i", i.other_video, "-o",
                                                  i.tmp / "out", "-m", i.model, "-p", i.store])
case("convert output under a file", lambda i: _convert(i)[:3] + [
    "-o", write(i.tmp / "file", "x") / "out"] + _convert(i)[5:])

case("tools summary missing", lambda i: ["tools", "alignments", "summary", i.tmp / "no.db"])
case("tools summary folder", lambda i: ["tools", "alignments", "summary", i.tmp])
case("tools summary text file", lambda i: [
    "tools", "alignments", "summary", write(i.tmp / "a.db", "hello")])
case("tools summary json file", lambda i: [
    "tools", "alignments", "summary", write(i.tmp / "a.json", "{}")])
case("tools summary empty file", lambda i: [
    "tools", "alignments", "summary", write(i.tmp / "a.db", b"")])
case("tools export target exists as folder", lambda i: (i.tmp / "out.json").mkdir() or [
    "tools", "alignments", "export", i.store, i.tmp / "out.json"])
case("tools export bad format", lambda i: [
    "tools", "alignments", "export", i.store, i.tmp / "o.json", "--format", "xml"])
for name, text in [("not-json", "{oops"), ("a-list", "[1, 2]"), ("other-format", '{"format": 1}'),
                   ("newer-schema", '{"format": "faceforge-alignments", "schema_version": 99}'),
                   ("frames-not-list", '{"format": "faceforge-alignments", "schema_version": 2,'
                    ' "meta": {}, "frames": 5}'),
                   ("face-short-landmarks", json.dumps({
                       "format": "faceforge-alignments", "schema_version": 2, "meta": {},
                       "frames": [{"index": 0, "name": "f", "width": 10, "height": 10,
                                   "timestamp_s": None, "faces": [{
                                       "face_index": 0, "box": [0, 0, 1, 1], "score": 1,
                                       "landmarks": [[0, 0]], "matrix": [[1, 0, 0], [0, 1, 0]],
                                       "masks": {}, "detector": "", "landmarker": ""}]}]})),
                   ("deep", '{"format": "faceforge-alignments", "schema_version": 2, "meta": '
                    + "[" * DEEP + "]" * DEEP + ', "frames": []}'),
                   ("latin1-bytes", ""),
                   ("fsa-random", None)]:
    if text is None:
        case(f"tools import {name}", lambda i: [
            "tools", "alignments", "import", write(i.tmp / "x.fsa", os.urandom(4000)),
            i.tmp / "new.db"])
    else:
        data = b'{"x": "\xe9"}' if name == "latin1-bytes" else text.encode("utf-8")
        case(f"tools import {name}", lambda i, d=data: [
            "tools", "alignments", "import", write(i.tmp / "x.json", d), i.tmp / "new.db"])
case("tools import over an existing file", lambda i: [
    "tools", "alignments", "import", write(i.tmp / "x.json", json.dumps(
        {"format": "faceforge-alignments", "schema_version": 2, "meta": {}, "frames": []})),
    write(i.tmp / "exists.db", "x")])
case("tools model info missing", lambda i: ["tools", "model", "info", "-m", i.tmp / "none"])
case("tools model info empty folder", lambda i: (i.tmp / "m").mkdir() or [
    "tools", "model", "info", "-m", i.tmp / "m"])
case("tools model nan-scan missing", lambda i: ["tools", "model", "nan-scan", "-m", i.tmp / "n"])
case("tools media info missing", lambda i: ["tools", "media", "info", "-i", i.tmp / "no.mp4"])
case("tools media info text", lambda i: [
    "tools", "media", "info", "-i", write(i.tmp / "clip.mp4", "text")])
case("tools media slice past the end", lambda i: [
    "tools", "media", "slice", "-i", i.video, "-o", i.tmp / "cut.mp4", "--frames", "5000-6000"])
case("tools media slice reversed", lambda i: [
    "tools", "media", "slice", "-i", i.video, "-o", i.tmp / "cut.mp4", "--frames", "50-10"])
case("tools sort missing folder", lambda i: ["tools", "sort", "-i", i.tmp / "none"])
case("tools sort unknown method", lambda i: ["tools", "sort", "-i", i.faces_a, "-s", "mood"])
case("tools faces report missing", lambda i: [
    "tools", "faces", "report", "-i", i.tmp / "none", "-o", i.tmp / "r"])
case("tools import-faces missing", lambda i: [
    "tools", "alignments", "import-faces", i.tmp / "none", i.tmp / "new.db"])
case("tools smooth bad sigma", lambda i: [
    "tools", "alignments", "smooth", i.store, "-o", i.tmp / "s.db", "--sigma", "-1"])
case("tools merge with itself elsewhere", lambda i: [
    "tools", "alignments", "merge", i.store, write(i.tmp / "b.db", "not a store"), "-o",
    i.tmp / "m.db"])
case("tools unknown tool", lambda i: ["tools", "wand"])
case("tools alignments extract -sz 100000", lambda i: [
    "tools", "alignments", "extract", i.store, "-r", i.video, "-o", i.tmp / "o", "-sz",
    "100000"])
case("tools faces report --thumb-size 100000", lambda i: [
    "tools", "faces", "report", "-i", i.faces_a, "-o", i.tmp / "r", "--thumb-size", "100000",
    "--no-identity"])
case("tools faces report sheet too big", lambda i: [
    "tools", "faces", "report", "-i", i.faces_a, "-o", i.tmp / "r", "--thumb-size", "1024",
    "--columns", "100", "--no-identity"])

# -- damaged alignments stores, for every command that reads them whole ------------------------

STORE_DAMAGE = {
    "landmarks-2-bytes": "UPDATE faces SET landmarks = x'0011' WHERE frame_idx = 4",
    "landmarks-too-long": "UPDATE faces SET landmarks = zeroblob(1000) WHERE frame_idx = 4",
    "landmarks-text": "UPDATE faces SET landmarks = 'abc' WHERE frame_idx = 4",
    "landmarks-nan": "UPDATE faces SET landmarks = x'" + "0000c07f" * 136 + "' "
                     "WHERE frame_idx = 4",
    "matrix-short": "UPDATE faces SET matrix = zeroblob(8) WHERE frame_idx = 4",
    "identity-short": "UPDATE faces SET identity = zeroblob(12) WHERE frame_idx = 4",
    "score-text": "UPDATE faces SET score = 'high' WHERE frame_idx = 4",
    "box-blob": "UPDATE faces SET left = x'00' WHERE frame_idx = 4",
    "detector-blob": "UPDATE faces SET detector = x'00ff' WHERE frame_idx = 4",
    "frame-name-blob": "UPDATE frames SET name = x'0102' WHERE idx = 4",
    "frame-width-text": "UPDATE frames SET width = 'wide' WHERE idx = 4",
    "orphan-face": "DELETE FROM frames WHERE idx = 4",
    "mask-garbage": "UPDATE masks SET png = x'00112233' WHERE frame_idx = 4",
    "mask-huge-header": "UPDATE masks SET png = x'89504e470d0a1a0a0000000d49484452000186a0"
                        "000186a00800000000' WHERE frame_idx = 4",
}
META_DAMAGE = {
    "meta-broken-json": "UPDATE meta SET value = '{broken' WHERE key = 'settings'",
    "meta-deep-json": "UPDATE meta SET value = '" + "[" * DEEP + "]" * DEEP
                      + "' WHERE key = 'settings'",
    "meta-blob": "UPDATE meta SET value = x'ff00ff' WHERE key = 'fps'",
    "schema-masks-dropped": "DROP TABLE masks",
    "schema-column-renamed": "ALTER TABLE frames RENAME COLUMN name TO title",
    "application-id-other": "PRAGMA application_id = 1234",
    "schema-version-99": "PRAGMA user_version = 99",
    "schema-version-0": "PRAGMA user_version = 0",
}
FILE_DAMAGE = {
    "truncated-half": lambda data: data[:len(data) // 2],
    "random-bytes": lambda data: os.urandom(len(data)),
    "header-only": lambda data: data[:100],
    "garbage-after-header": lambda data: data[:100] + os.urandom(len(data) - 100),
    "text": lambda data: b"hello\n" * 100,
}


def damaged_store(i: Inputs, damage: str) -> Path:
    path = i.tmp / "store.db"
    shutil.copyfile(i.store, path)
    if damage in FILE_DAMAGE:
        path.write_bytes(FILE_DAMAGE[damage](path.read_bytes()))
    else:
        sql = {**STORE_DAMAGE, **META_DAMAGE}[damage]
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()
    return path


STORE_READERS = {
    "convert": lambda i, s: _convert(i, store=s),
    "summary --list": lambda i, s: ["tools", "alignments", "summary", s, "--list"],
    "export json": lambda i, s: ["tools", "alignments", "export", s, i.tmp / "out.json"],
    "export fsa": lambda i, s: ["tools", "alignments", "export", s, i.tmp / "out.fsa"],
    "smooth": lambda i, s: ["tools", "alignments", "smooth", s, "-o", i.tmp / "smooth.db"],
}
# Extract, resuming, reads the store's metadata and frame list but not its faces.
STORE_OPENERS = {
    "extract": lambda i, s: _extract(i)[:-2] + ["-p", s, "-N", "4"],
    "summary": lambda i, s: ["tools", "alignments", "summary", s],
    "no-faces": lambda i, s: ["tools", "alignments", "no-faces", s],
}

for damage in STORE_DAMAGE:
    for reader, argv in STORE_READERS.items():
        case(f"{reader} store {damage}",
             lambda i, d=damage, a=argv: a(i, damaged_store(i, d)))
for damage in [*META_DAMAGE, *FILE_DAMAGE]:
    for reader, argv in {**STORE_READERS, **STORE_OPENERS}.items():
        if reader in ("export fsa", "smooth", "no-faces") and damage.startswith("schema-v"):
            continue  # one reader of each kind is enough for the version checks
        case(f"{reader} store {damage}",
             lambda i, d=damage, a=argv: a(i, damaged_store(i, d)))

# -- damaged model folders ---------------------------------------------------------------------


def damaged_model(i: Inputs, edit: Callable[[Path], None]) -> Path:
    folder = i.tmp / "model"
    folder.mkdir()
    for path in i.model.iterdir():
        if path.is_file():
            shutil.copyfile(path, folder / path.name)
    edit(folder)
    return folder


def _state_edit(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        state = json.loads((folder / "state.json").read_text())
        change(state)
        (folder / "state.json").write_text(json.dumps(state))
    return edit


def _weights(folder: Path) -> Path:
    return next(folder.glob("weights-*.safetensors"))


MODEL_DAMAGE: dict[str, Callable[[Path], None]] = {
    "state-random-bytes": lambda f: (f / "state.json").write_bytes(os.urandom(600)),
    "state-empty": lambda f: (f / "state.json").write_bytes(b""),
    "state-a-list": lambda f: (f / "state.json").write_text("[1, 2, 3]"),
    "state-deep": lambda f: (f / "state.json").write_text(deep_json("format")),
    "model-config-list": _state_edit(lambda s: s.update(model_config=[1, 2])),
    "widths-ten-million": _state_edit(
        lambda s: s["model_config"].update(encoder_filters=[8, 16, 16, 10**7])),
    "width-negative": _state_edit(lambda s: s["model_config"].update(encoder_dim=-16)),
    "width-text": _state_edit(lambda s: s["model_config"].update(dense_filters="wide")),
    "input-size-17": _state_edit(lambda s: s["model_config"].update(input_size=17)),
    "learning-rate-nan": _state_edit(lambda s: s["model_config"].update(learning_rate="nan")),
    "unknown-option": _state_edit(lambda s: s["model_config"].update(turbo=True)),
    "trainer-unknown": _state_edit(lambda s: s.update(trainer="no-such-trainer")),
    "trainer-number": _state_edit(lambda s: s.update(trainer=5)),
    "files-outside-folder": _state_edit(lambda s: s["files"].update(weights="../../etc/passwd")),
    "files-a-list": _state_edit(lambda s: s.update(files=["weights.safetensors"])),
    "iterations-negative": _state_edit(lambda s: s.update(iterations=-1)),
    "iterations-text": _state_edit(lambda s: s.update(iterations="many")),
    "sessions-bad": _state_edit(lambda s: s.update(sessions=[{"start": "yesterday", "x": 1}])),
    "version-99": _state_edit(lambda s: s.update(version=99)),
    "weights-missing": lambda f: _weights(f).unlink(),
    "weights-truncated": lambda f: _weights(f).write_bytes(_weights(f).read_bytes()[:5000]),
    "weights-random": lambda f: _weights(f).write_bytes(os.urandom(5000)),
    "weights-header-lies": lambda f: _weights(f).write_bytes(
        struct.pack("<Q", 10**12) + b"{}"),
    "weights-other-shapes": _state_edit(
        lambda s: s["model_config"].update(decoder_filters=[16, 8, 4])),
}
MODEL_USERS = {
    "convert": lambda i, m: _convert(i, model=m),
    "train": lambda i, m: _train(i)[:5] + ["-m", m] + _train(i)[7:],
}
for damage in MODEL_DAMAGE:
    for user, argv in MODEL_USERS.items():
        case(f"{user} model {damage}",
             lambda i, d=damage, a=argv: a(i, damaged_model(i, MODEL_DAMAGE[d])))

# -- damaged face images -----------------------------------------------------------------------


def _chunks_without_text(data: bytes) -> tuple[bytes, bytes]:
    """(signature + IHDR, every other chunk but text chunks)."""
    head, rest, pos = data[:33], [], 33
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        if data[pos + 4:pos + 8] not in (b"iTXt", b"tEXt", b"zTXt"):
            rest.append(data[pos:pos + 12 + length])
        pos += 12 + length
    return head, b"".join(rest)


def _with_text(data: bytes, chunk: bytes) -> bytes:
    head, rest = _chunks_without_text(data)
    return head + chunk + rest


def _meta(data: bytes) -> dict:
    from faceforge.formats.face_png import parse_face_meta

    meta = parse_face_meta(data)
    meta.pop("origin")
    return meta


def _with_meta(change: Callable[[dict], None]) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        meta = _meta(data)
        change(meta)
        return _with_text(data, itxt_chunk("faceforge", json.dumps({"faceforge": meta})))
    return edit


def _compressed_itxt(text: bytes) -> bytes:
    return png_chunk(b"iTXt", b"faceforge\x00\x01\x00\x00\x00" + zlib.compress(text, 9))


FACE_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "json-deep": lambda d: _with_text(d, itxt_chunk("faceforge", deep_json("faceforge"))),
    "json-broken": lambda d: _with_text(d, itxt_chunk("faceforge", "{oops")),
    "no-metadata": lambda d: _with_text(d, b""),
    "header-100000-square": lambda d: d[:8] + png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)) + d[33:],
    "header-zero-width": lambda d: d[:8] + png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", 0, 256, 8, 2, 0, 0, 0)) + d[33:],
    "matrix-all-zero": _with_meta(lambda m: m.update(matrix=[[0, 0, 0], [0, 0, 0]])),
    "matrix-nan": lambda d: _with_text(d, itxt_chunk("faceforge", json.dumps(
        {"faceforge": {**_meta(d), "matrix": [[float("nan"), 0, 0], [0, 1, 0]]}}))),
    "landmarks-67": _with_meta(lambda m: m.update(landmarks=m["landmarks"][:67])),
    "size-huge": _with_meta(lambda m: m.update(size=10**9)),
    "centering-unknown": _with_meta(lambda m: m.update(centering="sideways")),
    "text-bomb": lambda d: _with_text(d, _compressed_itxt(b" " * (64 << 20))),
    "bad-crc": lambda d: (lambda c: d[:33] + c[:-4] + b"\0\0\0\0" + _chunks_without_text(d)[1])(
        itxt_chunk("faceforge", json.dumps({"faceforge": _meta(d)}))),
    "truncated": lambda d: d[: len(d) // 3],
    "pixels-garbage": lambda d: _with_text(d, itxt_chunk(
        "faceforge", json.dumps({"faceforge": _meta(d)})))[:200] + os.urandom(4000),
    "not-a-png": lambda d: b"GIF89a" + os.urandom(1000),
}


def damaged_faces(i: Inputs, damage: str) -> Path:
    folder = i.tmp / "faces"
    folder.mkdir()
    names = sorted(p.name for p in i.faces_a.glob("*.png"))
    for name in names[:6]:
        shutil.copyfile(i.faces_a / name, folder / name)
    first = folder / names[0]
    first.write_bytes(FACE_DAMAGE[damage](first.read_bytes()))
    return folder


# (`tools alignments import-faces` skips a face it cannot read, with a warning, by design.)
FACE_USERS = {
    "train": lambda i, f: ["train", "-A", f, "-B", i.faces_b, "-m", i.tmp / "model", "-t",
                           "quick", "-bs", "2", "-it", "2", "--no-identity"],
}
for damage in FACE_DAMAGE:
    for user, argv in FACE_USERS.items():
        case(f"{user} face {damage}",
             lambda i, d=damage, a=argv: a(i, damaged_faces(i, d)))


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)


def _run(argv: list) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:  # argparse refusing an option value
        return exc.code if isinstance(exc.code, int) else 1


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(bad: Case, video_dir, faces, small_model,
                                                   tmp_path, capsys):
    store = faces["a"].parent / "a.db"
    inputs = Inputs(video_dir / "lp_d18.mp4", video_dir / "lp_d19.mp4", faces["a"], faces["b"],
                    store, small_model, tmp_path)
    shared = (store, small_model)
    shared_before = tree_hashes(*shared)
    argv = bad.argv(inputs)
    assert argv, "the case could not be set up"
    capsys.readouterr()
    before = tree_hashes(tmp_path)
    code = _run(argv)
    err = capsys.readouterr().err
    assert code != 0, f"false success: {err}"
    one_error_line(err)
    after = tree_hashes(tmp_path)
    assert {path: after.get(path) for path in before} == before, "a file that existed changed"
    assert not [p for p in after if "tmp" in Path(p).name or "partial" in Path(p).name]
    assert tree_hashes(*shared) == shared_before
