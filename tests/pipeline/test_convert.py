"""`faceforge convert` end to end on real footage with a briefly trained real model."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from faceforge.cli import main
from faceforge.core import geometry
from faceforge.formats.alignments import AlignmentsStore
from faceforge.formats.model_state import read_state

pytestmark = pytest.mark.slow


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def stream_facts(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        facts = {"frames": frames, "fps": float(video.average_rate),
                 "video_s": float(video.duration * video.time_base) if video.duration else None}
        audio = container.streams.audio
        facts["audio_s"] = (float(audio[0].duration * audio[0].time_base)
                            if audio and audio[0].duration else None)
    return facts


def convert_args(video: Path, out: Path, store: Path, model: Path, *extra: str) -> list[str]:
    return ["convert", "-i", str(video), "-o", str(out), "-al", str(store), "-m", str(model),
            "-L", "WARNING", *extra]


def test_video_out_has_the_frames_rate_duration_and_audio_of_the_input(
        video_dir, faces, tiny_model, tmp_path):
    video = video_dir / "lp_d18.mp4"
    store = faces["a"].parent / "a.db"
    # The tutorial's command line, paths adapted.
    assert main(convert_args(video, tmp_path, store, tiny_model, "-c", "avg-color", "-M",
                             "extended", "-w", "ffmpeg", "-osc", "100", "-l", "0.4", "-j",
                             "0")) == 0
    outputs = list(tmp_path.glob("*.mp4"))
    assert len(outputs) == 1 and "partial" not in outputs[0].name
    source, result = stream_facts(video), stream_facts(outputs[0])
    assert result["frames"] == source["frames"] == 216
    assert result["fps"] == pytest.approx(source["fps"], rel=1e-3)
    assert result["video_s"] == pytest.approx(216 / source["fps"], abs=1 / 30)
    assert result["audio_s"] == pytest.approx(source["audio_s"], abs=0.1)


def _crop_polygon(legacy: np.ndarray, state, size: int) -> np.ndarray:
    centering = state.train_config.get("centering", "face")
    coverage = float(state.train_config.get("coverage", 87.5)) / 100
    matrix = geometry.aligned_matrix(legacy, size, centering, coverage)
    corners = np.array([[0, 0], [size, 0], [size, size], [0, size]], float)
    return geometry.transform_points(corners, geometry.invert(matrix))


def _blend_mask_in_frame(face, state, frame_shape) -> np.ndarray:
    """The processed extended mask convert blends with, warped into the frame."""
    from faceforge.core.blend import MaskBlendConfig, process_mask
    from faceforge.core.masks import landmark_mask
    from tests.helpers import mask_in_frame

    centering = state.train_config.get("centering", "face")
    coverage = float(state.train_config.get("coverage", 87.5)) / 100
    matrix = geometry.aligned_matrix(face.matrix, 64, centering, coverage)
    mask = process_mask(landmark_mask(face.landmarks, matrix, 64, "extended"),
                        MaskBlendConfig(), 64)
    return mask_in_frame(mask, matrix, frame_shape)


def test_pixels_outside_the_swapped_face_are_untouched(video_dir, faces, tiny_model,
                                                        tmp_path):
    video = video_dir / "lp_d18.mp4"
    store_path = faces["a"].parent / "a.db"
    assert main(convert_args(video, tmp_path, store_path, tiny_model, "-w", "opencv",
                             "-R", "0-11")) == 0
    written = sorted(tmp_path.glob("*.png"))
    assert len(written) == 12
    source = decode(video)[:12]
    state = read_state(tiny_model)
    with AlignmentsStore.open(store_path, "r") as store:
        for index, path in enumerate(written):
            out = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            record = store.frame(index)
            if record is None or not record.faces:
                np.testing.assert_array_equal(out, source[index])
                continue
            inside = np.zeros(out.shape[:2], np.uint8)
            for face in record.faces:
                polygon = _crop_polygon(face.matrix, state, 64)
                cv2.fillConvexPoly(inside, np.round(polygon).astype(np.int32), 1)
            inside = cv2.dilate(inside, np.ones((5, 5), np.uint8))
            outside = inside == 0
            assert np.array_equal(out[outside], source[index][outside]), path.name
            assert not np.array_equal(out[inside > 0], source[index][inside > 0])
            # Stricter: outside the blended mask itself (dilated by 2 px) nothing changed.
            covered = np.zeros(out.shape[:2], bool)
            for face in record.faces:
                covered |= _blend_mask_in_frame(face, state, out.shape) > 0
            covered = cv2.dilate(covered.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            assert np.array_equal(out[~covered], source[index][~covered]), path.name


def test_frame_ranges_drop_or_keep_the_other_frames_and_keep_audio_in_sync(
        video_dir, faces, tiny_model, tmp_path):
    video = video_dir / "lp_d18.mp4"
    store = faces["a"].parent / "a.db"
    assert main(convert_args(video, tmp_path / "cut", store, tiny_model, "-R", "30-119")) == 0
    cut = stream_facts(next((tmp_path / "cut").glob("*.mp4")))
    assert cut["frames"] == 90
    assert cut["audio_s"] == pytest.approx(3.0, abs=0.1)
    assert main(convert_args(video, tmp_path / "kept", store, tiny_model, "-w", "opencv",
                             "-R", "4-4", "-k")) == 0
    kept = sorted((tmp_path / "kept").glob("*.png"))
    assert len(kept) == 216
    source = decode(video)
    for index in (0, 3, 5, 100):
        image = cv2.cvtColor(cv2.imread(str(kept[index])), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(image, source[index])


def test_a_folder_that_is_not_a_model(video_dir, faces, tmp_path, capsys):
    assert main(convert_args(video_dir / "lp_d18.mp4", tmp_path / "o", faces["a"].parent /
                             "a.db", tmp_path)) == 5
    err = capsys.readouterr().err
    assert "holds no faceforge model" in err and "Traceback" not in err


def test_alignments_of_another_video_are_refused(video_dir, faces, tiny_model, tmp_path,
                                                 capsys):
    assert main(convert_args(video_dir / "lp_d18.mp4", tmp_path / "o", faces["b"].parent /
                             "b.db", tiny_model)) == 3
    err = capsys.readouterr().err
    assert "belongs to another video" in err
    assert not list((tmp_path / "o").glob("*.mp4")) if (tmp_path / "o").exists() else True


def test_predicted_mask_needs_a_model_that_learned_one(video_dir, faces, tiny_model, tmp_path,
                                                       capsys):
    assert main(convert_args(video_dir / "lp_d18.mp4", tmp_path / "o", faces["a"].parent /
                             "a.db", tiny_model, "-M", "predicted", "-R", "0-3")) == 2
    assert "no learned mask" in capsys.readouterr().err
    assert not list((tmp_path / "o").glob("*.mp4"))


def test_on_the_fly_conversion_without_a_store(video_dir, tiny_model, tmp_path):
    assert main(["convert", "-i", str(video_dir / "lp_d18.mp4"), "-o", str(tmp_path), "-m",
                 str(tiny_model), "-T", "-R", "0-9", "-w", "opencv", "-L", "WARNING"]) == 0
    assert len(list(tmp_path.glob("*.png"))) == 10


def test_mask_modes_change_nested_areas(video_dir, faces, tiny_model, tmp_path):
    """components ⊂ extended (which adds the forehead) ⊂ none (the whole crop)."""
    video = video_dir / "lp_d18.mp4"
    store = faces["a"].parent / "a.db"
    source = decode(video)[0]
    changed = {}
    for mode in ("components", "extended", "none"):
        out = tmp_path / mode
        assert main(convert_args(video, out, store, tiny_model, "-w", "opencv", "-R", "0-0",
                                 "-M", mode, "--mask-blur", "none", "-c", "none")) == 0
        image = cv2.cvtColor(cv2.imread(str(next(out.glob("*.png")))), cv2.COLOR_BGR2RGB)
        changed[mode] = np.any(image != source, axis=2)
    assert changed["components"].sum() < changed["extended"].sum() < changed["none"].sum()
    # Nested: hardly any pixel changes under a smaller mask but not under the larger one.
    assert (changed["components"] & ~changed["extended"]).mean() < 0.001
    assert (changed["extended"] & ~changed["none"]).mean() < 0.001


def test_detail_sharpens_the_swapped_face_and_nothing_else(video_dir, faces, tiny_model,
                                                          tmp_path):
    """--detail on real footage: the face gets the source's fine texture back (a briefly
    trained 64 px model draws a smooth face), pixels outside the blend mask stay the source's."""
    video = video_dir / "lp_d18.mp4"
    store_path = faces["a"].parent / "a.db"
    source = decode(video)[:12]
    images = {}
    for amount in ("0", "100"):
        out = tmp_path / amount
        assert main(convert_args(video, out, store_path, tiny_model, "-w", "opencv",
                                 "-R", "0-11", "--detail", amount)) == 0
        images[amount] = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
                          for p in sorted(out.glob("*.png"))]
    state = read_state(tiny_model)
    checked = 0
    with AlignmentsStore.open(store_path, "r") as store:
        for index in range(12):
            record = store.frame(index)
            if record is None or not record.faces:
                np.testing.assert_array_equal(images["100"][index], source[index])
                continue
            face = record.faces[0]
            covered = _blend_mask_in_frame(face, state, source[index].shape)
            outside = cv2.dilate((covered > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
            inside = covered > 0.99

            def detail(image, where=inside):
                grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
                return float(cv2.Laplacian(grey, cv2.CV_32F)[where].var())

            plain, restored = images["0"][index], images["100"][index]
            np.testing.assert_array_equal(restored[outside], source[index][outside])
            assert detail(plain) < 0.5 * detail(source[index])
            assert detail(restored) > 2 * detail(plain)
            checked += 1
    assert checked >= 2


def test_an_existing_result_is_not_overwritten(video_dir, faces, tiny_model, tmp_path,
                                               capsys):
    video = video_dir / "lp_d18.mp4"
    store = faces["a"].parent / "a.db"
    assert main(convert_args(video, tmp_path, store, tiny_model, "-R", "0-4")) == 0
    result = next(tmp_path.glob("*.mp4"))
    before = result.read_bytes()
    capsys.readouterr()
    assert main(convert_args(video, tmp_path, store, tiny_model, "-R", "0-9")) == 4
    assert "already exists" in capsys.readouterr().err
    assert result.read_bytes() == before


def test_skip_existing_resumes_image_frames(video_dir, faces, tiny_model, tmp_path, capsys):
    video = video_dir / "lp_d18.mp4"
    store = faces["a"].parent / "a.db"
    assert main(convert_args(video, tmp_path, store, tiny_model, "-w", "opencv", "-R",
                             "0-5")) == 0
    first = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.png")}
    capsys.readouterr()
    assert main(convert_args(video, tmp_path, store, tiny_model, "-w", "opencv", "-R",
                             "0-9")) == 4, "refuses without --skip-existing"
    assert main(convert_args(video, tmp_path, store, tiny_model, "-w", "opencv", "-R", "0-9",
                             "--skip-existing")) == 0
    now = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.png")}
    assert len(now) == 10
    assert all(now[name] == stamp for name, stamp in first.items()), "old frames kept"


def test_ctrl_c_leaves_no_video_under_the_final_name(video_dir, faces, tiny_model, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "faceforge.cli", *convert_args(
        video_dir / "lp_d18.mp4", out, faces["a"].parent / "a.db", tiny_model)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("*partial*")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "error:" not in err, "a user's stop is not an error"
    assert not list(out.glob("*")), "nothing partial or final is left"


def test_swap_direction_and_output_scale(video_dir, faces, tiny_model, tmp_path):
    video = video_dir / "lp_d18.mp4"
    store = faces["a"].parent / "a.db"
    for name, extra in (("ab", ()), ("ba", ("-s",))):
        assert main(convert_args(video, tmp_path / name, store, tiny_model, "-w", "opencv",
                                 "-R", "0-0", "-osc", "50", *extra)) == 0
    ab = cv2.imread(str(next((tmp_path / "ab").glob("*.png"))))
    ba = cv2.imread(str(next((tmp_path / "ba").glob("*.png"))))
    assert ab.shape == ba.shape == (240, 240, 3)
    assert not np.array_equal(ab, ba), "-s uses the other decoder"


def test_frame_folder_takes_rate_and_audio_from_a_reference_video(video_dir, faces, tiny_model,
                                                                  tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, image in enumerate(decode(video_dir / "lp_d18.mp4")[:30]):
        cv2.imwrite(str(frames / f"frame_{index:04d}.png"), cv2.cvtColor(image,
                                                                        cv2.COLOR_RGB2BGR))
    assert main(["convert", "-i", str(frames), "-o", str(tmp_path / "out"), "-m",
                 str(tiny_model), "-T", "-w", "ffmpeg", "-r", str(video_dir / "lp_d18.mp4"),
                 "-L", "WARNING"]) == 0
    facts = stream_facts(next((tmp_path / "out").glob("*.mp4")))
    assert facts["frames"] == 30 and facts["fps"] == pytest.approx(30.0)
    assert facts["audio_s"] == pytest.approx(1.0, abs=0.1)


def test_reference_photo_filters_and_face_scale(video_dir, faces, tiny_model, tmp_path):
    video = video_dir / "lp_d18.mp4"
    store = faces["a"].parent / "a.db"
    source = decode(video)[0]
    photo = tmp_path / "a_person.png"
    cv2.imwrite(str(photo), cv2.cvtColor(decode(video)[100], cv2.COLOR_RGB2BGR))
    results = {}
    for name, extra in (("keep", ("-f", str(photo))), ("drop", ("-n", str(photo))),
                        ("scaled", ("-S", "10"))):
        out = tmp_path / name
        assert main(convert_args(video, out, store, tiny_model, "-w", "opencv", "-R", "0-0",
                                 *extra)) == 0
        results[name] = cv2.cvtColor(cv2.imread(str(next(out.glob("*.png")))),
                                     cv2.COLOR_BGR2RGB)
    assert not np.array_equal(results["keep"], source), "the filtered-in person is swapped"
    np.testing.assert_array_equal(results["drop"], source)
    assert not np.array_equal(results["scaled"], results["keep"])


def test_a_video_without_an_alignments_store(video_dir, tiny_model, tmp_path, capsys):
    assert main(["convert", "-i", str(video_dir / "lp_d19.mp4"), "-o", str(tmp_path), "-m",
                 str(tiny_model)]) == 3
    err = capsys.readouterr().err
    assert "no alignments store" in err and "-T" in err and "Traceback" not in err


def test_the_patch_writer_gets_the_swapped_faces_and_nothing_is_blended(
        video_dir, faces, tiny_model, tmp_path, monkeypatch):
    from faceforge.formats.patch_png import read_patch
    from faceforge.pipeline import convert

    def no_blending(*args, **kwargs):
        raise AssertionError("the patch writer uses no frames: nothing should be blended")

    monkeypatch.setattr(convert, "blend_face", no_blending)
    store_path = faces["a"].parent / "a.db"
    assert main(convert_args(video_dir / "lp_d18.mp4", tmp_path, store_path, tiny_model,
                             "-w", "patch", "-R", "0-8")) == 0
    store = AlignmentsStore.open(store_path, "r")
    records = {frame.index: frame for frame in store.iter_frames() if frame.index <= 8}
    store.close()
    expected = sorted(f"lp_d18_{index:06d}_{number}.png" for index, frame in records.items()
                      for number in range(len(frame.faces)))
    assert expected and sorted(p.name for p in tmp_path.iterdir()) == expected
    for path in tmp_path.iterdir():
        pixels, meta = read_patch(path)
        size = pixels.shape[0]
        assert pixels.shape == (size, size, 3) and meta["patch_size"] == [size, size]
        assert meta["frame_size"] == [480, 480]
        # The matrix takes the face from the frame into the patch: its centre lands mid-patch.
        face = records[meta["frame_index"]].faces[meta["face_index"]]
        centre = meta["matrix"] @ np.append(face.landmarks.mean(axis=0), 1.0)
        assert np.all(np.abs(centre - size / 2) < size / 4), centre
