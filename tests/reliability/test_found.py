"""The cases of issue 14, each as it was found: leftovers of killed runs, tracebacks for damaged
files, false successes, refused files that were changed anyway, and the small ones."""

from __future__ import annotations

import errno
import json
import shutil
import sqlite3
import struct

import pytest

from faceforge.cli import main
from faceforge.formats.png_chunks import itxt_chunk, png_chunk

from .conftest import leftovers, make_small_model, one_error_line, tree_hashes


def run(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def store_copy(faces, tmp_path, name="a.db"):
    path = tmp_path / name
    shutil.copyfile(faces["a"].parent / "a.db", path)
    return path


def damage_store(path, sql):
    with sqlite3.connect(path) as conn:
        conn.execute(sql)
    conn.close()


# -- 1. leftovers of killed runs are removed by the next run --------------------------------


def test_convert_removes_the_partial_videos_a_killed_run_left(video_dir, faces, small_model,
                                                               tmp_path, capsys, dead_pid):
    out = tmp_path / "out"
    out.mkdir()
    for name in (f"lp_d18_converted.partial-{dead_pid}.mp4",
                 f"lp_d18_converted.partial-{dead_pid}-muxed.mp4",
                 f".lp_d18_000001.png.tmp-{dead_pid}-0123abcd"):
        (out / name).write_bytes(b"left by a kill" * 100)
    code, err = run(capsys, "convert", "-i", video_dir / "lp_d18.mp4", "-o", out, "-m",
                    small_model, "-p", faces["a"].parent / "a.db", "-R", "0-7", "-L", "WARNING")
    assert code == 0, err
    assert leftovers(out) == []
    assert (out / "lp_d18_converted.mp4").is_file()


def test_extract_removes_the_temporaries_a_killed_run_left(video_dir, tmp_path, capsys,
                                                           dead_pid):
    faces, stores = tmp_path / "faces", tmp_path / "stores"
    faces.mkdir()
    stores.mkdir()
    stale = [faces / f".lp_d18_000000_0.png.tmp-{dead_pid}-0123abcd",
             stores / f".a.db.tmp-{dead_pid}-0123abcd",
             stores / f".a.db.tmp-{dead_pid}-0123abcd-wal"]
    for path in stale:
        path.write_bytes(b"left by a kill")
    code, err = run(capsys, "extract", "-i", video_dir / "lp_d18.mp4", "-o", faces, "-p",
                    stores / "a.db", "-N", "50", "-L", "WARNING")
    assert code == 0, err
    assert leftovers(faces, stores) == []


def test_alignments_export_removes_the_temporaries_a_killed_export_left(faces, tmp_path, capsys,
                                                                         dead_pid):
    stale = tmp_path / f".out.json.tmp-{dead_pid}-0123abcd"
    stale.write_text("{")
    code, err = run(capsys, "tools", "alignments", "export", faces["a"].parent / "a.db",
                    tmp_path / "out.json")
    assert code == 0, err
    assert leftovers(tmp_path) == [] and (tmp_path / "out.json").is_file()


def test_train_removes_stale_temporaries_in_the_model_folder_backups_and_snapshots(
        faces, tmp_path, capsys, dead_pid):
    model = make_small_model(tmp_path / "model")
    for folder in (model, model / "backups", model / "snapshots" / "000000001"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f".weights-000000002.safetensors.tmp-{dead_pid}-0123abcd").write_bytes(b"x")
    code, err = run(capsys, "train", "-A", faces["a"], "-B", faces["b"], "-m", model, "-t",
                    "quick", "-bs", "2", "-it", "2", "-s", "2", "--no-identity", "-L", "WARNING")
    assert code == 0, err
    assert leftovers(model) == []


def test_a_full_disk_while_backing_up_leaves_no_weights_behind_and_names_the_file(
        tmp_path, monkeypatch):
    from faceforge.errors import OutputError
    from faceforge.training import checkpoint

    model = make_small_model(tmp_path / "model", iterations=2)
    backups = model / "backups"

    def full_disk(folder, state):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "write_state", full_disk)
    with pytest.raises(OutputError) as caught:
        checkpoint.copy_checkpoint(model, backups)
    assert f"disk full while writing {backups / 'state.json'}" in caught.value.message
    assert not [p for p in backups.iterdir() if p.suffix == ".safetensors"]


# -- 2. damaged files: one line, never a traceback --------------------------------------------


SHORT_BLOB = "UPDATE faces SET landmarks = x'0011' WHERE frame_idx = 4"
BROKEN_META = "UPDATE meta SET value = '{broken' WHERE key = 'settings'"


