"""The tools as commands and as jobs: every tool is listed, shows its defaults, and builds its
config from its options for the GUI just as the command line does."""

from __future__ import annotations

import dataclasses

import pytest

from faceforge.cli import build_parser, main
from faceforge.jobs.kinds import KINDS, build_config, command_line
from faceforge.options import TOOL_HELP, TOOL_OPTIONS

TOOLS = [options.command for options in TOOL_OPTIONS]


def _help(capsys, *words: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        main([*words, "--help"])
    assert stopped.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_tools_help_lists_every_tool_group(capsys):
    text = _help(capsys, "tools")
    for group in ("alignments", "sort", "mask", "media", "model", "faces"):
        assert group in text
    for command in TOOLS:  # every tool, with its one line
        assert f"{command[len('tools '):]} {TOOL_HELP[command]}" in text
    jobs = _help(capsys, "tools", "alignments")
    for name in ("summary", "remove-faces", "smooth", "merge", "rename", "extract", "draw",
                 "missing-frames", "multi-faces", "no-faces", "export", "import"):
        assert name in jobs


@pytest.mark.parametrize("command", TOOLS)
def test_each_tool_has_help_with_every_option_and_its_default(capsys, command):
    text = _help(capsys, *command.split())
    assert TOOL_HELP[command].split(" (")[0] in text
    for option in TOOL_OPTIONS[TOOLS.index(command)]:
        assert (option.metavar if option.positional else option.flags[0]) in text
        if option.default_text() is not None:
            assert f"(default: {option.default_text()})" in text, option.dest


def _required_values(command: str) -> dict[str, object]:
    samples = {"frames": "10-20", "scale": "50%"}
    return {o.dest: samples.get(o.dest, f"/tmp/{o.dest}") for o in KINDS[command].options
            if o.required}


@pytest.mark.parametrize("command", TOOLS)
def test_each_tool_job_builds_its_config_from_its_options(command):
    kind = KINDS[command]
    assert kind.function().__doc__, "its docstring is the GUI's description"
    config = build_config(command, _required_values(command))
    assert isinstance(config, kind.config_class())
    fields = {f.name for f in dataclasses.fields(config)}
    assert fields == {o.dest for o in kind.options} - {"loglevel", "logfile"}
    # The command line a GUI shows parses back to the same config.
    line = command_line(command, _required_values(command))
    assert line.startswith(f"faceforge {command} ")
    args = build_parser().parse_args(line.split()[1:])
    from faceforge.cli import _config

    assert _config(kind.config_class(), args) == config


def test_light_tools_run_at_once_and_heavy_ones_queue_for_the_device():
    heavy = {name for name, kind in KINDS.items() if name.startswith("tools") and
             kind.uses_device}
    assert heavy == {"tools sort", "tools model export", "tools faces report"}


@pytest.mark.slow
def test_a_tool_runs_as_a_gui_job_and_leaves_its_result(faces, tmp_path):
    import json

    from faceforge.jobs import worker
    from faceforge.jobs.folder import JobFolder

    values = {"alignments": str(faces["a"].parent / "a.db"), "list": True}
    command = "tools alignments summary"
    job = JobFolder.create(tmp_path / "jobs", command, values, command_line(command, values))
    assert "tools-alignments-summary" in job.id
    assert worker.run(job) == 0
    assert job.status().state == "done"
    result = json.loads((job.path / "result.json").read_text())["result"]
    assert result["counts"]["frames"] == 54 and result["frames_without_faces"] == []


def test_faceswaps_sort_by_face_means_identity():
    args = build_parser().parse_args(["tools", "sort", "-i", "faces", "-s", "face"])
    assert args.sort_by == "identity"
