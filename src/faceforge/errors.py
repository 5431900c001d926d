"""One exception tree for faceforge. The library raises these; the shell renders them.

Each error carries a message (what is wrong, naming the file), a hint (what to do) and the
process exit code the CLI should use.
"""

from __future__ import annotations


class FaceforgeError(Exception):
    """Base of every error a user can cause or fix."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The single line the CLI prints (a message quoting a library's several lines, such
        as SQLite's integrity report, has them joined)."""
        text = f"{self.message}: {self.hint}" if self.hint else self.message
        return "; ".join(part.strip() for part in text.splitlines() if part.strip())


class UsageError(FaceforgeError):
    """Options that cannot work together, unknown plugin names, bad values."""

    exit_code = 2


class InputError(FaceforgeError):
    """A missing, unreadable or invalid input file or folder."""

    exit_code = 3


class FormatError(InputError):
    """A file faceforge should read is not of the expected kind or version."""


class OutputError(FaceforgeError):
    """An output location cannot be written (permissions, full disk, clashing files)."""

    exit_code = 4


class ModelError(FaceforgeError):
    """A model folder is missing, corrupt or does not match the requested configuration."""

    exit_code = 5


class Interrupted(FaceforgeError):
    """The user pressed Ctrl-C; state was saved."""

    exit_code = 130
