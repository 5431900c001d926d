"""`tools mask ...` on the real lp_d18 store: masks regenerate into the store, export as images
at the faces' geometry, import back, and preview over the faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceforge.core import geometry
from faceforge.core.masks import landmark_mask
from faceforge.formats.alignments import AlignmentsStore
from faceforge.formats.face_png import read_face_png
from faceforge.tools import mask as tool
from tests.tools.helpers import copy_side, run_cli

pytestmark = pytest.mark.slow


def test_stored_masks_are_the_size_extraction_stores():
    from faceforge.pipeline.extract import MASK_SIZE

    assert tool.STORED_MASK_SIZE == MASK_SIZE


def test_generate_computes_masks_for_the_faces_of_a_folder_only(faces, tmp_path):
    store, folder = copy_side(faces, "a", tmp_path)
    kept = sorted(folder.glob("*.png"))[:6]
    for path in sorted(folder.glob("*.png"))[6:]:
        path.unlink()
    with AlignmentsStore.open(store, "r+") as opened:  # start from faces without masks
        opened._write(lambda conn: conn.execute("DELETE FROM masks"))
    assert run_cli("tools", "mask", "generate", store, "-M", "components", "-fc", folder) == 0
    with AlignmentsStore.open(store, "r") as opened:
        with_masks = [(frame.index, face) for frame in opened.iter_frames()
                      for face in frame.faces if face.masks]
    assert len(with_masks) == len(kept)
    for _, face in with_masks:
        assert set(face.masks) == {"components"}
        matrix = geometry.aligned_matrix(face.matrix, 128, "head")
        np.testing.assert_array_equal(face.masks["components"],
                                      landmark_mask(face.landmarks, matrix, 128, "components"))
    assert list(tmp_path.glob("a.db.*.bak")), "the store was backed up first"


def test_exported_masks_fit_the_faces_and_import_back(faces, tmp_path):
    store, _ = copy_side(faces, "a", tmp_path)
    assert run_cli("tools", "mask", "export", store, "-o", tmp_path / "masks", "-z", 256,
                   "--centering", "face") == 0
    exported = sorted((tmp_path / "masks").glob("*.png"))
    assert {p.name for p in exported} == {p.name for p in faces["a"].glob("*.png")}
    sample = exported[7]
    mask = cv2.imread(str(sample), cv2.IMREAD_GRAYSCALE)
    assert mask.shape == (256, 256)
    # It covers the face where the face image is: its landmarks, cut the same way, lie inside.
    _, meta = read_face_png(faces["a"] / sample.name)
    legacy = geometry.legacy_matrix(np.asarray(meta["landmarks"]))
    points = geometry.transform_points(np.asarray(meta["landmarks"])[17:],
                                       geometry.aligned_matrix(legacy, 256, "face"))
    inside = [mask[int(y), int(x)] for x, y in points if 0 <= x < 256 and 0 <= y < 256]
    assert np.mean(np.asarray(inside) > 127) > 0.95

    assert run_cli("tools", "mask", "import", store, "-i", tmp_path / "masks", "-M", "painted",
                   "--centering", "face") == 0
    with AlignmentsStore.open(store, "r") as opened:
        for frame in list(opened.iter_frames())[::9]:
            face = frame.faces[0]
            back, original = face.masks["painted"] > 127, face.masks["extended"] > 127
            # Back in the stored (head, 128 px) crop: the same mask up to resampling.
            overlap = (back & original).sum() / (back | original).sum()
            assert overlap > 0.93, (frame.index, overlap)


def test_preview_draws_the_mask_over_each_face(faces, tmp_path):
    store = faces["a"].parent / "a.db"
    result = tool.preview(tool.PreviewConfig(alignments=store, faces=faces["a"],
                                             output=tmp_path / "preview"))
    written = sorted((tmp_path / "preview").glob("*.jpg"))
    assert result.written == len(written) == len(list(faces["a"].glob("*.png")))
    face, _ = read_face_png(faces["a"] / f"{written[0].stem}.png")
    shown = cv2.cvtColor(cv2.imread(str(written[0])), cv2.COLOR_BGR2RGB).astype(int)
    corner, centre = (slice(0, 40), slice(0, 40)), (slice(236, 276), slice(236, 276))
    # Outside the mask (a corner of the head crop) turns red; the face's middle stays.
    assert (shown[corner][..., 0] - face[corner][..., 0].astype(int)).mean() > 40
    assert np.abs(shown[centre] - face[centre].astype(int)).mean() < 8
