"""Landmark jitter before and after `tools alignments smooth` on still-camera clips, and what
it does to a converted video. Results: docs/benchmarks/tools.md.

    .venv/bin/python benchmarks/smooth_jitter.py
    .venv/bin/python benchmarks/smooth_jitter.py --clips lp_d18.mp4 --sigmas 1 2 3 --work /tmp/j

For each clip: every frame is extracted (default detector and landmarker), the store is
smoothed at each sigma, and the landmark tracks are measured: mean frame-to-frame motion and
mean second difference (the shake), in pixels and in inter-ocular distances; the same for the
aligned crop's centre (what conversion warps by). Then a `quick` model is trained for 30
iterations (batch 4) on the faces of lp_d18 and lp_d19, lp_d18 is converted with the raw and
the smoothed store, and the frame-to-frame change inside the face box of the converted video is
compared with the source's own.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from faceforge.core import geometry
from faceforge.core.landmarks import inter_ocular_distance
from faceforge.core.temporal import jitter
from faceforge.formats.alignments import AlignmentsStore
from faceforge.machine import cpu_model
from faceforge.pipeline.convert import ConvertConfig, convert
from faceforge.pipeline.extract import ExtractConfig, extract
from faceforge.tools.smooth import SmoothConfig, follow_faces, run
from faceforge.training import TrainConfig, train

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "video"
CLIPS = ["lp_d18.mp4", "lp_d19.mp4", "single_face.mp4"]


def tracks_of(store_path: Path) -> list[np.ndarray]:
    """(T, 68, 2) landmark tracks of a store (faces followed as `smooth` follows them)."""
    with AlignmentsStore.open(store_path, "r") as store:
        frames = list(store.iter_frames())
    faces = {(f.index, face.face_index): face for f in frames for face in f.faces}
    return [np.stack([faces[k].landmarks.astype(np.float64) for k in track.keys])
            for track in follow_faces(frames, 1, 0.25) if len(track.keys) >= 3]


def measure(tracks: list[np.ndarray]) -> dict[str, float]:
    """Frame-weighted means over tracks: landmark motion and jitter (px and inter-ocular
    distances), and the jitter of the aligned crop's centre (px)."""
    total = sum(len(t) for t in tracks)
    out = {"motion_px": 0.0, "jitter_px": 0.0, "jitter_iod": 0.0, "crop_jitter_px": 0.0}
    for track in tracks:
        weight = len(track) / total
        values = jitter(track)
        iod = float(np.mean([inter_ocular_distance(p) for p in track]))
        out["motion_px"] += weight * values["motion_px"]
        out["jitter_px"] += weight * values["jitter_px"]
        out["jitter_iod"] += weight * values["jitter_px"] / iod
        centres = np.stack([geometry.transform_points(
            np.array([[0.5, 0.5]]), geometry.invert(geometry.legacy_matrix(p)))[0]
            for p in track])
        out["crop_jitter_px"] += weight * float(
            np.linalg.norm(np.diff(centres, 2, axis=0), axis=1).mean())
    return out


def _decode(video: Path) -> list[np.ndarray]:
    with av.open(str(video)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.float32)
                for f in container.decode(video=0)]


def face_flicker(video: Path, source: list[np.ndarray],
                 boxes: dict[int, tuple[float, ...]]) -> dict[str, float]:
    """Inside the face's box (0-255 values, means over pixels and frames): the change from
    one frame to the next, its second difference (shake, flicker), and the second difference
    of what the swap changed (converted minus source: the swap's own shake, without the
    scene's motion)."""
    frames = _decode(video)
    out: dict[str, list[float]] = {"change": [], "second": [], "swap_second": []}
    for index in range(1, len(frames) - 1):
        if not all(i in boxes for i in (index - 1, index, index + 1)):
            continue
        left, top, right, bottom = (int(round(v)) for v in boxes[index])
        window = (slice(max(0, top), bottom), slice(max(0, left), right))
        a, b, c = (frames[i][window] for i in (index - 1, index, index + 1))
        out["change"].append(float(np.abs(b - a).mean()))
        out["second"].append(float(np.abs(c - 2 * b + a).mean()))
        da, db, dc = (frames[i][window] - source[i][window] for i in (index - 1, index,
                                                                      index + 1))
        out["swap_second"].append(float(np.abs(dc - 2 * db + da).mean()))
    return {key: float(np.mean(values)) for key, values in out.items()}


