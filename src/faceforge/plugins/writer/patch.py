"""The `patch` writer: the swapped faces and the matrices that place them, one PNG per face
(`faceforge.formats.patch_png`), for compositing in other software. It needs no blended frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faceforge.io.files import atomic_write
from faceforge.plugins.writer.base import WRITERS, Writer, whole_number

if TYPE_CHECKING:
    import numpy as np

    from faceforge.formats.patch_png import FacePatch


@dataclass(frozen=True)
class PatchOptions:
    """Options of the `patch` writer: PNG compression 0-9."""

    png_compression: int = 3

    def __post_init__(self) -> None:
        whole_number("png_compression", self.png_compression, 0, 9)


def patch_filename(stem: str, index: int, face_index: int) -> str:
    """`<stem>_<frame:06d>_<face>.png`, like extracted face files."""
    return f"{stem}_{index:06d}_{face_index}.png"


@WRITERS.register("patch")
class PatchWriter(Writer):
    """Swapped faces and the matrices that place them.

    Each face becomes `<out_dir>/<stem>_<frame:06d>_<face>.png` (RGB, or RGBA when a mask is
    given) with its metadata (see `faceforge.formats.patch_png`, whose `read_patch` reads one
    back). Files are written atomically; frames without faces, or not given, get no file. The
    frame passed to `write` is not used and may be None.
    """

    name = "patch"
    uses_frame = False
    uses_patches = True
    options_class = PatchOptions

    def describe_output(self) -> str:
        return str(self.out_dir / patch_filename(self.info.stem, 0, 0))

    def _write(
        self, index: int, frame: np.ndarray | None, patches: Sequence[FacePatch]
    ) -> None:
        from faceforge.formats.patch_png import encode_patch_png

        frame_size = (self.info.width, self.info.height)
        for patch in patches:
            data = encode_patch_png(
                patch, self.info.path.name, index, frame_size, self.options.png_compression
            )
            atomic_write(
                self.out_dir / patch_filename(self.info.stem, index, patch.face_index), data
            )

    def _close(self) -> None:
        """Every patch is final as soon as it is written."""

    def _abort(self) -> None:
        """Patches written are complete files; nothing to remove."""
