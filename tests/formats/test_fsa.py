"""Faceswap .fsa files: read with an allow-list unpickler that runs nothing from the file,
mapped to and from alignments store records without loss."""

from __future__ import annotations

import builtins
import os
import pickle
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from faceforge.cli import main
from faceforge.core import geometry
from faceforge.errors import FormatError
from faceforge.formats import AlignmentsStore
from faceforge.formats import fsa as fsa_format
from faceforge.formats.fsa import (
    frames_from_fsa,
    fsa_from_frames,
    fsa_to_store,
    loads_plain_data,
    parse_fsa,
    read_fsa,
    read_fsa_frames,
    store_to_fsa,
)
from tests.formats.alignments_samples import assert_same_frame, make_frame
from tests.formats.fsa_samples import (
    FACE_KEYS,
    FRAME_KEYS,
    MASK_KEYS,
    faceswap_document,
    fsa_bytes,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(11)


def face_like_frames(rng: np.random.Generator, count: int = 4) -> list:
    """Frames whose faces have face-shaped landmarks (the mean face, moved and scaled)."""
    frames = []
    for index in range(count):
        frame = make_frame(rng, index * 3, n_faces=index % 3)
        for face in frame.faces:
            unit = np.vstack([np.zeros((17, 2)), geometry.mean_face()])
            unit[:17] = unit[17:34] + [0, 0.3]  # a plausible jaw below the brows
            scale, shift = rng.uniform(100, 300), rng.uniform(200, 800, 2)
            face.landmarks = (unit * scale + shift).astype(np.float32)
            face.matrix = geometry.legacy_matrix(face.landmarks)
            face.masks = {}
        frames.append(frame)
    return frames


# -- hostile files -----------------------------------------------------------------------


class _Calls:
    """Pickles as a call of `func(*args)`: what a hostile file would ask for."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _hostile_documents(marker: Path) -> dict[str, object]:
    command = f"touch {marker}"
    return {
        "os.system": _Calls(os.system, command),
        "builtins.eval": _Calls(builtins.eval, f"__import__('os').system({command!r})"),
        "builtins.exec": _Calls(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.Popen": _Calls(subprocess.Popen, ["touch", str(marker)]),
        "builtins.getattr": _Calls(getattr, 0, "__class__"),
        "an object array": np.array([_Calls(os.system, command)], dtype=object),
    }


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_hostile_pickles_are_refused_and_nothing_runs(tmp_path, protocol):
    marker = tmp_path / "ran"
    for what, payload in _hostile_documents(marker).items():
        document = {"__meta__": {"version": 2.4}, "__data__": {"a_000001.png": payload}}
        path = tmp_path / "evil.fsa"
        path.write_bytes(fsa_bytes(document, protocol))
        with pytest.raises(FormatError) as raised:
            read_fsa(path)
        line = raised.value.one_line()
        assert "\n" not in line and "evil.fsa" in line, what
        assert "plain-data" in line, what
        assert not marker.exists(), f"{what} ran"


def test_the_refusal_names_what_the_file_asked_for(tmp_path):
    document = {"__meta__": {"version": 2.4}, "__data__": _Calls(builtins.eval, "1+1")}
    with pytest.raises(FormatError, match=r"asks for builtins\.eval"):
        parse_fsa(fsa_bytes(document), "x.fsa")


@pytest.mark.parametrize("payload", [
    b"(S'touch /tmp/x'\nios\nsystem\n.",  # INST: an old-style class instance
    b"cos\nsystem\n(S'touch /tmp/x'\ntR.",  # GLOBAL + REDUCE written by hand
    b"P0\n.",  # a persistent id
    b"\x80\x04cnumpy\ndtype\n(X\x01\x00\x00\x00Oq\x00\x89\x88tR.",  # numpy object dtype
    b"\x80\x04cnumpy.core.multiarray\n_reconstruct\ncbuiltins\nlist\n)\x85C\x01b\x87R.",
])
def test_hand_made_hostile_opcodes_are_refused(payload):
    with pytest.raises(FormatError, match="plain-data"):
        loads_plain_data(payload, "x.fsa")


def test_cli_import_of_a_hostile_file_prints_one_line_and_creates_nothing(tmp_path, capsys):
    marker = tmp_path / "ran"
    document = {"__meta__": {"version": 2.4}, "__data__": _Calls(os.system, f"touch {marker}")}
    (tmp_path / "evil.fsa").write_bytes(fsa_bytes(document))
    code = main(["tools", "alignments", "import", str(tmp_path / "evil.fsa"),
                 str(tmp_path / "out.db")])
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1 and "Traceback" not in err and "system" in err
    assert not marker.exists() and not (tmp_path / "out.db").exists()


# -- damaged and foreign files ---------------------------------------------------------------


def test_damaged_and_foreign_files_give_one_clear_line(tmp_path, rng):
    good = fsa_bytes(faceswap_document(face_like_frames(rng), "clip", rng))
    cases = {
        "not zlib": b"just text",
        "truncated": good[: len(good) // 2],
        "not a dict": zlib.compress(pickle.dumps([1, 2, 3])),
        "no data": zlib.compress(pickle.dumps({"__meta__": {"version": 2.4}})),
        "before 2.0": zlib.compress(pickle.dumps({"__data__": {}})),
    }
    for what, data in cases.items():
        with pytest.raises(FormatError) as raised:
            parse_fsa(data, "x.fsa")
        assert "\n" not in raised.value.one_line() and raised.value.hint, what


def test_a_zlib_bomb_is_refused_without_unpacking_it(monkeypatch):
    monkeypatch.setattr(fsa_format, "MAX_UNPACKED_BYTES", 1 << 20)
    with pytest.raises(FormatError, match="unpacks to more than"):
        parse_fsa(zlib.compress(b"\0" * (4 << 20)), "bomb.fsa")


# -- reading what Faceswap writes -----------------------------------------------------------


@pytest.mark.parametrize("version", [2.2, 2.3, 2.4])
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_and_list_layouts_read_the_same(rng, version, protocol):
    frames = face_like_frames(rng)
    document = faceswap_document(frames, "clip", np.random.default_rng(3), version)
    meta, read = frames_from_fsa(parse_fsa(fsa_bytes(document, protocol), "c.fsa"), "c.fsa")
    assert meta["source_kind"] == "video"
    assert [f.index for f in read] == [f.index for f in frames]
    for got, want in zip(read, frames, strict=True):
        assert got.name == f"clip_{want.index:06d}"
        assert len(got.faces) == len(want.faces)
        for a, b in zip(got.faces, want.faces, strict=True):
            np.testing.assert_array_equal(a.landmarks, b.landmarks)
            assert a.box == tuple(float(round(v)) for v in (b.box[0], b.box[1])) + (
                round(b.box[0]) + round(b.box[2] - b.box[0]),
                round(b.box[1]) + round(b.box[3] - b.box[1]))
            assert set(a.masks) == {"extended"} and a.masks["extended"].shape == (128, 128)
            assert a.thumbnail[:2] == b"\xff\xd8"  # JPEG
            assert a.identity is None  # vggface2 is not a dlib descriptor
    identities = meta["faceswap"]["identities"]
    assert all(len(v["vggface2"]) == 512 for v in identities.values())


def test_a_faceswap_mask_is_redrawn_in_our_mask_space(rng):
    frames = face_like_frames(rng, 2)
    face = frames[1].faces[0]
    document = faceswap_document(frames, "clip", rng, 2.4, ".mp4")
    _meta, read = frames_from_fsa(document, "c.fsa")
    from faceforge.core.masks import landmark_mask

    ours = landmark_mask(face.landmarks, geometry.aligned_matrix(face.matrix, 128, "head"), 128,
                         "extended") > 127
    redrawn = read[1].faces[0].masks["extended"] > 127
    assert (ours & redrawn).sum() / (ours | redrawn).sum() > 0.9


def test_keys_of_faceswap_2_4_end_with_the_video_extension(rng):
    frames = face_like_frames(rng, 3)
    document = faceswap_document(frames, "my clip", rng, 2.4, ".mov")
    meta, read = frames_from_fsa(document, "c.fsa")
    assert [f.name for f in read] == [f"my clip_{f.index:06d}" for f in frames]
    back = fsa_from_frames(meta, read)
    assert list(back["__data__"]) == list(document["__data__"])


def test_image_folder_keys_keep_their_file_names_in_natural_order(rng):
    frames = face_like_frames(rng, 3)
    document = faceswap_document(frames, "x", rng, 2.4)
    document["__data__"] = dict(zip(["img10.jpg", "img2.jpg", "img1.jpg"],
                                    document["__data__"].values(), strict=True))
    meta, read = frames_from_fsa(document, "c.fsa")
    assert meta["source_kind"] == "images"
    assert [(f.index, f.name) for f in read] == [(0, "img1.jpg"), (1, "img2.jpg"),
                                                (2, "img10.jpg")]
    assert list(fsa_from_frames(meta, read)["__data__"]) == ["img1.jpg", "img2.jpg", "img10.jpg"]


def test_faces_with_other_landmark_layouts_are_skipped_and_counted(rng):
    frames = face_like_frames(rng, 2)
    document = faceswap_document(frames, "clip", rng, 2.4)
    first = next(iter(document["__data__"].values()))
    first["faces"].append({"x": 1, "y": 1, "w": 5, "h": 5, "landmarks_xy": [[0, 0]] * 4})
    meta, read = frames_from_fsa(document, "c.fsa")
    assert meta["faceswap"]["skipped_faces"] == 1
    assert len(read[0].faces) == len(frames[0].faces)


# -- writing what Faceswap reads -----------------------------------------------------------


def test_export_has_faceswaps_documented_structure(tmp_path, rng):
    frames = face_like_frames(rng)
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.update_meta({"source_kind": "video", "source_path": "/x/clip.mp4"})
        store.add_frames(frames)
    store_to_fsa(tmp_path / "a.db", tmp_path / "a.fsa")
    # Faceswap reads it with plain pickle: nothing but built-in types inside.
    document = pickle.loads(zlib.decompress((tmp_path / "a.fsa").read_bytes()))
    assert document["__meta__"]["version"] == 2.4
    assert list(document["__data__"]) == [f"clip_{f.index + 1:06d}.mp4" for f in frames]
    for entry in document["__data__"].values():
        assert set(entry) == FRAME_KEYS
        for face in entry["faces"]:
            assert set(face) == FACE_KEYS
            assert all(isinstance(face[k], int) for k in ("x", "y", "w", "h"))
            assert np.asarray(face["landmarks_xy"]).shape == (68, 2)
            for mask in face["mask"].values():
                assert set(mask) == MASK_KEYS


def test_store_to_fsa_to_store_is_identical(tmp_path, rng):
    frames = face_like_frames(rng, 5)
    frames[2].faces[0].masks = {}
    meta = {"source_kind": "video", "source_path": "/x/clip.mp4", "fps": 29.97,
            "plugins": {"detector": "blazeface"}}
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.update_meta(meta)
        store.add_frames(frames)
    store_to_fsa(tmp_path / "a.db", tmp_path / "a.fsa")
    fsa_to_store(tmp_path / "a.fsa", tmp_path / "b.db")
    with AlignmentsStore.open(tmp_path / "a.db", "r") as a, \
            AlignmentsStore.open(tmp_path / "b.db", "r") as b:
        for got, want in zip(b.iter_frames(), a.iter_frames(), strict=True):
            assert_same_frame(got, want)
        got_meta = b.meta()
        assert got_meta.pop("imported_from").endswith("a.fsa")
        assert got_meta.pop("faceswap") == {"identities": {}, "video_meta": {},
                                            "key_extension": ".mp4"}
        assert got_meta == a.meta()


def test_an_existing_store_is_not_overwritten(tmp_path, rng):
    (tmp_path / "a.fsa").write_bytes(fsa_bytes(faceswap_document(face_like_frames(rng), "c",
                                                                 rng)))
    (tmp_path / "b.db").write_bytes(b"")
    with pytest.raises(Exception, match="already exists"):
        fsa_to_store(tmp_path / "a.fsa", tmp_path / "b.db")


def test_cli_export_and_import_by_suffix(tmp_path, rng, capsys):
    frames = face_like_frames(rng)
    with AlignmentsStore.open(tmp_path / "a.db", "a") as store:
        store.update_meta({"source_kind": "video", "source_path": "/x/clip.mp4"})
        store.add_frames(frames)
    assert main(["tools", "alignments", "export", str(tmp_path / "a.db"),
                 str(tmp_path / "a.fsa")]) == 0
    assert main(["tools", "alignments", "export", str(tmp_path / "a.db"),
                 str(tmp_path / "a.out"), "--format", "fsa"]) == 0
    assert (tmp_path / "a.out").read_bytes()[:1] == b"x"  # zlib, not JSON
    assert main(["tools", "alignments", "import", str(tmp_path / "a.fsa"),
                 str(tmp_path / "b.db")]) == 0
    _meta, read = read_fsa_frames(tmp_path / "a.fsa")
    assert [f.index for f in read] == [f.index for f in frames]
