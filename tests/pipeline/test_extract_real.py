"""End-to-end extraction on real footage: real decoding, detectors, landmarkers, SQLite, PNGs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceforge.cli import main
from faceforge.formats.alignments import AlignmentsStore
from faceforge.formats.face_png import read_face_meta, read_face_png

pytestmark = pytest.mark.slow


def run_cli(*args: str) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def wolfgang(video_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("wolfgang")
    code = run_cli("extract", "-i", video_dir / "WolfgangLanger_Pexels.mp4", "-o", out / "faces",
                   "-p", out / "align.db")
    assert code == 0
    return out


def test_single_person_clip_yields_one_face_in_nearly_every_frame(wolfgang):
    with AlignmentsStore.open(wolfgang / "align.db", "r") as store:
        frames = list(store.iter_frames())
        assert len(frames) == 472
        exactly_one = sum(len(f.faces) == 1 for f in frames)
        assert exactly_one / 472 >= 0.98, f"{exactly_one}/472 frames with exactly one face"
        assert store.get_meta("status") == "complete"
    pngs = sorted((wolfgang / "faces").glob("*.png"))
    assert len(pngs) == sum(len(f.faces) for f in frames)


def test_saved_faces_are_centred_upright_and_carry_their_metadata(wolfgang):
    from faceforge.core import geometry

    pngs = sorted((wolfgang / "faces").glob("*.png"))
    for png in pngs[::47]:
        image, meta = read_face_png(png)
        assert image.shape == (512, 512, 3)
        assert meta["source"] == "WolfgangLanger_Pexels.mp4"
        landmarks = np.asarray(meta["landmarks"])
        in_face = geometry.transform_points(landmarks, np.asarray(meta["matrix"]))
        eye_r, eye_l = in_face[36:42].mean(0), in_face[42:48].mean(0)
        angle = np.degrees(np.arctan2(eye_l[1] - eye_r[1], eye_l[0] - eye_r[0]))
        assert abs(angle) < 8, f"{png.name}: eyes tilted by {angle:.1f} degrees"
        centre_x = (eye_r[0] + eye_l[0]) / 2
        assert abs(centre_x - 256) < 20, f"{png.name}: face not centred ({centre_x:.0f})"
        assert 150 < in_face[30, 1] < 330, f"{png.name}: nose tip at {in_face[30, 1]:.0f}"


def test_face_png_metadata_matches_the_store(wolfgang):
    with AlignmentsStore.open(wolfgang / "align.db", "r") as store:
        frame = store.frame(200)
        assert frame is not None and frame.faces
        face = frame.faces[0]
        png = wolfgang / "faces" / f"WolfgangLanger_Pexels_{200:06d}_0.png"
        meta = read_face_meta(png)
        np.testing.assert_allclose(meta["landmarks"], face.landmarks, atol=1e-2)
        assert set(face.masks) == {"components", "extended"}
        assert face.masks["extended"].shape == (128, 128)


def test_video_without_faces_completes_and_says_so(video_dir, tmp_path, capsys):
    code = run_cli("extract", "-i", video_dir / "no_face.mp4", "-o", tmp_path / "faces",
                   "-p", tmp_path / "a.db")
    assert code == 0
    assert "no faces found" in capsys.readouterr().out
    assert not list((tmp_path / "faces").glob("*.png"))
    with AlignmentsStore.open(tmp_path / "a.db", "r") as store:
        # The file lists 98 frames but its edit list hides the first 3: players show 95.
        assert store.frame_count() == 95 and store.face_count() == 0


def test_hevc_clip_has_faces_before_the_cut_and_none_after(video_dir, tmp_path):
    assert run_cli("extract", "-i", video_dir / "face_noface.mov", "-o", tmp_path / "f",
                   "-p", tmp_path / "a.db") == 0
    with AlignmentsStore.open(tmp_path / "a.db", "r") as store:
        has_face = [bool(f.faces) for f in store.iter_frames()]
    assert len(has_face) == 169
    # The man is on screen first; after the cut to the cartoon title there is no face.
    assert np.mean(has_face[:60]) > 0.9
    assert not any(has_face[-40:])


@pytest.mark.parametrize("clip", ["short_hamilton_clip.mp4", "openmpf_video_01.mp4"])
def test_every_face_of_a_crowded_frame_is_stored_with_its_own_index(video_dir, tmp_path, clip):
    assert run_cli("extract", "-i", video_dir / clip, "-o", tmp_path / "f", "-p",
                   tmp_path / "a.db", "-D", "blazeface-full") == 0
    with AlignmentsStore.open(tmp_path / "a.db", "r") as store:
        crowded = [f for f in store.iter_frames() if len(f.faces) > 1]
    assert crowded, "some frames hold several faces"
    stem = Path(clip).stem
    for frame in crowded[:5]:
        assert [f.face_index for f in frame.faces] == list(range(len(frame.faces)))
        for face in frame.faces:
            png = tmp_path / "f" / f"{stem}_{frame.index:06d}_{face.face_index}.png"
            assert read_face_meta(png)["face_index"] == face.face_index


def _store_snapshot(path: Path) -> dict:
    with AlignmentsStore.open(path, "r") as store:
        return {
            f.index: [(face.face_index, np.round(face.landmarks, 3).tolist()) for face in f.faces]
            for f in store.iter_frames()
        }


def _extract_cmd(video: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "faceforge.cli", "extract", "-i", str(video), "-o",
            str(out / "faces"), "-p", str(out / "a.db"), "-L", "WARNING"]


def test_extraction_killed_at_a_random_point_resumes_to_the_same_result(video_dir, tmp_path):
    video = video_dir / "lp_d18.mp4"
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert subprocess.run(_extract_cmd(video, clean), timeout=300).returncode == 0

    proc = subprocess.Popen(_extract_cmd(video, killed))
    # Wait until some batches are committed, then kill without warning.
    deadline = time.time() + 120
    while time.time() < deadline:
        time.sleep(0.2)
        if (killed / "a.db").exists() and len(list((killed / "faces").glob("*.png"))) > 40:
            break
    delay = np.random.default_rng().uniform(0.0, 1.0)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _store_snapshot(killed / "a.db")
    assert 0 < len(partial) < 216, f"killed after {len(partial)} frames (delay {delay:.2f}s)"

    assert subprocess.run(_extract_cmd(video, killed), timeout=300).returncode == 0
    assert _store_snapshot(killed / "a.db") == _store_snapshot(clean / "a.db")
    clean_pngs = sorted(p.name for p in (clean / "faces").glob("*.png"))
    assert sorted(p.name for p in (killed / "faces").glob("*")) == clean_pngs
    for name in clean_pngs[::20]:
        a, _ = read_face_png(clean / "faces" / name)
        b, _ = read_face_png(killed / "faces" / name)
        np.testing.assert_array_equal(a, b)


def test_ctrl_c_stops_cleanly_and_the_rerun_completes(video_dir, tmp_path):
    video = video_dir / "lp_d19.mp4"
    # A background job inherits an ignored SIGINT (CI may run us so): restore the default so
    # Python turns Ctrl-C into KeyboardInterrupt as it does in a terminal.
    proc = subprocess.Popen(_extract_cmd(video, tmp_path), stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path / "faces").glob("*.png"))) < 30:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run the same command again to resume" in err
    assert "Traceback" not in err and "error:" not in err, "a user's stop is not an error"
    done = len(_store_snapshot(tmp_path / "a.db"))
    assert 0 < done < 250
    assert subprocess.run(_extract_cmd(video, tmp_path), timeout=300).returncode == 0
    assert len(_store_snapshot(tmp_path / "a.db")) == 250


def test_summary_and_json_export_of_a_real_store(wolfgang, tmp_path, capsys):
    assert run_cli("tools", "alignments", "summary", wolfgang / "align.db") == 0
    out = capsys.readouterr().out
    assert "frames: 472" in out
    assert run_cli("tools", "alignments", "export", wolfgang / "align.db",
                   tmp_path / "a.json") == 0
    exported = json.loads((tmp_path / "a.json").read_text())
    assert exported  # the format's own tests check the content


def test_image_folder_input(data_dir, tmp_path):
    folder = data_dir / "photos" / "knn_examples" / "test"
    # Group photos have small faces: the full-range detector is the one for them.
    assert run_cli("extract", "-i", folder, "-o", tmp_path / "f", "-p", tmp_path / "a.db",
                   "-D", "blazeface-full") == 0
    with AlignmentsStore.open(tmp_path / "a.db", "r") as store:
        by_name = {f.name: len(f.faces) for f in store.iter_frames()}
    assert by_name["obama_and_biden.jpg"] == 2
    assert by_name["kit_with_rose.jpg"] == 2
    assert by_name["obama1.jpg"] == 1


def test_identity_filter_keeps_only_the_reference_person(data_dir, tmp_path):
    folder = data_dir / "photos" / "knn_examples" / "test"
    ref = data_dir / "photos" / "knn_examples" / "train" / "obama" / "obama.jpg"
    assert run_cli("extract", "-i", folder, "-o", tmp_path / "f", "-p", tmp_path / "a.db",
                   "-D", "blazeface-full", "-f", ref, "-l", "0.5") == 0
    with AlignmentsStore.open(tmp_path / "a.db", "r") as store:
        by_name = {f.name: len(f.faces) for f in store.iter_frames()}
    assert by_name["obama_and_biden.jpg"] == 1
    assert by_name["obama1.jpg"] == 1
    assert by_name["kit_with_rose.jpg"] == 0


def test_batch_mode_extracts_each_input_into_its_own_folder(video_dir, data_dir, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "clip.mp4").symlink_to(video_dir / "lp_d18.mp4")
    photos = inputs / "photos"
    photos.mkdir()
    (photos / "hopper.jpg").symlink_to(data_dir / "photos" / "grace_hopper.jpg")
    assert run_cli("extract", "-b", "-i", inputs, "-o", tmp_path / "out", "-een", "20") == 0
    assert len(list((tmp_path / "out" / "clip").glob("clip_*.png"))) == 11
    assert len(list((tmp_path / "out" / "photos").glob("*.png"))) == 1
    assert (inputs / "clip_alignments.db").exists()
    assert (photos / "alignments.db").exists()


def test_rotation_retry_finds_an_upside_down_face(data_dir, tmp_path):
    import cv2

    folder = tmp_path / "upside_down"
    folder.mkdir()
    image = cv2.imread(str(data_dir / "photos" / "grace_hopper.jpg"))
    cv2.imwrite(str(folder / "hopper.png"), cv2.rotate(image, cv2.ROTATE_180))
    assert run_cli("extract", "-i", folder, "-o", tmp_path / "plain", "-p",
                   tmp_path / "plain.db") == 0
    assert run_cli("extract", "-i", folder, "-o", tmp_path / "rotated", "-p",
                   tmp_path / "rotated.db", "-r", "90") == 0
    with AlignmentsStore.open(tmp_path / "plain.db", "r") as store:
        assert store.face_count() == 0
    png = next((tmp_path / "rotated").glob("*.png"))
    image, meta = read_face_png(png)
    from faceforge.core import geometry

    # The saved face is upright even though the frame was not.
    points = geometry.transform_points(np.asarray(meta["landmarks"]), np.asarray(meta["matrix"]))
    assert points[36:48, 1].mean() < points[48:68, 1].mean(), "eyes above the mouth"


def test_rerun_of_a_finished_extraction(video_dir, tmp_path, capsys):
    args = ["extract", "-i", video_dir / "lp_d18.mp4", "-o", tmp_path / "f", "-p",
            tmp_path / "a.db", "-een", "50"]
    assert run_cli(*args) == 0
    # With -s nothing is redone.
    assert run_cli(*args, "-s") == 0
    assert "5 frames were done before" in capsys.readouterr().out
    # Without it the old store is kept as a backup and the extraction starts afresh.
    assert run_cli(*args) == 0
    assert len(list(tmp_path.glob("a.db.*.bak"))) == 1
    with AlignmentsStore.open(tmp_path / "a.db", "r") as store:
        assert store.frame_count() == 5 and store.get_meta("status") == "complete"
