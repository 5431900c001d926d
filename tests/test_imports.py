"""Import weight and the CLI's first impression."""

import subprocess
import sys
import time

import pytest


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_and_formats_do_not_load_torch_or_video_libraries():
    loaded = _modules_after("import faceforge.core.geometry, faceforge.core.masks, "
                            "faceforge.formats.alignments, faceforge.formats.face_png")
    assert not {"torch", "av", "dlib", "gradio"} & loaded


def test_writer_plugins_import_without_numpy_or_media_libraries():
    loaded = _modules_after("import faceforge.plugins.writer")
    assert not {"numpy", "av", "cv2", "PIL"} & loaded


def test_io_does_not_import_plugins_or_formats():
    loaded = _modules_after("import faceforge.io, faceforge.io.video_out, faceforge.io.audio")
    assert not [m for m in loaded if m.startswith(("faceforge.plugins", "faceforge.formats"))]


def test_cli_module_is_light():
    loaded = _modules_after("import faceforge.cli")
    assert not {"torch", "av", "dlib", "cv2", "numpy", "gradio"} & loaded


def test_help_answers_quickly_and_lists_the_commands():
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "faceforge.cli", "--help"],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0 and "extract" in proc.stdout
    assert elapsed < 1.0, f"--help took {elapsed:.2f} s"


@pytest.mark.parametrize("command", ["extract", "train", "convert"])
def test_command_help_shows_every_option_with_its_default(command):
    from faceforge import options

    specs = options.COMMANDS[command]
    proc = subprocess.run([sys.executable, "-m", "faceforge.cli", command, "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for option in specs:
        assert option.flags[0] in proc.stdout
        if option.default_text() is not None:
            assert f"(default: {option.default_text()})" in text, option.dest
