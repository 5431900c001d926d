"""Property-based fuzzing of every reader of untrusted input: face PNG metadata, alignments
store rows and metadata, model state, the JSON import and Faceswap's .fsa. Whatever the
bytes, a reader returns a result or raises faceforge's one-line typed error (a
FaceforgeError), never another exception. Example counts stay modest for CI time."""

from __future__ import annotations

import json
import os
import pickle
import sqlite3
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faceforge.errors import FaceforgeError
from faceforge.formats.alignments import AlignmentsStore
from faceforge.formats.alignments.json_io import read_json_export, write_json_export
from faceforge.formats.face_png import encode_face_png, make_face_meta, parse_face_meta
from faceforge.formats.fsa import frames_from_fsa, parse_fsa
from faceforge.formats.model_state import ModelState
from faceforge.formats.png_chunks import itxt_chunk
from faceforge.plugins.model import MODELS

from ..formats.alignments_samples import make_frame
from ..formats.fsa_samples import faceswap_document, fsa_bytes

# FACEFORGE_FUZZ_EXAMPLES raises the count for a longer search than CI's.
FUZZ = settings(max_examples=int(os.environ.get("FACEFORGE_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30)


def mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None) -> bytes:
    """`data` with some bytes replaced and maybe cut short."""
    out = bytearray(data)
    for position, value in flips:
        if out:
            out[position % len(out)] = value
    return bytes(out[:cut] if cut is not None else out)


flips = st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), max_size=8)
cuts = st.none() | st.integers(0, 10**6)


def _face_png() -> bytes:
    rng = np.random.default_rng(0)
    landmarks = rng.uniform(10, 200, (68, 2))
    meta = make_face_meta(source="clip.mp4", frame_index=3, frame_name="clip_000003",
                          face_index=0, source_size=(320, 240), landmarks=landmarks,
                          matrix=np.array([[0.5, 0.0, 1.0], [0.0, 0.5, 2.0]]), size=32,
                          centering="face", coverage=1.0, tool_version="test")
    return encode_face_png(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), meta)


FACE_PNG = _face_png()


def _reads_or_refuses(read, *args):
    try:
        return read(*args)
    except FaceforgeError as exc:
        assert exc.one_line() and "\n" not in exc.one_line()
        return None


# -- face PNG metadata ---------------------------------------------------------------------------


@FUZZ
@given(flips, cuts)
def test_face_png_metadata_of_damaged_bytes(changes, cut):
    _reads_or_refuses(parse_face_meta, mutate(FACE_PNG, changes, cut))


@FUZZ
@given(json_values)
def test_face_png_metadata_of_any_json(value):
    text = json.dumps({"faceforge": value}) if not isinstance(value, dict) else json.dumps(
        {"faceforge": {**parse_face_meta(FACE_PNG), **value}}, default=str)
    png = FACE_PNG[:33] + itxt_chunk("faceforge", text) + FACE_PNG[33:]
    _reads_or_refuses(parse_face_meta, png)


@FUZZ
@given(st.binary(max_size=2000))
def test_face_png_metadata_of_random_bytes(data):
    _reads_or_refuses(parse_face_meta, data)


# -- alignments store rows and metadata ----------------------------------------------------------

sql_values = (st.none() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False)
              | st.text(max_size=30) | st.binary(max_size=600))
FACE_COLUMNS = ["face_index", "left", "score", "landmarks", "matrix", "detector", "identity",
                "thumbnail"]


@pytest.fixture(scope="module")
def store_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("store") / "template.db"
    rng = np.random.default_rng(1)
    with AlignmentsStore.open(path, "a") as store:
        store.update_meta({"fps": 30.0, "settings": {"size": 256}})
        store.add_frames([make_frame(rng, index) for index in range(4)])
    return path


def _read_whole_store(path: Path) -> None:
    with AlignmentsStore.open(path, "r") as store:
        store.meta()
        list(store.iter_frames())
        store.summary()


@FUZZ
@given(st.sampled_from(FACE_COLUMNS + ["meta", "frame_name", "frame_width", "mask"]),
       sql_values, st.integers(0, 3))
def test_store_rows_of_any_value(store_template, tmp_path, column, value, frame):
    path = tmp_path / f"fuzz-{abs(hash((column, repr(value), frame)))}.db"
    path.write_bytes(store_template.read_bytes())
    statement = {
        "meta": ("UPDATE meta SET value = ? WHERE key = 'settings'", (value,)),
        "frame_name": ("UPDATE frames SET name = ? WHERE idx = ?", (value, frame)),
        "frame_width": ("UPDATE frames SET width = ? WHERE idx = ?", (value, frame)),
        "mask": ("UPDATE masks SET png = ? WHERE frame_idx = ?", (value, frame)),
    }.get(column, (f"UPDATE faces SET {column} = ? WHERE frame_idx = ?", (value, frame)))
    conn = sqlite3.connect(path)
    try:
        conn.execute(*statement)
        conn.commit()
    except sqlite3.IntegrityError:
        return  # the schema itself refuses the value (NOT NULL, primary key)
    finally:
        conn.close()
    _reads_or_refuses(_read_whole_store, path)
    path.unlink()


