"""Faceswap's convert preview: one frame converted with the settings being tried, at once.

The GUI shows it beside the original while the user changes the colour mode, mask, blur,
erosion, sharpening or face scale; the model, the source and its faces stay loaded between
calls, so a change costs one prediction and one blend.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from faceforge.core.image import warp_face
from faceforge.io import Frame, FrameSource, open_source
from faceforge.pipeline.convert import ConvertConfig, FaceSwapper, blend_face, face_lookup


class FramePreviewer:
    """Converts single frames of one source with one model; reuse it across settings."""

    def __init__(self) -> None:
        self.swapper: FaceSwapper | None = None
        self.swapper_key: tuple | None = None
        self.source: FrameSource | None = None
        self.lookup: Callable[[Frame], list[tuple[np.ndarray, np.ndarray]]] | None = None
        self.source_key: tuple | None = None

    def frame_count(self, config: ConvertConfig) -> int:
        return self._source(config).info.frame_count

    def _source(self, config: ConvertConfig) -> FrameSource:
        key = (str(config.input), str(config.alignments), config.on_the_fly,
               tuple(config.filter or ()), tuple(config.nfilter or ()), config.ref_threshold)
        if key != self.source_key:
            self.close()
            self.source = open_source(config.input)
            self.lookup = face_lookup(config, self.source)
            self.source_key = key
        return self.source

    def _swapper(self, config: ConvertConfig) -> FaceSwapper:
        state_file = Path(config.model_dir) / "state.json"
        key = (str(config.model_dir), state_file.stat().st_mtime if state_file.exists() else 0,
               config.swap_model, config.precision, config.cpu_kernels)
        if key != self.swapper_key:
            self.swapper = FaceSwapper(config.model_dir, config.swap_model, config.device)
            self.swapper.choose_compute(config.precision, config.cpu_kernels, 1)
            self.swapper_key = key
        return self.swapper

    def convert_frame(self, config: ConvertConfig, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame `index` as it is and as `config` converts it (RGB uint8)."""
        source = self._source(config)
        frame = source.read_frame(max(0, min(index, source.info.frame_count - 1)))
        swapper = self._swapper(config)
        faces = self.lookup(frame)
        image = frame.image
        if faces:
            crops, out_matrices = [], []
            for _, legacy in faces:
                in_m, out_m = swapper.matrices(legacy, config.face_scale)
                crops.append(warp_face(frame.image, in_m, swapper.input_size))
                out_matrices.append(out_m)
            predicted, masks = swapper.predict(crops)
            blend = config.blend_config()
            for k, (landmarks, _) in enumerate(faces):
                image = blend_face(image, predicted[k], None if masks is None else masks[k],
                                   landmarks, out_matrices[k], config, blend)
        return frame.image, image

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
        self.source = self.lookup = self.source_key = None
