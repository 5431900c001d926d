"""The pictures and the page of `faceforge report`: plots of each measure over time and a
contact sheet of the worst frames (drawn with OpenCV), in one self-contained report.html
whose images are embedded (and also written beside it)."""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from faceforge.core.plot import OTHER_COLOURS, OUTPUT_COLOUR, SOURCE_COLOUR, line_plot
from faceforge.core.plot import text as _text
from faceforge.io.files import atomic_write

if TYPE_CHECKING:
    from faceforge.pipeline.report import FrameScore

def _caption(tile: np.ndarray, text: str) -> np.ndarray:
    bar = np.full((18, tile.shape[1], 3), 24, np.uint8)
    _text(bar, text, (4, 13), 0.4, (235, 235, 235))
    return np.vstack([tile, bar])


def contact_sheet(scores: Sequence[FrameScore], worst: dict[str, list[int]],
                  labels: dict[str, str]) -> np.ndarray:
    """Rows of source | output face pairs: for each measure its worst frames, worst first."""
    from faceforge.pipeline.report import CROP_SIDE

    label_width = 120
    columns = max((len(ks) for ks in worst.values()), default=1) or 1
    pair_width = 2 * CROP_SIDE + 8
    row_height = CROP_SIDE + 18
    rows = []
    for measure, picks in worst.items():
        row = np.full((row_height, label_width + columns * pair_width, 3), 40, np.uint8)
        _text(row, measure, (8, 24), 0.5, (255, 255, 255))
        _text(row, "source | output", (8, 44), 0.38, (200, 200, 200))
        for column, k in enumerate(picks):
            score = scores[k]
            source, output = score.crops
            pair = np.hstack([source, np.full((CROP_SIDE, 2, 3), 40, np.uint8), output])
            tile = _caption(pair, f"frame {score.index}: {labels[measure](score)}")
            left = label_width + column * pair_width
            row[:, left:left + tile.shape[1]] = tile
        rows.append(row)
        rows.append(np.full((6, rows[-1].shape[1], 3), 255, np.uint8))
    return np.vstack(rows) if rows else np.full((10, 10, 3), 255, np.uint8)


def _encode(image_rgb: np.ndarray, suffix: str) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, 88] if suffix == ".jpg" else []
    ok, data = cv2.imencode(suffix, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"could not encode {suffix}")
    return data.tobytes()