# Extract resumes without reading the stored faces, so a bad face row is not its input.
@pytest.mark.parametrize(("command", "damage"), [
    *((command, SHORT_BLOB) for command in ("convert", "summary", "export")),
    *((command, BROKEN_META) for command in ("convert", "summary", "export", "extract")),
])
def test_a_damaged_store_is_one_line_and_is_left_unchanged(command, damage, video_dir, faces,
                                                          small_model, tmp_path, capsys):
    store = store_copy(faces, tmp_path)
    damage_store(store, damage)
    before = tree_hashes(tmp_path)
    video = video_dir / "lp_d18.mp4"
    args = {
        "convert": ["convert", "-i", video, "-o", tmp_path / "out", "-m", small_model, "-p",
                    store],
        "summary": ["tools", "alignments", "summary", store, "--list"],
        "export": ["tools", "alignments", "export", store, tmp_path / "out.json"],
        "extract": ["extract", "-i", video, "-o", tmp_path / "out", "-p", store, "-N", "4"],
    }[command]
    code, err = run(capsys, *args)
    assert code == 3, err
    line = one_error_line(err)
    assert "is damaged" in line and "restore it from a backup" in line
    assert tree_hashes(tmp_path) == before
    assert not (tmp_path / "out.json").exists()


def _model_with_state(small_model, folder, state_bytes):
    folder.mkdir()
    for path in small_model.iterdir():
        if path.is_file():
            shutil.copyfile(path, folder / path.name)
    (folder / "state.json").write_bytes(state_bytes)
    return folder


def _edited_state(small_model, edit) -> bytes:
    state = json.loads((small_model / "state.json").read_text())
    edit(state)
    return json.dumps(state).encode()


