"""Bad input to `faceforge extract`: one clear line, a non-zero exit, nothing damaged."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from faceforge.cli import main


def run(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    return code, err


def _one_clear_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("faceforge: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_input(capsys, tmp_path):
    code, err = run(capsys, "extract", "-i", tmp_path / "nope.mp4", "-o", tmp_path / "out")
    assert code != 0
    assert "nope.mp4" in _one_clear_line(err)


def test_text_file_named_like_a_video(capsys, tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video\n" * 100)
    code, err = run(capsys, "extract", "-i", fake, "-o", tmp_path / "out")
    assert code != 0
    assert "clip.mp4" in _one_clear_line(err)


def _faststart_copy(source: Path, target: Path) -> None:
    """The clip's video with its index at the front, as streamed files have it: a copy cut
    short then still plays up to the cut."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w",
                                              options={"movflags": "faststart"}) as out:
        stream = src.streams.video[0]
        copy = out.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is not None:
                packet.stream = copy
                out.mux(packet)


def test_truncated_video_keeps_what_was_extracted(capsys, tmp_path, video_dir):
    whole = tmp_path / "whole.mp4"
    _faststart_copy(video_dir / "lp_d18.mp4", whole)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    code, err = run(capsys, "extract", "-i", cut, "-o", tmp_path / "out", "-p", tmp_path / "a.db")
    assert code == 3
    line = _one_clear_line(err)
    assert "cut.mp4 is truncated or corrupt after frame" in line and "fetch it again" in line
    from faceforge.formats.alignments import AlignmentsStore

    with AlignmentsStore.open(tmp_path / "a.db", "r") as store:
        kept = sorted(frame.index for frame in store.iter_frames())
        faces = store.face_count()
    # Every frame decoded before the cut is kept, with its face on disk: about half the clip.
    assert kept == list(range(len(kept))) and 0.3 * 216 < len(kept) < 0.7 * 216
    assert faces == len(kept) == len(list((tmp_path / "out").glob("*.png")))


def test_video_cut_before_its_index_is_refused_and_nothing_is_written(capsys, tmp_path,
                                                                       video_dir):
    data = (video_dir / "lp_d18.mp4").read_bytes()  # index at the end: half of it is unreadable
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    code, err = run(capsys, "extract", "-i", cut, "-o", tmp_path / "out", "-p", tmp_path / "a.db")
    assert code == 3
    assert "cut.mp4 is not a video FFmpeg can read" in _one_clear_line(err)
    assert not (tmp_path / "a.db").exists() and not (tmp_path / "out").exists()


def test_empty_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, err = run(capsys, "extract", "-i", tmp_path / "empty", "-o", tmp_path / "out")
    assert code != 0
    assert "empty" in _one_clear_line(err)


def test_folder_of_non_images(capsys, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(3):
        (folder / f"note{i}.txt").write_text("hello")
    code, err = run(capsys, "extract", "-i", folder, "-o", tmp_path / "out")
    assert code == 3
    assert f"folder {folder} holds no images (png, jpg" in _one_clear_line(err)


def test_alignments_file_from_something_else_is_left_alone(capsys, tmp_path, video_dir):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (42)")
    before = other.read_bytes()
    code, err = run(capsys, "extract", "-i", video_dir / "lp_d18.mp4", "-o", tmp_path / "out",
                    "-p", other)
    assert code != 0
    assert "other.db" in _one_clear_line(err)
    assert other.read_bytes() == before


def test_alignments_file_from_a_newer_version(capsys, tmp_path, video_dir):
    from faceforge.formats.alignments import AlignmentsStore

    path = tmp_path / "new.db"
    AlignmentsStore.open(path, "a").close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    code, err = run(capsys, "extract", "-i", video_dir / "lp_d18.mp4", "-o", tmp_path / "out",
                    "-p", path)
    assert code != 0
    line = _one_clear_line(err)
    assert "99" in line or "newer" in line


def test_output_folder_that_cannot_be_created(capsys, tmp_path, video_dir):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, err = run(capsys, "extract", "-i", video_dir / "lp_d18.mp4", "-o", blocker / "faces",
                    "-p", tmp_path / "a.db")
    assert code != 0
    assert "file" in _one_clear_line(err)
    assert not (tmp_path / "a.db").exists()


def test_store_from_another_video_is_refused(capsys, tmp_path, video_dir):
    assert main(["extract", "-i", str(video_dir / "lp_d18.mp4"), "-o", str(tmp_path / "o1"),
                 "-p", str(tmp_path / "a.db"), "-N", "50"]) == 0
    capsys.readouterr()
    code, err = run(capsys, "extract", "-i", video_dir / "lp_d19.mp4", "-o", tmp_path / "o2",
                    "-p", tmp_path / "a.db")
    assert code != 0
    assert "another source" in _one_clear_line(err)


def test_unknown_detector_lists_the_valid_ones():
    proc = subprocess.run([sys.executable, "-m", "faceforge.cli", "extract", "-i", "x", "-o",
                           "y", "-D", "no-such-detector"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "blazeface" in proc.stderr and "Traceback" not in proc.stderr


def test_faceswap_tutorial_command_line_is_accepted(tmp_path, video_dir):
    # extract -i VIDEO -o FACES -D <detector> -A <aligner> -nm none -rf 0 -min 0 -l 0.4
    #   -sz 512 -een 1 -si 0 -L INFO
    code = main(["extract", "-i", str(video_dir / "lp_d18.mp4"), "-o", str(tmp_path / "faces"),
                 "-p", str(tmp_path / "a.db"), "-D", "blazeface", "-A", "dlib", "-nm", "none",
                 "-rf", "0", "-min", "0", "-l", "0.4", "-sz", "256", "-een", "10", "-si", "0",
                 "-L", "INFO"])
    assert code == 0
    assert len(list(Path(tmp_path / "faces").glob("*.png"))) == 22
