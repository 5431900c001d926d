"""S3FD and FAN weights: fetched from a local HTTP server (never the internet), resumed,
checked against their SHA-256, loaded from either published layout; the clear error when they
are absent offline; and both plugins' post-processing on constructed network outputs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from faceforge.cli import main
from faceforge.errors import FormatError
from faceforge.io.download import DownloadError, download, partial_download_path, sha256_of
from faceforge.nn.fan import FANNet
from faceforge.plugins.align.fan import (
    CROP_PX,
    FanLandmarker,
    crop_matrix,
    fan_key,
    heatmap_points,
    points_in_frame,
)
from faceforge.plugins.detect.base import Detection
from faceforge.plugins.detect.s3fd import S3fdConfig, S3fdDetector, decode_boxes, nms
from faceforge.plugins.weights import WeightsMissing
from tests.weights_server import (
    WeightsServer,
    faceswap_fan_key,
    save_random_weights,
    serve,
    serve_weights,
)


@pytest.fixture
def server() -> Iterator[WeightsServer]:
    with serve() as httpd:
        yield httpd


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory) -> dict[str, Path]:
    """Random S3FD and FAN weights in the face-alignment layout, and FAN in Faceswap's."""
    return save_random_weights(tmp_path_factory.mktemp("weights"))


@pytest.fixture
def catalogue(tmp_path, monkeypatch, server, weight_files) -> dict[str, dict]:
    """The weights catalogue pointed at the local server and at the random files' sums; a
    fresh, empty cache; the network allowed (it is only 127.0.0.1 here)."""
    return serve_weights(server, weight_files, tmp_path, monkeypatch)


# -- fetching ----------------------------------------------------------------------------


def test_first_use_downloads_checks_and_loads_into_the_cache(catalogue, tmp_path, server):
    detector = S3fdDetector(batch_size=1)
    cached = tmp_path / "cache" / "weights" / "s3fd-619a316812.pth"
    assert cached.is_file() and sha256_of(cached) == catalogue["s3fd"]["files"][0]["sha256"]
    frames = [np.zeros((90, 160, 3), np.uint8), np.full((50, 50, 3), 200, np.uint8)]
    found = detector.detect(frames)
    assert len(found) == 2 and all(isinstance(f, list) for f in found)
    # The second plugin built finds the cached file: no new request.
    requests = len(server.requests)
    S3fdDetector(batch_size=1)
    assert len(server.requests) == requests


def test_an_interrupted_download_resumes_where_it_stopped(catalogue, tmp_path, server):
    entry = catalogue["fan"]["files"][0]
    dest = tmp_path / "dl" / entry["name"]
    server.cut_after = 1_000_000
    with pytest.raises(DownloadError, match="bytes are kept") as raised:
        download(entry["url"], dest, entry["sha256"], timeout_s=5)
    assert "\n" not in raised.value.one_line()
    assert partial_download_path(dest).stat().st_size == 1_000_000 and not dest.exists()
    download(entry["url"], dest, entry["sha256"], timeout_s=5)
    assert server.requests[-1]["range"] == "bytes=1000000-"
    assert sha256_of(dest) == entry["sha256"] and not partial_download_path(dest).exists()


def test_a_download_with_the_wrong_checksum_is_deleted(catalogue, tmp_path):
    entry = catalogue["s3fd"]["files"][0]
    dest = tmp_path / "dl" / entry["name"]
    with pytest.raises(DownloadError, match="not the published file"):
        download(entry["url"], dest, "0" * 64, timeout_s=5)
    assert not dest.exists() and not partial_download_path(dest).exists()