STATE_DAMAGE = {
    "random-bytes": lambda m: bytes(range(256)) * 4,
    "model-config-a-list": lambda m: _edited_state(m, lambda s: s.update(model_config=[1, 2])),
    "layer-widths-of-ten-million": lambda m: _edited_state(
        m, lambda s: s["model_config"].update(encoder_filters=[8, 16, 16, 10**7])),
    "nested-100000-deep": lambda m: b'{"format": "faceforge-model", "x": ' + b"[" * 100_000
    + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("command", ["train", "convert"])
@pytest.mark.parametrize("damage", list(STATE_DAMAGE))
def test_a_damaged_model_state_is_one_line_and_is_left_unchanged(command, damage, video_dir,
                                                                faces, small_model, tmp_path,
                                                                capsys):
    model = _model_with_state(small_model, tmp_path / "model",
                              STATE_DAMAGE[damage](small_model))
    before = tree_hashes(model)
    args = {
        "train": ["train", "-A", faces["a"], "-B", faces["b"], "-m", model, "-t", "quick",
                  "-bs", "2", "-it", "5", "--no-identity"],
        "convert": ["convert", "-i", video_dir / "lp_d18.mp4", "-o", tmp_path / "out", "-m",
                    model, "-p", faces["a"].parent / "a.db"],
    }[command]
    code, err = run(capsys, *args)
    assert code in (3, 5), err
    line = one_error_line(err)
    assert "damaged" in line and "backups" in line
    assert tree_hashes(model) == before and not (tmp_path / "out").exists()


def _face_copies(faces, tmp_path, edit):
    folder = tmp_path / "faces"
    shutil.copytree(faces["a"], folder)
    first = sorted(folder.glob("*.png"))[0]
    first.write_bytes(edit(first.read_bytes()))
    return folder, first


def _with_meta_text(data: bytes, text: str) -> bytes:
    """The PNG with its text chunks replaced by one faceforge iTXt chunk holding `text`."""
    out, pos = [data[:33]], 33
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        if data[pos + 4:pos + 8] != b"iTXt":
            out.append(data[pos:pos + 12 + length])
        pos += 12 + length
    return out[0] + itxt_chunk("faceforge", text) + b"".join(out[1:])


def _meta_of(data: bytes) -> dict:
    from faceforge.formats.face_png import parse_face_meta

    meta = parse_face_meta(data)
    meta.pop("origin")
    return meta


FACE_DAMAGE = {
    "json-nested-100000-deep": lambda d: _with_meta_text(
        d, '{"faceforge": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    "header-claims-100000x100000": lambda d: d[:8] + png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)) + d[33:],
    "all-zero-alignment-matrix": lambda d: _with_meta_text(d, json.dumps(
        {"faceforge": {**_meta_of(d), "matrix": [[0, 0, 0], [0, 0, 0]]}})),
}


@pytest.mark.parametrize("damage", list(FACE_DAMAGE))
def test_a_damaged_face_image_stops_training_with_one_line(damage, faces, tmp_path, capsys):
    folder, bad = _face_copies(faces, tmp_path, FACE_DAMAGE[damage])
    before = tree_hashes(folder)
    code, err = run(capsys, "train", "-A", folder, "-B", faces["b"], "-m", tmp_path / "model",
                    "-t", "quick", "-bs", "2", "-it", "2", "--no-identity")
    assert code == 3, err
    assert bad.name in one_error_line(err)
    assert tree_hashes(folder) == before


def test_an_import_file_nested_100000_deep_is_one_line(tmp_path, capsys):
    source = tmp_path / "deep.json"
    source.write_text('{"format": "faceforge-alignments", "schema_version": 2, "meta": '
                      + "[" * 100_000 + "]" * 100_000 + ', "frames": []}')
    code, err = run(capsys, "tools", "alignments", "import", source, tmp_path / "new.db")
    assert code == 3, err
    assert "nests deeper than" in one_error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep.json"]


# -- 3. no false success --------------------------------------------------------------------


def test_frame_ranges_past_the_last_frame_fail_and_write_nothing(video_dir, faces, small_model,
                                                                  tmp_path, capsys):
    code, err = run(capsys, "convert", "-i", video_dir / "lp_d18.mp4", "-o", tmp_path / "out",
                    "-m", small_model, "-p", faces["a"].parent / "a.db", "-R", "5000-6000")
    assert code == 2
    assert "past the last frame" in one_error_line(err)
    assert not (tmp_path / "out").exists()


def test_negative_iterations_are_refused(faces, tmp_path, capsys):
    code, err = run(capsys, "train", "-A", faces["a"], "-B", faces["b"], "-m",
                    tmp_path / "model", "-t", "quick", "-it", "-5")
    assert code == 2
    assert "--iterations -5" in one_error_line(err)
    assert not (tmp_path / "model").exists()


def test_negative_landmark_threshold_is_refused(video_dir, tmp_path, capsys):
    code, err = run(capsys, "extract", "-i", video_dir / "lp_d18.mp4", "-o", tmp_path / "out",
                    "--landmark-threshold", "-1")
    assert code == 2
    assert "--landmark-threshold" in one_error_line(err)
    assert list(tmp_path.iterdir()) == []


# -- 4. a refused file is not touched ---------------------------------------------------------


@pytest.mark.parametrize("damage", [
    "UPDATE meta SET value = '{broken' WHERE key = 'source_path'",
    "DROP TABLE masks",
    "UPDATE meta SET value = '\"' || hex(randomblob(8)) || '\"' WHERE key = 'source_fingerprint'",
], ids=["broken-meta", "forged-schema", "another-video"])
def test_a_store_extract_refuses_is_left_byte_for_byte(damage, video_dir, faces, tmp_path,
                                                       capsys):
    store = store_copy(faces, tmp_path)
    damage_store(store, damage)
    before = tree_hashes(tmp_path)
    code, err = run(capsys, "extract", "-i", video_dir / "lp_d18.mp4", "-o", tmp_path / "out",
                    "-p", store, "-N", "4")
    assert code in (2, 3), err
    one_error_line(err)
    assert tree_hashes(tmp_path) == before  # no -wal/-shm beside it, no header rewritten


def test_another_videos_valid_store_is_left_byte_for_byte(video_dir, faces, tmp_path, capsys):
    store = store_copy(faces, tmp_path)  # lp_d18's store
    before = tree_hashes(tmp_path)
    code, err = run(capsys, "extract", "-i", video_dir / "lp_d19.mp4", "-o", tmp_path / "out",
                    "-p", store)
    assert code == 2
    assert "another source" in one_error_line(err)
    assert tree_hashes(tmp_path) == before


# -- 5. small ones -----------------------------------------------------------------------------


def test_the_loss_log_is_cut_back_to_the_last_save_when_resuming(faces, tmp_path, capsys):
    model = make_small_model(tmp_path / "model", iterations=1)
    lines = [json.dumps({"iteration": i, "loss_a": 0.5, "loss_b": 0.5}) for i in range(1, 5)]
    # Iterations 2-4 were logged but never saved (the run was killed before its save), and
    # the kill cut the last line short.
    (model / "loss_log.jsonl").write_text("\n".join(lines) + '\n{"iteration": 5, "lo')
    code, err = run(capsys, "train", "-A", faces["a"], "-B", faces["b"], "-m", model, "-t",
                    "quick", "-bs", "2", "-it", "3", "-s", "3", "--no-identity", "--no-quality",
                    "-L", "WARNING")
    assert code == 0, err
    logged = [json.loads(line)["iteration"]
              for line in (model / "loss_log.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3]
