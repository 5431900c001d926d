"""Line plots drawn with OpenCV into an RGB array: the report's measures over frames and the
GUI's training graph (a picture costs the browser a decode, where a plot component redraws
thousands of points in script on every update)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

PLOT_SIZE = (760, 230)  # width, height in pixels
_MARGIN = (58, 16, 30, 36)  # left, right, top, bottom
_BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
_GRID = (225, 225, 225)
# RGB colours of the plotted series.
SOURCE_COLOUR = (120, 120, 120)
OUTPUT_COLOUR = (214, 39, 40)
OTHER_COLOURS = ((31, 119, 180), (44, 160, 44), (255, 127, 14))
_FONT = cv2.FONT_HERSHEY_SIMPLEX

Series = tuple[str, Sequence[float | None], tuple[int, int, int]]  # label, values, RGB


def text(image: np.ndarray, line: str, origin: tuple[int, int], scale: float = 0.42,
         colour: tuple[int, int, int] = INK) -> None:
    """ASCII text (OpenCV's fonts have no other characters)."""
    cv2.putText(image, line, origin, _FONT, scale, colour, 1, cv2.LINE_AA)


def _tick(value: float) -> str:
    return f"{value:.3g}"


def line_plot(x: Sequence[float], series: Sequence[Series], reference: float | None = None,
              x_label: str = "frame", size: tuple[int, int] = PLOT_SIZE,
              thickness: Sequence[int] | None = None) -> np.ndarray:
    """An RGB line plot of each series over `x`; None values break lines. `reference` draws a
    dashed horizontal line (the ideal or a threshold); `thickness` gives each series' width in
    pixels (2 by default)."""
    width, height = size
    left, right, top, bottom = _MARGIN
    image = np.full((height, width, 3), _BACKGROUND, np.uint8)
    values = [v for _, ys, _ in series for v in ys if v is not None and math.isfinite(v)]
    if reference is not None:
        values.append(reference)
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    pad = (high - low) * 0.08
    low, high = low - pad, high + pad
    x0, x1 = (min(x), max(x)) if len(x) else (0, 1)
    x1 = x1 if x1 > x0 else x0 + 1

    def at(xv: float, yv: float) -> tuple[int, int]:
        px = left + (xv - x0) / (x1 - x0) * (width - left - right)
        py = top + (high - yv) / (high - low) * (height - top - bottom)
        return int(round(px)), int(round(py))

    for k in range(5):
        yv = low + (high - low) * k / 4
        y = at(x0, yv)[1]
        cv2.line(image, (left, y), (width - right, y), _GRID, 1)
        text(image, _tick(yv), (4, y + 4), 0.36)
    for k in range(6):
        xv = x0 + (x1 - x0) * k / 5
        xp = at(xv, low)[0]
        text(image, f"{xv:.0f}", (xp - 10, height - bottom + 16), 0.36)
    text(image, x_label, (width - right - 8 * len(x_label), height - 6), 0.36)
    cv2.rectangle(image, (left, top), (width - right, height - bottom), INK, 1)
    if reference is not None:
        y = at(x0, reference)[1]
        for start in range(left, width - right, 12):
            cv2.line(image, (start, y), (min(start + 6, width - right), y), (90, 90, 90), 1)
    legend = left + 8
    for label_index, (label, ys, colour) in enumerate(series):
        width_px = thickness[label_index] if thickness else 2
        run: list[tuple[int, int]] = []
        for xv, yv in [*zip(x, ys, strict=True), (None, None)]:
            if xv is None or yv is None or not math.isfinite(yv):
                if len(run) > 1:
                    cv2.polylines(image, [np.array(run, np.int32)], False, colour, width_px,
                                  cv2.LINE_AA)
                elif len(run) == 1:
                    cv2.circle(image, run[0], 2, colour, -1, cv2.LINE_AA)
                run = []
                continue
            run.append(at(xv, yv))
        cv2.line(image, (legend, top - 10), (legend + 18, top - 10), colour, 2, cv2.LINE_AA)
        text(image, label, (legend + 22, top - 6), 0.4)
        legend += 40 + cv2.getTextSize(label, _FONT, 0.4, 1)[0][0]
    return image