def fmt(value: Any, digits: int = 2, percent: bool = False) -> str:
    """A number for the page and the command line; n/a for none."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if percent:
        return f"{100 * value:.0f}%"
    return f"{value:.{digits}f}"


def _rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(measure, number, ideal, what it is) for the summary table."""
    identity, expression = summary["identity"], summary["expression"]
    pose, stability = summary["pose"], summary["stability"]
    rows = [
        ("identity: nearer B than A", fmt(identity["nearer_b_share"], percent=True), "100%",
         "share of frames whose output face's dlib descriptor is nearer B's faces than A's"),
        ("identity: distance to B", fmt(identity["distance_to_b"]),
         f"< {identity['same_person_distance']}",
         "mean descriptor distance of the output face to the mean of B's faces (dlib's "
         f"same-person limit is {identity['same_person_distance']})"),
        ("identity: distance to A", fmt(identity["distance_to_a"]),
         f"> {identity['same_person_distance']}",
         f"the same to A's faces ({summary['faces_a']})"),
    ]
    gallery = identity.get("gallery")
    if gallery:
        rows.append(("identity: B ranked first", fmt(gallery["b_first_share"], percent=True),
                     "100%", f"share of frames where B is the nearest of "
                     f"{gallery['candidates']} people (B, A and the gallery); mean rank "
                     f"{fmt(gallery['b_mean_rank'])}"))
    rows += [
        ("expression: mouth opening", fmt(expression["mouth_opening_correlation"]), "1",
         "correlation over frames of the inner-lip gap (÷ face size), source vs output; "
         f"the source's mouth is open in {fmt(expression['mouth_open_share'], percent=True)} "
         "of the frames (if rarely, a few frames decide the correlation); the lips' gap is "
         f"off by {fmt(expression['mouth_opening_error'], 3)} face sizes on average"),
        ("expression: eye opening", fmt(expression["eye_opening_correlation"]), "1",
         "correlation over frames of the eyelid gap (÷ face size), source vs output"),
        ("pose: yaw / pitch / roll off", " / ".join(fmt(pose[f"{a}_difference_deg"], 1)
                                                    for a in ("yaw", "pitch", "roll")),
         "0 / 0 / 0", "mean absolute difference of head angles, source vs output, degrees"),
        ("pose: varying part", " / ".join(fmt(pose[f"{a}_varying_deg"], 1)
                                          for a in ("yaw", "pitch", "roll")),
         "0 / 0 / 0", "the same after taking out each angle's steady offset (median "
         "difference: " + " / ".join(fmt(pose[f"{a}_offset_deg"], 1)
                                     for a in ("yaw", "pitch", "roll")) + "), which is partly "
         "the pose measure's own: its generic 3-D face fits two people with different tilts"),
        ("stability: jitter", f"{fmt(stability['jitter_px'])} px "
         f"({fmt(stability['jitter_face_share'], percent=True)} of face)", "0",
         "mean frame-to-frame change of (output − source) landmark positions: shake the "
         "swap adds"),
        ("stability: landmark motion", f"{fmt(stability['landmark_motion_output_px'])} vs "
         f"{fmt(stability['landmark_motion_source_px'])} px", "equal",
         "mean frame-to-frame landmark motion of the output vs the source"),
        ("stability: colour flicker", fmt(stability["colour_flicker_levels"]), "0",
         "mean frame-to-frame change of (output − source) mean face colour, 0-255 levels"),
        ("sharpness", fmt(summary["sharpness"]["ratio_median"]), "1",
         "median over frames of " + summary["sharpness"]["measure"]),
        ("seam", fmt(summary["seam"]["ratio_median"]), "1",
         "median over frames of " + summary["seam"]["measure"]),
    ]
    return rows


def plots(scores: Sequence[FrameScore]) -> dict[str, tuple[str, np.ndarray]]:
    """Measure → (caption, plot image)."""
    x = [s.index for s in scores]

    def pose_of(which: str, k: int) -> list[float | None]:
        out = []
        for s in scores:
            angles = getattr(s, f"pose_{which}")
            out.append(None if angles is None or not s.found_output else angles[k])
        return out

    return {
        "identity": ("descriptor distance of the output face to B and to A (dashed: dlib's "
                     "same-person limit)", line_plot(x, [
                         ("to B", [s.distance_to_b for s in scores], OUTPUT_COLOUR),
                         ("to A", [s.distance_to_a for s in scores], SOURCE_COLOUR)], 0.6)),
        "mouth": ("mouth opening (inner-lip gap ÷ face size)", line_plot(x, [
            ("source", [s.mouth_source for s in scores], SOURCE_COLOUR),
            ("output", [s.mouth_output for s in scores], OUTPUT_COLOUR)])),
        "eyes": ("eye opening (eyelid gap ÷ face size)", line_plot(x, [
            ("source", [s.eyes_source for s in scores], SOURCE_COLOUR),
            ("output", [s.eyes_output for s in scores], OUTPUT_COLOUR)])),
        "pose": ("head yaw, degrees (pitch and roll in report.json)", line_plot(x, [
            ("source yaw", pose_of("source", 0), SOURCE_COLOUR),
            ("output yaw", pose_of("output", 0), OUTPUT_COLOUR)])),
        "stability": ("jitter (px) and colour flicker (levels) from one sampled frame to the "
                      "next", line_plot(x, [
                          ("jitter px", [s.jitter_px for s in scores], OUTPUT_COLOUR),
                          ("flicker", [s.flicker_levels for s in scores], OTHER_COLOURS[0])],
                          0.0)),
        "sharpness": ("sharpness of the output face ÷ the source's (dashed: equal)",
                      line_plot(x, [
                          ("ratio", [s.sharpness_ratio for s in scores], OUTPUT_COLOUR)],
                          1.0)),
        "seam": ("edge energy along the blend mask's border, output ÷ source (dashed: equal)",
                 line_plot(x, [
                     ("ratio", [s.seam_ratio for s in scores], OUTPUT_COLOUR)], 1.0)),
    }