def test_models_fetch_command_prepares_a_folder(catalogue, tmp_path, capsys):
    folder = tmp_path / "prepared"
    assert main(["models", "fetch", "--weights-dir", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["2DFAN4-11f355bf06.pth.tar",
                                                       "s3fd-619a316812.pth"]
    assert main(["models", "list", "--weights-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"s3fd: S3FD: {folder / 's3fd-619a316812.pth'}" in out
    assert main(["models", "fetch", "nope"]) == 3


# -- offline -----------------------------------------------------------------------------


def test_offline_without_the_files_names_them_their_urls_and_the_folders(catalogue, monkeypatch,
                                                                        tmp_path):
    monkeypatch.setenv("FACEFORGE_OFFLINE", "1")
    with pytest.raises(WeightsMissing) as raised:
        S3fdDetector()
    line = raised.value.one_line()
    assert "\n" not in line
    for fragment in ("s3fd-619a316812.pth", catalogue["s3fd"]["files"][0]["url"],
                     "s3fd_torch_v3.pth", str(tmp_path / "cache" / "weights"),
                     "--weights-dir", "FACEFORGE_WEIGHTS_DIR", "faceforge models fetch s3fd"):
        assert fragment in line, fragment


def test_extract_with_s3fd_offline_stops_with_one_line(video_dir, tmp_path, capsys,
                                                      monkeypatch):
    monkeypatch.setenv("FACEFORGE_CACHE_DIR", str(tmp_path / "cache"))
    code = main(["extract", "-i", str(video_dir / "single_face.mp4"), "-o", str(tmp_path / "o"),
                 "-p", str(tmp_path / "a.db"), "-D", "s3fd", "-A", "fan"])
    err = capsys.readouterr().err
    assert code == 3 and err.count("\n") == 1 and "Traceback" not in err
    assert "S3FD" in err and "https://www.adrianbulat.com" in err
    assert not (tmp_path / "a.db").exists()


# -- layouts -----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["face-alignment", "faceswap", "faceswap release zip"])
def test_both_fan_layouts_load_from_a_folder_of_hand_copied_files(catalogue, tmp_path,
                                                                 weight_files, layout,
                                                                 monkeypatch):
    monkeypatch.setenv("FACEFORGE_OFFLINE", "1")  # found, not fetched
    folder = tmp_path / "by-hand"
    folder.mkdir()
    source, name = ((weight_files["fan"], "2DFAN4-11f355bf06.pth.tar")
                    if layout == "face-alignment"
                    else (weight_files["fan-faceswap"], "face-alignment-network_2d4_v4.pth"))
    if layout == "faceswap release zip":  # as downloaded from Faceswap, not unzipped
        import zipfile

        with zipfile.ZipFile(folder / "x.zip", "w") as archive:  # the catalogue's URL name
            archive.write(source, name)
    else:
        (folder / name).write_bytes(source.read_bytes())
    landmarker = FanLandmarker(weights_dir=folder)
    want = torch.load(weight_files["fan"], weights_only=True)
    got = landmarker.net.state_dict()
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)
    points = landmarker.landmarks(np.zeros((120, 100, 3), np.uint8),
                                  [Detection((10.0, 20.0, 70.0, 90.0), 0.9, source="s3fd")])
    assert points[0].shape == (68, 2) and np.isfinite(points[0]).all()


def test_the_faceswap_key_map_covers_every_parameter():
    ours = FANNet().state_dict().keys()
    theirs = [faceswap_fan_key(k) for k in ours]
    assert any("b2_plus_1_0" in k for k in theirs) and any("top_m0_3" in k for k in theirs)
    assert [fan_key("faceswap", k) for k in theirs] == list(ours)


def test_a_hand_copied_file_that_is_not_the_published_one_is_refused(catalogue, tmp_path,
                                                                    weight_files, monkeypatch):
    monkeypatch.setenv("FACEFORGE_OFFLINE", "1")
    (tmp_path / "s3fd-619a316812.pth").write_bytes(weight_files["fan"].read_bytes())
    with pytest.raises(FormatError, match="not the published"):
        S3fdDetector(weights_dir=tmp_path)


def test_weights_of_the_wrong_model_or_with_code_are_refused(catalogue, tmp_path, weight_files,
                                                            monkeypatch):
    monkeypatch.setenv("FACEFORGE_OFFLINE", "1")
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "s3fd_torch_v3.pth").write_bytes(weight_files["fan"].read_bytes())
    with pytest.raises(FormatError, match="does not hold S3FD weights"):
        S3fdDetector(weights_dir=wrong)

    class RunsCode:
        def __reduce__(self):
            return (exec, (f"open({str(tmp_path / 'ran')!r}, 'w').close()",))

    hostile = tmp_path / "hostile"
    hostile.mkdir()
    torch.save({"conv1_1.weight": RunsCode()}, hostile / "s3fd_torch_v3.pth")
    with pytest.raises(FormatError, match="not a weights file"):
        S3fdDetector(weights_dir=hostile)
    assert not (tmp_path / "ran").exists()


# -- post-processing on constructed outputs ---------------------------------------------------


def bare_s3fd(**options) -> S3fdDetector:
    """An S3FD detector without its network, for post-processing tests."""
    detector = S3fdDetector.__new__(S3fdDetector)
    detector.config = S3fdConfig(**options)
    return detector


def empty_heads(input_px: int = 640) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.zeros((input_px // s, input_px // s), np.float32),
             np.zeros((4, input_px // s, input_px // s), np.float32))
            for s in (4, 8, 16, 32, 64, 128)]


def test_s3fd_decodes_an_anchor_into_a_frame_box():
    heads = empty_heads()
    # Stride 16 (third head), cell (x=10, y=5): anchor centre (168, 88), side 64.
    heads[2][0][5, 10] = 0.9
    heads[2][1][:, 5, 10] = [0.5, -0.5, np.log(2) / 0.2, 0.0]  # shift, then 2x wider
    frame = np.zeros((360, 640, 3), np.uint8)
    found = bare_s3fd().post_process(([heads], [1.0]), [frame])[0]
    assert len(found) == 1 and found[0].score == pytest.approx(0.9)
    # centre (168 + 0.5*0.1*64, 88 - 0.5*0.1*64) = (171.2, 84.8); size (128, 64)
    np.testing.assert_allclose(found[0].box, (107.2, 52.8, 235.2, 116.8), atol=1e-4)
    # A frame shrunk by half to fit the input: boxes come back at frame scale.
    big = np.zeros((720, 1280, 3), np.uint8)
    found = bare_s3fd().post_process(([heads], [0.5]), [big])[0]
    np.testing.assert_allclose(found[0].box, (214.4, 105.6, 470.4, 233.6), atol=1e-4)


def test_s3fd_drops_weak_faces_and_overlapping_boxes():
    heads = empty_heads()
    heads[2][0][5, 10] = 0.95
    heads[2][0][5, 11] = 0.9  # the next anchor: overlaps the first by 60%
    heads[2][0][15, 30] = 0.69  # below the default confidence of 0.7
    heads[5][0][2, 2] = 0.8  # a big face elsewhere (stride 128)
    found = bare_s3fd().post_process(([heads], [1.0]), [np.zeros((640, 640, 3), np.uint8)])[0]
    assert sorted(round(f.score, 2) for f in found) == [0.8, 0.95]
    assert decode_boxes(np.zeros((1, 4)), np.array([[8.0, 8.0]]), 16).tolist() == [[0, 0, 16, 16]]
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    assert nms(boxes, np.array([0.5, 0.9, 0.1]), 0.3) == [1, 2]


def gaussian_heatmaps(points_hm: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    ys, xs = np.mgrid[:64, :64]
    maps = [np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)) for x, y in points_hm]
    return np.stack(maps)[None].astype(np.float32)


def test_fan_heatmap_peaks_map_back_to_frame_points():
    rng = np.random.default_rng(0)
    box = (200.0, 150.0, 320.0, 290.0)
    matrix = crop_matrix(box, 200 / 195, 0.12)
    # Frame points inside the crop, pushed through the crop and heatmap geometry.
    frame_points = rng.uniform([210, 140], [310, 280], (68, 2))
    crop_points = frame_points @ matrix[:, :2].T + matrix[:, 2]
    heatmap = (crop_points - 1.5) / 4
    got = points_in_frame(gaussian_heatmaps(heatmap), [matrix])[0]
    zoom = matrix[0, 0]
    # Whole-cell peaks plus a quarter-cell nudge: within 1/4 cell = 1 crop px of the truth.
    assert np.abs(got - frame_points).max() <= 1.0 / zoom + 1e-6
    # The crop: side (w + h) * 200/195, centre raised by 0.12 h.
    side = (120 + 140) * 200 / 195
    assert zoom == pytest.approx(CROP_PX / side)
    centre = np.linalg.solve(matrix[:, :2], [(CROP_PX - 1) / 2, (CROP_PX - 1) / 2] - matrix[:, 2])
    np.testing.assert_allclose(centre, (260.0, 220.0 - 0.12 * 140))


def test_fan_quarter_cell_refinement_moves_towards_the_higher_neighbour():
    maps = np.zeros((1, 2, 64, 64), np.float32)
    maps[0, 0, 10, 20], maps[0, 0, 10, 21] = 1.0, 0.5  # right neighbour higher
    maps[0, 1, 0, 5] = 1.0  # on the edge: no refinement
    points = heatmap_points(maps)
    np.testing.assert_allclose(points[0], [[20.25, 10.0], [5.0, 0.0]])
