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


def test_every_formats_module_loads_no_ml_or_video_library():
    # One process importing every module: if all of them together load none, neither does any
    # one alone. Walking the package covers modules added later too.
    loaded = _modules_after(
        "import importlib, pkgutil, faceforge.formats as formats; "
        "[importlib.import_module(m.name) "
        "for m in pkgutil.walk_packages(formats.__path__, 'faceforge.formats.')]"
    )
    assert {"faceforge.formats.alignments.store", "faceforge.formats.model_state"} <= loaded
    assert not {"torch", "av", "dlib", "gradio", "ai_edge_litert"} & loaded


def _layer_modules(loaded: set[str], *layers: str) -> set[str]:
    """The loaded modules of the given faceforge layers (`faceforge.<layer>` and below)."""
    return {name for name in loaded
            if name.startswith("faceforge.") and name.split(".")[1] in layers}


def test_io_files_imports_nothing_from_formats_or_plugins():
    # Run from its file, so that only files.py's own imports count, not those of io/__init__.
    loaded = _modules_after(
        "import importlib.util, pathlib, faceforge; "
        "path = pathlib.Path(faceforge.__file__).parent / 'io' / 'files.py'; "
        "spec = importlib.util.spec_from_file_location('io_files_alone', path); "
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))"
    )
    assert "faceforge.errors" in loaded  # it did run
    assert not _layer_modules(loaded, "formats", "plugins")


def test_io_package_imports_nothing_from_formats_or_plugins():
    loaded = _modules_after("import faceforge.io")
    assert not _layer_modules(loaded, "formats", "plugins")


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


def test_options_help_and_the_gui_forms_do_not_load_torch():
    # The trainers are listed and described from where they are declared (plugins/registry.py):
    # --help, the option definitions and the GUI's forms start without torch's seconds.
    loaded = _modules_after(
        "from faceforge.options import COMMANDS; "
        "[o.help_text() and o.choice_names() for s in COMMANDS.values() for o in s]")
    assert "torch" not in loaded
    proc = subprocess.run([sys.executable, "-c", "import sys; from faceforge.cli import main; "
                           "main(['train', '--help'])"], capture_output=True, text=True)
    assert "quick: A CPU-friendly" in " ".join(proc.stdout.split())
