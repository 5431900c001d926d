"""Moving many files safely, with an undo log: the journal of `tools sort` and `rename`.

Before the first file moves, the whole plan is written (atomically) to a journal in the folder.
Each file then goes from its old name to a hidden interim name beside its new one and from there
to the new name: every step is one atomic rename, so at any moment each file is whole at one of
three names the journal lists. A stopped run puts every file back; a killed one is put back the
next time a tool or `--undo` opens that folder. After a finished run the journal stays as the
undo log. Copies (`--keep`) are recorded too: undoing deletes them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from faceforge.errors import FormatError, InputError, Interrupted, OutputError
from faceforge.events import EventSink, Note, ignore
from faceforge.io.files import atomic_copy, atomic_write, ensure_writable_dir, output_error
from faceforge.tools.progress import Counter

log = logging.getLogger(__name__)

JOURNAL_NAME = ".faceforge_moves.json"
_FORMAT = "faceforge-moves"


@dataclass(frozen=True)
class Move:
    src: Path
    dst: Path

    def interim(self, number: int) -> Path:
        return self.dst.with_name(f".faceforge-moving-{number}-{self.dst.name}")


def journal_path(folder: Path) -> Path:
    return Path(folder) / JOURNAL_NAME


def _write_journal(folder: Path, tool: str, moves: Sequence[Move], copy: bool,
                   state: str) -> None:
    document = {"format": _FORMAT, "tool": tool, "state": state, "copy": copy,
                "moves": [[str(m.src), str(m.dst)] for m in moves]}
    atomic_write(journal_path(folder), json.dumps(document, indent=0))


def _read_journal(folder: Path) -> tuple[str, list[Move], bool, str]:
    path = journal_path(folder)
    try:
        document = json.loads(path.read_text())
        moves = [Move(Path(src), Path(dst)) for src, dst in document["moves"]]
        return document["state"], moves, bool(document["copy"]), document.get("tool", "")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FormatError(f"the undo log {path} is damaged ({exc})",
                          "check the folder by hand, then delete that file") from None


def _rename(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError as exc:
        raise output_error("renaming", src, exc) from exc


def _where(move: Move, number: int) -> Path | None:
    for place in (move.dst, move.interim(number), move.src):
        if place.exists():
            return place
    return None


def _put_back(moves: Sequence[Move], copy: bool) -> int:
    """Every file back at its old name (copies deleted); returns how many were moved."""
    restored = 0
    for number, move in enumerate(moves):
        if copy:
            for place in (move.interim(number), move.dst):
                if place.exists():
                    place.unlink()
                    restored += 1
            continue
        if move.src.exists():
            continue
        place = _where(move, number)
        if place is None:
            log.warning("%s is gone: it was moved by this tool, then deleted", move.src)
            continue
        if place == move.dst:
            _rename(move.dst, move.interim(number))
            place = move.interim(number)
        _rename(place, move.src)
        restored += 1
    for parent in sorted({move.dst.parent for move in moves}, reverse=True):
        try:
            parent.rmdir()  # the folders this run made, once empty again
        except OSError:
            pass
    return restored


def recover(folder: Path, on_event: EventSink | None = None) -> None:
    """Put back the files of a run that was killed in `folder`, if one was."""
    if not journal_path(folder).exists():
        return
    state, moves, copy, tool = _read_journal(folder)
    if state != "moving":
        return
    count = _put_back(moves, copy)
    journal_path(folder).unlink()
    (on_event or ignore)(Note(f"put back {count} files that an interrupted {tool} in "
                              f"{folder} had moved"))


def undo(folder: Path, on_event: EventSink | None = None) -> int:
    """Put back every file the last run in `folder` moved; returns how many."""
    if not journal_path(folder).exists():
        raise InputError(f"there is nothing to undo in {folder}",
                         "give the folder the sort or rename wrote to (its -o, else its -i)")
    _state, moves, copy, _tool = _read_journal(folder)
    count = _put_back(moves, copy)
    journal_path(folder).unlink()
    (on_event or ignore)(Note(f"put back {count} files in {folder}"))
    return count


def apply_moves(folder: Path, tool: str, moves: Sequence[Move], *, copy: bool = False,
                on_event: EventSink | None = None, stop: threading.Event | None = None,
                ) -> int:
    """Move (or copy) each `src` to its `dst`, journaled in `folder`; returns how many.

    Ctrl-C or `stop` puts every file back and raises `Interrupted`. Destinations must not be
    files that are not themselves moved away by this plan.
    """
    folder = ensure_writable_dir(folder)
    recover(folder, on_event)
    moves = [m for m in moves if m.src != m.dst]
    sources = {m.src for m in moves}
    for move in moves:
        if move.dst.exists() and move.dst not in sources:
            raise OutputError(f"{move.dst} already exists",
                              "sort into an empty folder, or remove that file")
    _write_journal(folder, tool, moves, copy, "moving")  # first: it also undoes the folders
    for parent in sorted({m.dst.parent for m in moves}):
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _put_back(moves, copy)
            journal_path(folder).unlink(missing_ok=True)
            raise output_error("creating folder", parent, exc) from exc
    counter = Counter(2 * len(moves), "step", on_event, stop, tool)
    try:
        if copy:
            for number, move in enumerate(moves):
                counter.check_stop()
                atomic_copy(move.src, move.interim(number), durable=False)
                _rename(move.interim(number), move.dst)
                counter.advance(2)
        else:
            # All to interim names first, so a destination that is another file's source is
            # free by the time anything lands on it.
            for number, move in enumerate(moves):
                counter.check_stop()
                _rename(move.src, move.interim(number))
                counter.advance()
            for number, move in enumerate(moves):
                counter.check_stop()
                _rename(move.interim(number), move.dst)
                counter.advance()
    except (KeyboardInterrupt, Interrupted):
        _put_back(moves, copy)
        journal_path(folder).unlink(missing_ok=True)
        raise Interrupted(f"{tool} stopped", "every file was put back where it was") from None
    except BaseException:
        _put_back(moves, copy)
        journal_path(folder).unlink(missing_ok=True)
        raise
    _write_journal(folder, tool, moves, copy, "done")
    return len(moves)
