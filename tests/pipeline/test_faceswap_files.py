"""A Faceswap user's files and command lines on the shared clips: .fsa alignments with real
landmarks through train and convert, Faceswap face PNGs as references and as the source of a
rebuilt store, and the opencv writer's frames assembled by the tutorial's ffmpeg line."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from faceforge.cli import main
from faceforge.formats import AlignmentsStore
from faceforge.formats.face_png import read_face_png
from faceforge.formats.fsa import fsa_to_store, read_fsa, store_to_fsa
from faceforge.formats.model_state import read_state
from faceforge.formats.png_chunks import png_chunk
from tests.formats.alignments_samples import assert_same_frame
from tests.formats.fsa_samples import faceswap_document, fsa_bytes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def faceswap_fsa(faces, tmp_path_factory) -> dict[str, Path]:
    """Faceswap-structured .fsa files holding the real landmarks that extraction found in
    lp_d18 (A: Faceswap 2.3's numpy layout) and lp_d19 (B: 2.4's lists and .mp4 keys)."""
    root = tmp_path_factory.mktemp("fsa")
    out = {}
    for side, stem, version, extension in (("a", "lp_d18", 2.3, ".png"),
                                           ("b", "lp_d19", 2.4, ".mp4")):
        with AlignmentsStore.open(faces[side].parent / f"{side}.db", "r") as store:
            frames = list(store.iter_frames())
        document = faceswap_document(frames, stem, np.random.default_rng(5), version, extension)
        out[side] = root / f"{stem}_alignments.fsa"
        out[side].write_bytes(fsa_bytes(document))
    return out


def test_real_fsa_to_store_to_fsa_to_store_is_identical(faces, faceswap_fsa, video_dir,
                                                        tmp_path):
    video = video_dir / "lp_d18.mp4"
    first = fsa_to_store(faceswap_fsa["a"], tmp_path / "1.db", source=video)
    store_to_fsa(first, tmp_path / "2.fsa")
    second = fsa_to_store(tmp_path / "2.fsa", tmp_path / "2.db", source=video)
    with AlignmentsStore.open(first, "r") as one, AlignmentsStore.open(second, "r") as two, \
            AlignmentsStore.open(faces["a"].parent / "a.db", "r") as extracted:
        frames_one = list(one.iter_frames())
        for got, want in zip(two.iter_frames(), frames_one, strict=True):
            assert_same_frame(got, want)
        meta_one, meta_two = one.meta(), two.meta()
        assert meta_one.pop("imported_from") != meta_two.pop("imported_from")
        assert meta_one == meta_two
        # And the first store holds what extraction found, in Faceswap's precision.
        for got, want in zip(frames_one, extracted.iter_frames(), strict=True):
            assert (got.index, got.name, got.width, got.height) == (
                want.index, want.name, 480, 480)
            for a, b in zip(got.faces, want.faces, strict=True):
                np.testing.assert_array_equal(a.landmarks, b.landmarks)
                assert np.abs(np.subtract(a.box, b.box)).max() <= 1.0
                assert len(meta_one["faceswap"]["identities"][f"{got.index}/{a.face_index}"]
                           ["vggface2"]) == 512
    # Faceswap's frame keys, its video timestamps and its identities come back on export.
    original, exported = read_fsa(faceswap_fsa["a"]), read_fsa(tmp_path / "2.fsa")
    assert list(exported["__data__"]) == list(original["__data__"])
    for key, entry in original["__data__"].items():
        assert exported["__data__"][key]["video_meta"] == entry["video_meta"]
        for a, b in zip(exported["__data__"][key]["faces"], entry["faces"], strict=True):
            np.testing.assert_array_equal(a["identity"]["vggface2"], b["identity"]["vggface2"])
            assert a["thumb"] == b["thumb"].tolist()


def test_tutorial_train_line_with_fsa_alignments(faces, faceswap_fsa, tmp_path, capsys):
    # train -A FACES_A -ala A.fsa -B FACES_B -alb B.fsa -m MODEL -t original -bs 16
    #   -it 1000000 -s 250 -ss 25000 -ps 100 -L INFO   (here stopped after 1 iteration)
    model = tmp_path / "model"
    assert main(["train", "-A", str(faces["a"]), "-ala", str(faceswap_fsa["a"]), "-B",
                 str(faces["b"]), "-alb", str(faceswap_fsa["b"]), "-m", str(model), "-t",
                 "original", "-bs", "16", "-it", "1", "-s", "250", "-ss", "25000", "-ps",
                 "100", "-L", "INFO"]) == 0
    err = capsys.readouterr().err
    assert "faces from" in err  # the log did reach us
    assert "are not in" not in err  # every face was found in its .fsa file
    assert read_state(model).iterations == 1


def test_faces_missing_from_the_fsa_are_reported(faces, faceswap_fsa, tmp_path):
    from faceforge.training.face_sets import FaceSet, check_alignments

    names = sorted(p.name for p in faces["b"].glob("*.png"))  # lp_d19's faces
    face_set = FaceSet("b", faces["b"], None, None, None, names)  # type: ignore[arg-type]
    assert check_alignments(face_set, faceswap_fsa["b"]) == len(names)
    assert check_alignments(face_set, faceswap_fsa["a"]) == 0  # another video's file


def test_tutorial_convert_line_with_fsa_alignments(video_dir, faces, faceswap_fsa, tiny_model,
                                                   tmp_path, capsys):
    # convert -i VIDEO -o OUT -al A.fsa -m MODEL -c avg-color -M extended -w ffmpeg -osc 100 -j 0
    assert main(["convert", "-i", str(video_dir / "lp_d18.mp4"), "-o", str(tmp_path), "-al",
                 str(faceswap_fsa["a"]), "-m", str(tiny_model), "-c", "avg-color", "-M",
                 "extended", "-w", "ffmpeg", "-osc", "100", "-j", "0", "-L", "WARNING"]) == 0
    with AlignmentsStore.open(faces["a"].parent / "a.db", "r") as store:
        faces_in_store = store.face_count()
    assert f"216 frames, {faces_in_store} faces swapped" in capsys.readouterr().out
    with av.open(str(next(tmp_path.glob("*.mp4")))) as container:
        assert sum(1 for _ in container.decode(video=0)) == 216


def test_fsa_of_another_video_is_refused_with_one_line(video_dir, faceswap_fsa, tiny_model,
                                                      tmp_path, capsys):
    assert main(["convert", "-i", str(video_dir / "lp_d18.mp4"), "-o", str(tmp_path), "-al",
                 str(faceswap_fsa["b"]), "-m", str(tiny_model), "-L", "WARNING"]) == 3
    err = capsys.readouterr().err
    assert "not a frame of" in err and err.count("\n") == 1


def test_faceswaps_default_fsa_beside_the_video_is_found(video_dir, faceswap_fsa, tiny_model,
                                                         tmp_path):
    video = tmp_path / "lp_d18.mp4"
    shutil.copy(video_dir / "lp_d18.mp4", video)
    shutil.copy(faceswap_fsa["a"], tmp_path / "lp_d18_alignments.fsa")
    out = tmp_path / "out"
    assert main(["convert", "-i", str(video), "-o", str(out), "-m", str(tiny_model), "-w",
                 "opencv", "-R", "0-3", "-L", "WARNING"]) == 0
    assert len(list(out.glob("*.png"))) == 4


def test_opencv_frames_assemble_with_the_tutorials_ffmpeg_pattern(video_dir, faces, tiny_model,
                                                                  tmp_path):
    # The tutorial names the clip personA and assembles with `ffmpeg -i personA_%6d.png ...`.
    video = tmp_path / "personA.mp4"
    shutil.copy(video_dir / "lp_d18.mp4", video)
    out = tmp_path / "frames"
    assert main(["convert", "-i", str(video), "-o", str(out), "-al",
                 str(faces["a"].parent / "a.db"), "-m", str(tiny_model), "-w", "opencv",
                 "-L", "WARNING"]) == 0
    # PyAV opens the pattern with the same image2 demuxer the ffmpeg command line uses.
    with av.open(str(out / "personA_%6d.png")) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 216
    first = cv2.cvtColor(cv2.imread(str(sorted(out.glob("*.png"))[0])), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(frames[0], first)


def _as_faceswap_png(face_path: Path, out: Path) -> Path:
    """A faceforge face PNG re-labelled with a Faceswap header: its pixels with Faceswap's
    iTXt chunk (a Python literal of the alignments entry) in place of ours."""
    pixels, meta = read_face_png(face_path)
    header = {
        "alignments": {"x": 0, "y": 0, "w": 10, "h": 10, "landmarks_xy": meta["landmarks"],
                       "mask": {}, "identity": {}},
        "source": {"alignments_version": 2.4, "original_filename": face_path.name,
                   "face_index": meta["face_index"],
                   "source_filename": f"lp_d18_{meta['frame_index'] + 1:06d}.mp4",
                   "source_is_video": True, "source_frame_dims": (480, 480)},
    }
    png = cv2.imencode(".png", cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))[1].tobytes()
    split = png.find(b"IDAT") - 4
    body = b"faceswap\x00\x00\x00\x00\x00" + repr(header).encode("utf-8")
    out.write_bytes(png[:split] + png_chunk(b"iTXt", body) + png[split:])
    return out


def test_face_pngs_of_either_tool_serve_as_convert_references(video_dir, faces, tiny_model,
                                                              tmp_path, capsys):
    ours = sorted(faces["a"].glob("*.png"))[0]
    theirs = _as_faceswap_png(ours, tmp_path / "faceswap_face.png")
    video = video_dir / "lp_d18.mp4"
    store = faces["a"].parent / "a.db"
    for reference in (ours, theirs):
        assert main(["convert", "-i", str(video), "-o", str(tmp_path / reference.stem), "-al",
                     str(store), "-m", str(tiny_model), "-w", "opencv", "-R", "0-7",
                     "-f", str(reference), "-L", "WARNING"]) == 0
        assert "8 frames, 2 faces swapped" in capsys.readouterr().out  # frames 0 and 4
    other = sorted(faces["b"].glob("*.png"))[0]  # the other man: nobody is swapped
    assert main(["convert", "-i", str(video), "-o", str(tmp_path / "other"), "-al", str(store),
                 "-m", str(tiny_model), "-w", "opencv", "-R", "0-7", "-f", str(other),
                 "-L", "WARNING"]) == 0
    assert "0 faces swapped" in capsys.readouterr().out


def test_import_faces_rebuilds_the_store_from_either_tools_faces(video_dir, faces, tmp_path):
    folder = tmp_path / "faces"
    shutil.copytree(faces["a"], folder)
    # Half the faces relabelled as Faceswap's, as after mixing folders of both tools.
    for path in sorted(folder.glob("*.png"))[::2]:
        _as_faceswap_png(path, path)
    assert main(["tools", "alignments", "import-faces", str(folder), str(tmp_path / "r.db"),
                 "--source", str(video_dir / "lp_d18.mp4"), "-L", "WARNING"]) == 0
    with AlignmentsStore.open(tmp_path / "r.db", "r") as rebuilt, \
            AlignmentsStore.open(faces["a"].parent / "a.db", "r") as extracted:
        want = [f for f in extracted.iter_frames() if f.faces]
        got = list(rebuilt.iter_frames())
        assert [(f.index, f.name, f.width) for f in got] == [(f.index, f.name, 480) for f in want]
        for a, b in zip(got, want, strict=True):
            for x, y in zip(a.faces, b.faces, strict=True):
                np.testing.assert_allclose(x.landmarks, y.landmarks, atol=1e-3)
                assert set(x.masks) >= {"extended"} or x.masks == {}


def test_tutorial_extract_line_with_s3fd_and_fan_runs_end_to_end(video_dir, tmp_path,
                                                                 monkeypatch):
    # faceswap.py extract -i personA.mp4 -o faces/personA -D s3fd -A fan -nm none -rf 0
    #   -min 0 -l 0.4 -sz 512 -een 1 -si 0 -L INFO
    # with random weights served from 127.0.0.1 and fetched on first use; every 54th frame.
    from tests.weights_server import save_random_weights, serve, serve_weights

    files = save_random_weights(tmp_path / "weights")
    with serve() as server:
        serve_weights(server, files, tmp_path, monkeypatch)
        code = main(["extract", "-i", str(video_dir / "lp_d18.mp4"), "-o",
                     str(tmp_path / "faces"), "-p", str(tmp_path / "a.db"), "-D", "s3fd", "-A",
                     "fan", "-nm", "none", "-rf", "0", "-min", "0", "-l", "0.4", "-sz", "512",
                     "-een", "54", "-si", "0", "-L", "INFO"])
        assert code == 0
        assert {r["path"] for r in server.requests} == {"/s3fd-619a316812.pth",
                                                       "/2DFAN4-11f355bf06.pth.tar"}
    with AlignmentsStore.open(tmp_path / "a.db", "r") as store:
        assert store.frame_count() == 4  # frames 0, 54, 108, 162
        assert store.get_meta("status") == "complete"
        assert store.get_meta("plugins")["detector"] == "s3fd"
        faces_stored = store.face_count()
    # Whatever random weights find is stored consistently: one PNG per stored face.
    assert len(list((tmp_path / "faces").glob("*.png"))) == faces_stored
