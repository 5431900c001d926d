"""The post-processing of the detectors whose models ship in packages (retinaface, cv2-dnn,
mtcnn), on constructed network outputs; the networks themselves meet real photos in the
contract tests (test_detectors.py)."""

from __future__ import annotations

import numpy as np
import pytest

from faceforge.plugins.detect import mtcnn
from faceforge.plugins.detect.cv2_dnn import decode_center_size, prior_boxes
from faceforge.plugins.detect.retinaface import (
    RetinaFaceConfig,
    RetinaFaceDetector,
    anchors,
    decode,
)


def test_retinaface_anchors_come_level_by_level_cell_by_cell_size_by_size():
    priors = anchors(16, 32)
    # stride 8: 2 x 4 cells x 2 sizes; stride 16: 1 x 2 x 2; stride 32: 1 x 1 x 2
    assert priors.shape == (22, 4)
    np.testing.assert_array_equal(priors[:3], [[4, 4, 16, 16], [4, 4, 32, 32], [12, 4, 16, 16]])
    np.testing.assert_array_equal(priors[16], [8, 8, 64, 64])
    np.testing.assert_array_equal(priors[-1], [16, 16, 512, 512])


def test_retinaface_decodes_boxes_and_keypoints_around_their_anchor():
    prior = np.array([[100.0, 50.0, 32.0, 32.0]])
    offsets = np.array([[1.0, -1.0, np.log(2) / 0.2, 0.0]])
    points = np.tile([[1.0, 0.0]], (1, 5))
    boxes, keypoints = decode(offsets, points, prior)
    # centre moves by 0.1 * 32 = 3.2 px; width doubles to 64, height stays 32
    np.testing.assert_allclose(boxes, [[71.2, 30.8, 135.2, 62.8]])
    np.testing.assert_allclose(keypoints[0], [[103.2, 50.0]] * 5)


def test_retinaface_keeps_confident_faces_in_frame_pixels():
    detector = RetinaFaceDetector.__new__(RetinaFaceDetector)
    detector.config = RetinaFaceConfig(min_score=0.8)
    priors = anchors(64, 64)
    count = len(priors)
    offsets = np.zeros((1, count, 4), np.float32)
    scores = np.zeros((1, count, 2), np.float32)
    points = np.zeros((1, count, 10), np.float32)
    scores[0, 1, 1] = 0.95  # second anchor: centre (4, 4), 32 px
    scores[0, 0, 1] = 0.9  # same centre, 16 px: inside the first, IoU 0.25, kept
    scores[0, 5, 1] = 0.5  # too weak
    frame = np.zeros((128, 128, 3), np.uint8)  # shrunk by half to fit max_side 64
    found = detector.post_process((offsets, scores, points, (64, 64), [0.5]), [frame])[0]
    assert [round(f.score, 2) for f in found] == [0.95, 0.9]
    np.testing.assert_allclose(found[0].box, (0.0, 0.0, 40.0, 40.0))  # clipped at 0
    np.testing.assert_allclose(found[0].keypoints, [[8.0, 8.0]] * 5)


def _prior_layer(**params) -> dict:
    return {"prior_box_param": [{k: v if isinstance(v, list) else [v]
                                 for k, v in params.items()}]}


def test_caffe_prior_boxes_follow_ssd_order_and_sizes():
    layer = _prior_layer(min_size=30.0, max_size=60.0, aspect_ratio=[2.0], flip=True, step=8,
                         offset=0.5, variance=[0.1, 0.1, 0.2, 0.2])
    boxes = prior_boxes(layer, (2, 3), (16, 24)) * [24, 16, 24, 16]
    # per cell: min box, sqrt(min * max) box, then ratios 2 and 1/2
    assert boxes.shape == (2 * 3 * 4, 4)
    half = np.array([15.0, np.sqrt(1800) / 2, 15 * np.sqrt(2), 15 / np.sqrt(2)])
    np.testing.assert_allclose(boxes[:4, 2] - boxes[:4, 0], 2 * half)
    np.testing.assert_allclose((boxes[0, :2] + boxes[0, 2:]) / 2, [4, 4])
    np.testing.assert_allclose((boxes[4, :2] + boxes[4, 2:]) / 2, [12, 4])  # next cell: x


def test_caffe_center_size_decoding():
    priors = np.array([[0.25, 0.25, 0.75, 0.75]])
    assert decode_center_size(np.zeros((1, 4)), priors, (0.1, 0.1, 0.2, 0.2)).tolist() == \
        priors.tolist()
    moved = decode_center_size(np.array([[1.0, 0.0, 0.0, np.log(2) / 0.2]]), priors,
                               (0.1, 0.1, 0.2, 0.2))
    np.testing.assert_allclose(moved, [[0.3, 0.0, 0.8, 1.0]])


@pytest.mark.parametrize("by_min, kept", [(False, [0, 1, 2]), (True, [0, 2])])
def test_mtcnn_suppression_by_union_or_by_the_smaller_box(by_min, kept):
    boxes = np.array([[0, 0, 99, 99, 0.9],  # big
                      [10, 10, 59, 59, 0.8],  # inside the big one: IoU 0.25, IoMin 1
                      [200, 200, 220, 220, 0.7]], float)
    assert sorted(mtcnn.nms(boxes, 0.7, by_min=by_min).tolist()) == kept


def test_mtcnn_pyramid_starts_at_12_over_min_size_and_stops_at_12_px():
    detector = mtcnn.MtcnnDetector.__new__(mtcnn.MtcnnDetector)
    detector.config = mtcnn.MtcnnConfig(min_size=20)
    scales = detector._scales(120, 160)
    assert scales[0] == pytest.approx(0.6)
    assert all(120 * s >= 12 for s in scales) and 120 * scales[-1] * 0.709 < 12
