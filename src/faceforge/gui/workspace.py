"""The GUI's workspace: one folder holding sources, faces, models, outputs and jobs.

The GUI never reads or writes outside it: every path a form or a file request names is resolved
here, and `..`, absolute paths elsewhere and symlinks that lead out are refused.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from faceforge.errors import InputError, OutputError, UsageError
from faceforge.io.source import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

FOLDERS = ("sources", "faces", "models", "outputs", "jobs")
MEDIA_EXTENSIONS = tuple(VIDEO_EXTENSIONS) + tuple(IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> Workspace:
        root = Path(folder).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise UsageError(f"workspace {root} is a file", "pass a folder with --workspace")
        for name in (*FOLDERS, ".cache"):
            (root / name).mkdir(parents=True, exist_ok=True)
        return cls(root)

    def resolve(self, text: str | os.PathLike[str], must_exist: bool = False) -> Path:
        """The absolute path that `text` (relative to the workspace, or absolute inside it)
        names; UsageError when it leads outside, through `..` or a symlink."""
        given = Path(text).expanduser()
        candidate = given if given.is_absolute() else self.root / given
        resolved = candidate.resolve()  # follows symlinks, removes ..
        if resolved != self.root and self.root not in resolved.parents:
            raise UsageError(f"{text} is outside the workspace {self.root}",
                             "pick files inside the workspace (upload them first)")
        if must_exist and not resolved.exists():
            raise InputError(f"{text} does not exist in the workspace", "check the name")
        return resolved

    def relative(self, path: Path) -> str:
        return str(Path(path).resolve().relative_to(self.root))

    def entries(self, kind: str) -> list[str]:
        """Workspace-relative paths a picker offers: `media` (videos, image folders and
        images), `folder`, `model` (folders holding state.json) or `file`."""
        found = []
        for folder, subfolders, files in os.walk(self.root):
            here = Path(folder)
            subfolders[:] = sorted(d for d in subfolders
                                   if not d.startswith(".") and not (here == self.root and
                                                                     d == "jobs"))
            if here != self.root:
                if kind == "folder" or (kind == "model" and "state.json" in files) or \
                        (kind == "media" and any(Path(f).suffix.lower() in IMAGE_EXTENSIONS
                                                 for f in files)):
                    found.append(self.relative(here))
            if kind in ("media", "file"):
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    if kind == "file" or Path(name).suffix.lower() in MEDIA_EXTENSIONS:
                        found.append(self.relative(here / name))
        return sorted(set(found))

    def store_upload(self, temporary: Path, name: str, limit_bytes: int) -> Path:
        """Move an uploaded file into sources/ under its own (cleaned) name."""
        clean = Path(name).name.replace(os.sep, "_").lstrip(".") or "upload"
        if Path(clean).suffix.lower() not in MEDIA_EXTENSIONS:
            raise UsageError(f"{clean} is not a video or photo",
                             f"upload one of: {', '.join(sorted(MEDIA_EXTENSIONS))}")
        if Path(temporary).stat().st_size > limit_bytes:
            raise UsageError(f"{clean} is larger than the upload limit "
                             f"({limit_bytes // (1 << 20)} MB)", "copy it in another way")
        target = self.root / "sources" / clean
        stem, suffix, n = target.stem, target.suffix, 1
        while target.exists():
            target = target.with_name(f"{stem}-{n}{suffix}")
            n += 1
        try:
            shutil.move(str(temporary), target)
        except OSError as exc:
            raise OutputError(f"could not store the upload {clean}: {exc.strerror}",
                              "check free space in the workspace") from None
        return target
