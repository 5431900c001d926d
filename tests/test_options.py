"""Every option is defined once and matches its config field, its registry and its help."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from faceforge.options import COMMANDS, Choices, Option, OptionSet, option_defaults

# Options that steer the shell (logging), not the job.
SHELL_ONLY = {"loglevel", "logfile"}
# Config fields that are not command-line options.
NOT_OPTIONS = {"device"}


def _config_class(command: str) -> type:
    from faceforge.jobs.kinds import KINDS

    return KINDS[command].config_class()


def _field_defaults(config_class: type) -> dict[str, object]:
    out = {}
    for field in dataclasses.fields(config_class):
        if field.default is not dataclasses.MISSING:
            out[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            out[field.name] = field.default_factory()
    return out


def test_every_command_is_a_job_kind():
    from faceforge.jobs.kinds import KINDS

    assert set(COMMANDS) == set(KINDS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_option_is_a_config_field_with_the_options_default(command):
    options = COMMANDS[command]
    config_class = _config_class(command)
    fields = {field.name for field in dataclasses.fields(config_class)}
    job_options = {option.dest for option in options} - SHELL_ONLY
    assert job_options == fields - NOT_OPTIONS, "options and config fields differ"
    defaults = _field_defaults(config_class)
    for option in options:
        if option.dest in SHELL_ONLY:
            continue
        if option.required:
            assert option.dest not in defaults, option.dest
        else:
            assert defaults[option.dest] == option.config_default(), option.dest


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_choices_come_from_their_source_and_hold_the_default(command):
    for option in COMMANDS[command]:
        choices = option.choice_names()
        if choices is None:
            continue
        assert choices, f"{option.dest} offers nothing"
        defaults = option.default if isinstance(option.default, tuple) else (option.default,)
        for default in defaults:
            assert default is None or default in choices, (option.dest, default)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_flags_are_unique_and_every_default_parses_from_its_own_text(command):
    options = COMMANDS[command]
    flags = [flag for option in options for flag in option.flags]
    assert len(flags) == len(set(flags))
    for option in options:
        # A flag without a dash is a positional argument's name: then it is its only one.
        assert all(flag.startswith("-") for flag in option.flags) or (
            option.positional and option.flags == (option.dest,)), option.dest
    for option in options:
        if option.type is None or option.default is None or option.action == "append":
            continue
        assert option.type(str(option.default)) == option.default, option.dest


def test_plugin_choices_are_the_registries_names():
    from faceforge.core.color import COLOR_MODES
    from faceforge.nn.losses import LOSSES
    from faceforge.plugins.align import LANDMARKERS
    from faceforge.plugins.detect import DETECTORS
    from faceforge.plugins.model import MODELS
    from faceforge.plugins.writer import WRITERS

    assert COMMANDS["extract"]["detector"].choice_names() == tuple(DETECTORS.names())
    assert COMMANDS["extract"]["aligner"].choice_names() == tuple(LANDMARKERS.names())
    assert COMMANDS["train"]["trainer"].choice_names() == tuple(MODELS.names())
    assert set(COMMANDS["train"]["loss"].choice_names()) == set(LOSSES)
    assert COMMANDS["convert"]["writer"].choice_names() == tuple(WRITERS.names())
    assert COMMANDS["convert"]["color"].choice_names() == tuple(COLOR_MODES)


def test_a_new_detector_is_offered_without_editing_the_options(monkeypatch):
    from faceforge.plugins.detect import DETECTORS, Detector

    class Dummy(Detector):
        """A detector registered by this test only."""

    monkeypatch.setitem(DETECTORS._entries, "dummy-detector", Dummy)
    option = COMMANDS["extract"]["detector"]
    assert "dummy-detector" in option.choice_names()
    assert "dummy-detector: A detector registered by this test only" in option.help_text()


def test_the_same_option_in_two_commands_is_one_definition():
    def spec(option: Option) -> tuple:  # what the option is, apart from its wording and place
        return option.flags, option.default, option.type, option.choices, option.action

    for dest in ("filter", "nfilter", "ref_threshold", "loglevel"):
        assert spec(COMMANDS["extract"][dest]) == spec(COMMANDS["convert"][dest])
    for dest in ("precision", "cpu_kernels"):
        assert COMMANDS["train"][dest] == COMMANDS["convert"][dest]


def test_library_option_objects_agree_with_the_command_defaults():
    """Lower-level configs keep their own defaults for direct library use; they must not drift
    from the options."""
    from faceforge.core.blend import MaskBlendConfig
    from faceforge.nn.losses import LossConfig
    from faceforge.pipeline.convert import ConvertConfig
    from faceforge.plugins.writer.ffmpeg import FFmpegOptions
    from faceforge.training import TrainConfig

    convert = ConvertConfig(input=Path("a.mp4"), output=Path("out"), model_dir=Path("m"))
    assert convert.blend_config() == MaskBlendConfig()
    train = TrainConfig(input_a=Path("a"), input_b=Path("b"), model_dir=Path("m"))
    assert train.loss_config() == LossConfig()
    ffmpeg = FFmpegOptions()
    assert (ffmpeg.codec, ffmpeg.preset) == (convert.codec, convert.preset)


def test_face_finder_config_takes_the_extract_defaults():
    from faceforge.pipeline.faces import FaceFinderConfig

    options = COMMANDS["extract"]
    for name, default in _field_defaults(FaceFinderConfig).items():
        assert default == options.default(name), name


def test_a_config_cannot_repeat_an_options_default():
    options = OptionSet("demo", (Option("size", ("--size",), "side", 512, int),))
    with pytest.raises(TypeError, match="repeats the default"):
        @option_defaults(options)
        class Repeats:
            size: int = 256
    with pytest.raises(ValueError, match="defined twice"):
        OptionSet("demo", options.options * 2)


def test_importing_the_options_loads_no_plugin():
    import subprocess
    import sys

    code = ("import sys, faceforge.options as o; o.COMMANDS['train']['trainer'].help; "
            "print(' '.join(sys.modules))")
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert not {"numpy", "torch", "dlib", "cv2"} & loaded
    assert not [m for m in loaded if m.startswith("faceforge.plugins")]


def test_choices_read_lazily_name_their_source():
    assert Choices("faceforge.core.geometry:CENTERINGS").names() == ("face", "head", "legacy")
    assert Choices("faceforge.core.masks:MASK_TYPES", extra=("none",)).names()[-1] == "none"
