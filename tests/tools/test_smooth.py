"""`tools alignments smooth`: tracks follow faces and stop at cuts; the real store shakes less,
its matrices and masks follow the smoothed landmarks, and the original is backed up."""

from __future__ import annotations

import numpy as np
import pytest

from faceforge.core import geometry
from faceforge.core.masks import landmark_mask
from faceforge.formats.alignments import AlignmentsStore, FaceRecord, FrameRecord
from faceforge.tools.smooth import SmoothConfig, follow_faces, run
from tests.tools.helpers import copy_side, run_cli


def _frame(index: int, *centres: tuple[float, float]) -> FrameRecord:
    template = np.random.default_rng(0).uniform(-40, 40, (68, 2))
    faces = [FaceRecord(face_index=i, box=(0, 0, 1, 1), score=1.0,
                        landmarks=(template + centre).astype(np.float32),
                        matrix=np.zeros((2, 3))) for i, centre in enumerate(centres)]
    return FrameRecord(index, f"f{index}", 640, 480, None, faces)


def test_tracks_follow_each_face_and_break_at_cuts_and_gaps():
    frames = [_frame(0, (100, 100), (400, 100)), _frame(1, (402, 101), (101, 99)),
              _frame(2, (103, 100), (404, 100)),
              _frame(3, (300, 300)),  # a cut: the face is somewhere else
              _frame(4, (301, 301)),
              _frame(6, (302, 302))]  # a gap: frame 5 is missing
    tracks = follow_faces(frames, 1, 0.25)
    keys = sorted(track.keys for track in tracks)
    assert keys == [[(0, 0), (1, 1), (2, 0)], [(0, 1), (1, 0), (2, 1)], [(3, 0), (4, 0)],
                    [(6, 0)]]


@pytest.mark.slow
def test_smoothing_a_real_store_calms_the_landmarks_and_keeps_the_faces(faces, tmp_path,
                                                                        capsys):
    store, _ = copy_side(faces, "a", tmp_path)
    with AlignmentsStore.open(store, "r") as opened:
        before = {f.index: f for f in opened.iter_frames()}
    # The fixture has every 4th frame: sigma 4 frames is one sample of its tracks.
    result = run(SmoothConfig(alignments=store, output=tmp_path / "smooth.db", sigma=4.0))
    assert result.after["jitter_px"] < 0.7 * result.before["jitter_px"]
    assert result.faces_smoothed >= 0.9 * sum(len(f.faces) for f in before.values())
    assert 0 < result.mean_shift_px < 3.0  # a calmer face, not another one
    assert result.backup is None  # -o: the original is untouched
    with AlignmentsStore.open(tmp_path / "smooth.db", "r") as opened:
        after = {f.index: f for f in opened.iter_frames()}
        assert opened.get_meta("smoothed") == {"sigma": 4.0, "max_jump": 0.25}
    assert set(after) == set(before)
    moved = 0
    for index, frame in after.items():
        for face, old in zip(frame.faces, before[index].faces, strict=True):
            np.testing.assert_allclose(face.matrix, geometry.legacy_matrix(face.landmarks),
                                       atol=1e-5)
            mask_matrix = geometry.aligned_matrix(face.matrix, 128, "head")
            np.testing.assert_array_equal(
                face.masks["extended"],
                landmark_mask(face.landmarks, mask_matrix, 128, "extended"))
            moved += not np.array_equal(face.landmarks, old.landmarks)
            assert face.box == old.box and face.thumbnail == old.thumbnail
    assert moved > 0

    # In place: the store is replaced and its old self kept as a backup.
    assert run_cli("tools", "alignments", "smooth", store) == 0
    assert "the store as it was" in capsys.readouterr().out
    backup = next(tmp_path.glob("a.db.*.bak"))
    with AlignmentsStore.open(backup, "r") as opened:
        kept = {f.index: f for f in opened.iter_frames()}
    np.testing.assert_array_equal(kept[8].faces[0].landmarks, before[8].faces[0].landmarks)