def mouth_kept(raw: list[np.ndarray], smoothed: list[np.ndarray]) -> float:
    """How much of the mouth's opening and closing survives smoothing: standard deviation
    over time of the inner-lip gap (landmarks 62-66), smoothed over raw, frame-weighted."""
    kept, total = 0.0, 0
    for before, after in zip(raw, smoothed, strict=True):
        gap_before = np.linalg.norm(before[:, 62] - before[:, 66], axis=1)
        gap_after = np.linalg.norm(after[:, 62] - after[:, 66], axis=1)
        if gap_before.std() > 0:
            kept += len(before) * gap_after.std() / gap_before.std()
            total += len(before)
    return kept / total if total else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="+", default=CLIPS)
    parser.add_argument("--sigmas", nargs="+", type=float, default=[1.0, 2.0, 3.0])
    parser.add_argument("--convert-sigma", type=float, default=2.0)
    parser.add_argument("--work", type=Path, help="keep the files here (default: a temp dir)")
    args = parser.parse_args()
    print(f"machine: {cpu_model()}; date {time.strftime('%Y-%m-%d %H:%M')}\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.work or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        print("| clip | store | frames | motion px | jitter px | jitter / IOD | crop centre "
              "jitter px | mean shift px | mouth opening kept |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for clip in args.clips:
            stem = Path(clip).stem
            raw = root / f"{stem}.db"
            if not raw.exists():
                extract(ExtractConfig(input=DATA / clip, output=root / f"faces_{stem}",
                                      alignments=raw))
            before = measure(tracks_of(raw))
            frames = sum(len(t) for t in tracks_of(raw))
            print(f"| {clip} | raw | {frames} | {before['motion_px']:.3f} | "
                  f"{before['jitter_px']:.3f} | {before['jitter_iod']:.4f} | "
                  f"{before['crop_jitter_px']:.3f} | - | - |")
            for sigma in args.sigmas:
                smoothed = root / f"{stem}_sigma{sigma:g}.db"
                smoothed.unlink(missing_ok=True)
                result = run(SmoothConfig(alignments=raw, output=smoothed, sigma=sigma))
                after = measure(tracks_of(smoothed))
                kept = mouth_kept(tracks_of(raw), tracks_of(smoothed))
                print(f"| {clip} | sigma {sigma:g} | {result.faces_smoothed} | "
                      f"{after['motion_px']:.3f} | {after['jitter_px']:.3f} | "
                      f"{after['jitter_iod']:.4f} | {after['crop_jitter_px']:.3f} | "
                      f"{result.mean_shift_px:.3f} | {100 * kept:.0f} % |")
        model = root / "quick30"
        if not model.exists():
            for stem in ("lp_d18", "lp_d19"):
                if not (root / f"faces_{stem}").exists():
                    extract(ExtractConfig(input=DATA / f"{stem}.mp4",
                                          output=root / f"faces_{stem}",
                                          alignments=root / f"{stem}.db"))
            train(TrainConfig(input_a=root / "faces_lp_d18", input_b=root / "faces_lp_d19",
                              model_dir=model, trainer="quick", batch_size=4, iterations=30,
                              save_interval=30, no_identity=True))
        smoothed = root / f"lp_d18_sigma{args.convert_sigma:g}.db"
        if not smoothed.exists():
            run(SmoothConfig(alignments=root / "lp_d18.db", output=smoothed,
                             sigma=args.convert_sigma))
        with AlignmentsStore.open(root / "lp_d18.db", "r") as store:
            boxes = {f.index: f.faces[0].box for f in store.iter_frames() if len(f.faces) == 1}
        source = _decode(DATA / "lp_d18.mp4")
        print("\n| lp_d18 | face-box change per frame | its second difference | second "
              "difference of the swap's change |")
        print("|---|---:|---:|---:|")
        itself = face_flicker(DATA / "lp_d18.mp4", source, boxes)
        print(f"| the source itself | {itself['change']:.3f} | {itself['second']:.3f} | - |")
        for label, store in (("converted, raw store", root / "lp_d18.db"),
                             (f"converted, smoothed store (sigma {args.convert_sigma:g})",
                              smoothed)):
            out = root / f"converted_{store.stem}"
            shutil.rmtree(out, ignore_errors=True)  # convert refuses to replace a video
            result = convert(ConvertConfig(input=DATA / "lp_d18.mp4", output=out,
                                           model_dir=model, alignments=store))
            values = face_flicker(result.output, source, boxes)
            print(f"| {label} | {values['change']:.3f} | {values['second']:.3f} | "
                  f"{values['swap_second']:.3f} |")


if __name__ == "__main__":
    main()