def _labels() -> dict[str, Any]:
    return {
        "identity": lambda s: f"to B {fmt(s.distance_to_b)} A {fmt(s.distance_to_a)}",
        "expression": lambda s: f"mouth {fmt(s.mouth_source, 3)} > {fmt(s.mouth_output, 3)}",
        "pose": lambda s: "yaw/pitch/roll " + "/".join(f"{d:+.0f}"
                                                       for d in s.pose_difference_deg),
        "stability": lambda s: f"jitter {fmt(s.jitter_px, 1)} px",
        "sharpness": lambda s: f"sharpness x{fmt(s.sharpness_ratio)}",
        "seam": lambda s: f"seam x{fmt(s.seam_ratio)}",
    }


def write_report(output: Path, summary: dict[str, Any], scores: Sequence[FrameScore],
                 worst: dict[str, list[int]]) -> Path:
    """Write the plots, the contact sheet and report.html into `output`; returns the page."""
    images: list[tuple[str, str, bytes]] = []  # (file name, caption, bytes)
    for name, (caption, image) in plots(scores).items():
        images.append((f"plot_{name}.png", caption, _encode(image, ".png")))
    sheet = contact_sheet(scores, worst, _labels())
    sheet_bytes = _encode(sheet, ".jpg")
    for name, _, data in images:
        atomic_write(output / name, data, durable=False)
    atomic_write(output / "contact_sheet.jpg", sheet_bytes, durable=False)

    def embedded(data: bytes, mime: str) -> str:
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

    table = "\n".join(
        f"<tr><td>{html.escape(m)}</td><td class=n>{html.escape(v)}</td>"
        f"<td class=n>{html.escape(ideal)}</td><td>{html.escape(what)}</td></tr>"
        for m, v, ideal, what in _rows(summary))
    figures = "\n".join(
        f"<figure><img src=\"{embedded(data, 'image/png')}\" alt=\"{html.escape(name)}\">"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption, data in images)
    frames = summary["frames"]
    facts = (f"{frames['paired']} of {frames['sampled']} sampled frames measured (every "
             f"{summary['every_nth_frame']} frame{'s' if summary['every_nth_frame'] > 1 else ''}"
             f"; a face in {frames['with_source_face']} source frames; face size about "
             f"{fmt(frames['face_size_px'], 0)} px). B's faces: {summary['faces_b']}; A's "
             f"faces: {summary['faces_a']}.")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>faceforge report: {html.escape(Path(summary['converted']).name)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} h2 {{ font-size: 16px; margin: 24px 0 8px; }}
table {{ border-collapse: collapse; }} td, th {{ border-bottom: 1px solid #ddd;
padding: 4px 10px; vertical-align: top; text-align: left; }} td.n {{ white-space: nowrap;
font-variant-numeric: tabular-nums; }} figure {{ display: inline-block; margin: 0 12px 12px 0;
}} figcaption {{ font-size: 12px; color: #555; max-width: 760px; }} .facts {{ color: #555; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>Swap quality: {html.escape(summary['converted'])}</h1>
<p class=facts>Source: {html.escape(summary['source'])}. Model: {html.escape(
        str(summary['model']))}. {html.escape(facts)}</p>
<h2>Measures</h2>
<table><tr><th>measure</th><th>value</th><th>ideal</th><th>what it is</th></tr>
{table}
</table>
<h2>Worst frames for each measure (source | output)</h2>
<img src="{embedded(sheet_bytes, 'image/jpeg')}" alt="contact sheet">
<h2>Over time</h2>
{figures}
<p class=facts>Every number is in report.json beside this page, frame by frame.</p>
</body></html>
"""
    path = output / "report.html"
    atomic_write(path, page, durable=False)
    return path