@FUZZ
@given(flips)
def test_store_files_of_damaged_bytes(store_template, tmp_path, changes):
    path = tmp_path / "damaged.db"
    path.write_bytes(mutate(store_template.read_bytes(), [(100 + p, v) for p, v in changes],
                            None))
    _reads_or_refuses(_read_whole_store, path)
    path.unlink()


# -- model state ---------------------------------------------------------------------------------

STATE = ModelState(trainer="quick", model_config=MODELS.get("quick").config_class().to_dict(),
                   train_config={"centering": "face"}, iterations=5,
                   files={"weights": "weights-000000005.safetensors"}).to_json().encode()


@FUZZ
@given(flips, cuts)
def test_model_state_of_damaged_bytes(changes, cut):
    _reads_or_refuses(ModelState.from_json, mutate(STATE, changes, cut), Path("state.json"))


@FUZZ
@given(st.dictionaries(st.sampled_from(["trainer", "model_config", "train_config",
                                        "iterations", "sessions", "files", "loss",
                                        "created", "version"]), json_values, max_size=6))
def test_model_state_of_any_json(changes):
    document = {**json.loads(STATE), **changes}
    state = _reads_or_refuses(ModelState.from_json, json.dumps(document), Path("state.json"))
    if state is not None and isinstance(state.model_config, dict):
        # Reading the config back must refuse absurd values before any layer is built.
        _reads_or_refuses(MODELS.get("quick").config_class.from_dict, state.model_config)


@FUZZ
@given(st.dictionaries(st.sampled_from(list(json.loads(STATE)["model_config"])),
                       json_values | st.integers(-10**9, 10**9)
                       | st.lists(st.integers(-10**9, 10**9), max_size=20), max_size=4))
def test_model_config_of_any_values_is_refused_before_building(changes):
    import torch

    config = {**json.loads(STATE)["model_config"], **changes}
    built = _reads_or_refuses(MODELS.get("quick").config_class.from_dict, config)
    if built is not None:
        from faceforge.plugins.model import build_model

        with torch.device("meta"):  # no memory: only that it can be built at all
            _reads_or_refuses(build_model, "quick", built)


# -- the JSON import -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def export_bytes(tmp_path_factory) -> bytes:
    rng = np.random.default_rng(2)
    path = tmp_path_factory.mktemp("export") / "export.json"
    write_json_export(path, {"fps": 30.0}, [make_frame(rng, index) for index in range(3)])
    return path.read_bytes()


@FUZZ
@given(flips, cuts)
def test_json_import_of_damaged_bytes(export_bytes, tmp_path, changes, cut):
    path = tmp_path / "import.json"
    path.write_bytes(mutate(export_bytes, changes, cut))
    _reads_or_refuses(read_json_export, path)


@FUZZ
@given(st.sampled_from(["meta", "frames", "frame", "face", "landmarks", "masks"]), json_values)
def test_json_import_of_any_values(export_bytes, tmp_path, where, value):
    document = json.loads(export_bytes)
    frame = document["frames"][0]
    face = frame["faces"][0] if frame["faces"] else {}
    if where in ("meta", "frames"):
        document[where] = value
    elif where == "frame":
        document["frames"][0] = value
    elif where == "face":
        frame["faces"] = [value]
    else:
        face[where] = value
    path = tmp_path / "import.json"
    path.write_text(json.dumps(document))
    _reads_or_refuses(read_json_export, path)


# -- Faceswap .fsa -------------------------------------------------------------------------------

FSA = fsa_bytes(faceswap_document(
    [make_frame(np.random.default_rng(3), index) for index in range(3)], "clip",
    np.random.default_rng(4)))


def _read_fsa(data: bytes) -> None:
    frames_from_fsa(parse_fsa(data, "fuzz.fsa"), "fuzz.fsa")


@FUZZ
@given(flips, cuts)
def test_fsa_of_damaged_packed_bytes(changes, cut):
    _reads_or_refuses(_read_fsa, mutate(FSA, changes, cut))


@FUZZ
@given(flips, cuts)
def test_fsa_of_damaged_pickles(changes, cut):
    payload = zlib.decompress(FSA)
    _reads_or_refuses(_read_fsa, zlib.compress(mutate(payload, changes, cut)))


@FUZZ
@given(json_values)
def test_fsa_of_any_plain_document(value):
    for document in (value, {"__meta__": {"version": 2.4}, "__data__": value},
                     {"__meta__": {"version": 2.4}, "__data__": {"clip_000001.png": value}}):
        _reads_or_refuses(_read_fsa, zlib.compress(pickle.dumps(document)))
