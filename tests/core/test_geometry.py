"""Geometry: Umeyama, the mean face, aligned-face matrices and frame ⇄ face round trips."""

import numpy as np
import pytest

from faceforge.core import geometry as g
from faceforge.core.landmarks import MIRROR, normalised_mean_error


def _similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = np.radians(angle_deg)
    return np.array(
        [[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]]
    )


def _face_in_frame(scale=300.0, angle=12.0, tx=200.0, ty=80.0) -> tuple[np.ndarray, np.ndarray]:
    """68 landmarks of a synthetic face: the mean face placed by a known similarity."""
    matrix = _similarity(scale, angle, tx, ty)
    landmarks = np.zeros((68, 2))
    landmarks[17:] = g.transform_points(g.mean_face(), matrix)
    # A plausible jaw below the mouth so the array is a full 68-point set.
    jaw = np.stack([np.linspace(0.0, 1.0, 17), 1.0 + 0.3 * np.sin(np.linspace(0, np.pi, 17))], 1)
    landmarks[:17] = g.transform_points(jaw, matrix)
    return landmarks, matrix


def test_umeyama_recovers_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(-1, 1, (30, 2))
    truth = _similarity(2.5, -33.0, 10.0, -4.0)
    dst = g.transform_points(src, truth)
    np.testing.assert_allclose(g.umeyama(src, dst)[:2], truth, atol=1e-9)


def test_umeyama_never_returns_a_reflection():
    src = np.random.default_rng(2).normal(size=(12, 2)) * [3.0, 1.0]
    dst = src * [-1, 1]  # a mirror image: the best proper similarity has positive determinant
    assert np.linalg.det(g.umeyama(src, dst)[:2, :2]) > 0


def test_umeyama_without_scale_is_rigid():
    src = np.random.default_rng(1).normal(size=(10, 2))
    dst = g.transform_points(src, _similarity(3.0, 20, 1, 2))
    assert g.matrix_scale(g.umeyama(src, dst, estimate_scale=False)[:2]) == pytest.approx(1.0)


def test_umeyama_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        g.umeyama(np.zeros((5, 2)), np.zeros((4, 2)))


def test_mean_face_fills_the_unit_square_and_is_symmetric():
    mean = g.mean_face()
    assert mean.shape == (51, 2)
    assert mean.min() >= -1e-6 and mean.max() <= 1 + 1e-6
    assert max(np.ptp(mean[:, 0]), np.ptp(mean[:, 1])) == pytest.approx(1.0, abs=1e-5)
    mirrored = mean.copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]
    np.testing.assert_allclose(mirrored[MIRROR[17:] - 17], mean, atol=1e-5)
    # Anatomy: brows above eyes above nose tip above mouth (y grows downwards).
    brows, eyes, nose_tip, mouth = mean[0:10, 1], mean[19:31, 1], mean[30 - 17, 1], mean[31:, 1]
    assert brows.max() < eyes.min() and eyes.max() < nose_tip < mouth.min()


def test_legacy_matrix_maps_face_onto_mean_face():
    landmarks, placed = _face_in_frame()
    legacy = g.legacy_matrix(landmarks)
    np.testing.assert_allclose(g.transform_points(landmarks[17:], legacy), g.mean_face(), atol=1e-9)
    assert g.matrix_scale(legacy) == pytest.approx(1 / 300.0)
    rotation = np.degrees(np.arctan2(legacy[1, 0], legacy[0, 0]))
    assert rotation == pytest.approx(-12.0)
    assert g.alignment_residual(landmarks) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("centering", g.CENTERINGS)
@pytest.mark.parametrize("size", [64, 256, 512])
def test_frame_to_face_round_trip(centering, size):
    landmarks, _ = _face_in_frame()
    matrix = g.aligned_matrix(g.legacy_matrix(landmarks), size, centering, coverage=0.8)
    in_face = g.transform_points(landmarks, matrix)
    back = g.transform_points(in_face, g.invert(matrix))
    np.testing.assert_allclose(back, landmarks, atol=1e-8)


def test_aligned_faces_are_centred_and_upright():
    landmarks, _ = _face_in_frame(angle=25.0)
    for centering in g.CENTERINGS:
        matrix = g.aligned_matrix(g.legacy_matrix(landmarks), 256, centering)
        pts = g.transform_points(landmarks, matrix)
        eye_r, eye_l = pts[36:42].mean(0), pts[42:48].mean(0)
        assert abs(eye_r[1] - eye_l[1]) < 1e-6, "eyes level"
        assert (eye_r[0] + eye_l[0]) / 2 == pytest.approx(128.0, abs=1e-6), "centred"
        assert np.all((pts[17:] > 0) & (pts[17:] < 256)), "the inner face is inside the crop"


def test_head_crop_contains_face_crop_contains_legacy_crop():
    # The same face's inner landmarks occupy a smaller share of a wider crop.
    landmarks, _ = _face_in_frame()
    legacy = g.legacy_matrix(landmarks)
    spans = {
        c: np.ptp(g.transform_points(landmarks[17:], g.aligned_matrix(legacy, 256, c))[:, 0])
        for c in g.CENTERINGS
    }
    assert spans["head"] < spans["face"] < spans["legacy"]


def test_coverage_zooms_in_about_the_same_centre():
    landmarks, _ = _face_in_frame()
    legacy = g.legacy_matrix(landmarks)
    full = g.transform_points(landmarks[17:], g.aligned_matrix(legacy, 100, "face", 1.0))
    tight = g.transform_points(landmarks[17:], g.aligned_matrix(legacy, 100, "face", 0.5))
    np.testing.assert_allclose(tight - 50, (full - 50) * 2, atol=1e-9)


def test_change_crop_matches_going_through_the_frame():
    landmarks, _ = _face_in_frame()
    legacy = g.legacy_matrix(landmarks)
    head512 = g.aligned_matrix(legacy, 512, "head")
    face64 = g.aligned_matrix(legacy, 64, "face", 0.875)
    via_frame = (g.to_homogeneous(face64) @ np.linalg.inv(g.to_homogeneous(head512)))[:2]
    np.testing.assert_allclose(
        g.change_crop(512, "head", 64, "face", 1.0, 0.875), via_frame, atol=1e-12
    )


def test_bad_centering_and_coverage_are_refused():
    with pytest.raises(ValueError):
        g.unit_to_aligned(64, "torso")
    with pytest.raises(ValueError):
        g.unit_to_aligned(64, "face", 0.0)


def test_alignment_residual_is_large_for_scrambled_landmarks():
    landmarks, _ = _face_in_frame()
    scrambled = landmarks[np.random.default_rng(3).permutation(68)]
    assert g.alignment_residual(scrambled) > 10 * g.alignment_residual(landmarks) + 0.05


def test_normalised_mean_error_is_relative_to_eye_distance():
    truth, _ = _face_in_frame()
    shifted = truth + [3.0, 4.0]  # 5 px everywhere
    iod = np.linalg.norm(truth[36] - truth[45])
    assert normalised_mean_error(shifted, truth) == pytest.approx(5.0 / iod)
