"""The `faceforge` command: parse options, call the library, render its events and errors.

Imports stay light so `faceforge --help` answers at once: a command's options (whose choices
come from the plugin registries) are added only when that command runs or shows its help, and
each command imports its pipeline only when it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from faceforge import __version__
from faceforge.errors import FaceforgeError, Interrupted

log = logging.getLogger("faceforge")


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=100)


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser whose options are added the first time they are needed."""

    def __init__(self, *args: Any, populate: Callable[[argparse.ArgumentParser], None] | None
                 = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._populate = populate

    def _ensure_populated(self) -> None:
        if self._populate is not None:
            populate, self._populate = self._populate, None
            populate(self)

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        self._ensure_populated()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._ensure_populated()
        return super().format_help()

    def format_usage(self) -> str:
        self._ensure_populated()
        return super().format_usage()


def _add_options(parser: argparse.ArgumentParser, options: Sequence) -> None:
    """argparse arguments from option definitions (faceforge.options)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for opt in options:
        group = groups.get(opt.group)
        if group is None:
            group = groups[opt.group] = parser.add_argument_group(f"{opt.group} options")
        kwargs: dict[str, Any] = {"dest": opt.dest, "help": opt.help_text()}
        if opt.action == "store_true":
            kwargs["action"] = "store_true"
        else:
            if opt.action:
                kwargs["action"] = opt.action
            # Appending options start empty; the definition's default applies when none is given.
            kwargs["default"] = None if opt.action == "append" else opt.default
            if opt.type is not None:
                kwargs["type"] = opt.type
            choices = opt.choice_names()
            if choices is not None:
                kwargs["choices"] = choices
            if opt.metavar:
                kwargs["metavar"] = opt.metavar
            if opt.nargs:
                kwargs["nargs"] = opt.nargs
            kwargs["required"] = opt.required
        group.add_argument(*opt.flags, **kwargs)


def _options_of(command: str) -> Any:
    from faceforge import options

    return options.COMMANDS.get(command) or options.SHELL_COMMANDS[command]


def _add_command(commands: Any, name: str, handler: Callable[[argparse.Namespace], int],
                 **kwargs: Any) -> None:
    def populate(parser: argparse.ArgumentParser) -> None:
        _add_options(parser, _options_of(name))

    parser = commands.add_parser(name, formatter_class=_HelpFormatter, populate=populate,
                                 **kwargs)
    parser.set_defaults(handler=handler, command_options=name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceforge",
        description="Swap faces in video. Three jobs: extract faces from footage of person A "
        "and of person B, train a model on the two face sets, convert A's video to show B.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"faceforge {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     parser_class=_CommandParser)
    commands.required = True
    _add_command(
        commands, "extract", _run_extract,
        help="find, align and save every face of a video or image folder",
        description="Detect every face, locate 68 landmarks, align, mask and save each face as "
        "a PNG carrying its metadata, and record everything in an alignments store. Resumes "
        "where it stopped when run again.",
        epilog="Faceswap's spellings work too, e.g. -sz 512 -een 1 -si 0 -min 0 -nm none -rf 0.")
    _add_command(
        commands, "train", _run_train, help="train a model on the faces of A and B",
        description="Train a shared encoder and one decoder per person on two faces folders. "
        "Saves every -s iterations; Ctrl-C saves and stops; rerunning resumes.",
        epilog="Faceswap's spellings work too, e.g. -bs 16 -it 1000000 -ss 25000 -ps 100.")
    _add_command(
        commands, "convert", _run_convert,
        help="swap the faces of a video and write the finished video",
        description="Replace A's face with B's in every frame of A's video using a trained "
        "model, and write a finished video with the source's audio (or image frames).",
        epilog="Faceswap's spellings work too, e.g. -al ALIGNMENTS -osc 100 -j 0. No separate "
        "ffmpeg step is needed: the ffmpeg writer produces the finished file.")
    _add_tools(commands)
    _add_command(
        commands, "gui", _run_gui, help="the web GUI: every job in a browser, also over SSH",
        description="Serve the GUI for a workspace folder. It binds 127.0.0.1 and prints a URL "
        "with an access token and the SSH tunnel line that reaches it from another computer.")
    return parser


def _add_tools(commands: Any) -> None:
    tools = commands.add_parser("tools", help="utilities for alignments stores and faces",
                                formatter_class=_HelpFormatter)
    tool_commands = tools.add_subparsers(dest="tool", metavar="TOOL",
                                         parser_class=_CommandParser)
    tool_commands.required = True
    align = tool_commands.add_parser(
        "alignments", help="inspect or convert an alignments store",
        formatter_class=_HelpFormatter)
    align_jobs = align.add_subparsers(dest="job", metavar="JOB")
    align_jobs.required = True
    summary = align_jobs.add_parser("summary", help="print frames, faces and problem frames")
    summary.add_argument("alignments", metavar="FILE", help="the alignments store")
    summary.add_argument("--list", action="store_true",
                         help="also list the frames with no face and with several faces")
    export = align_jobs.add_parser("export", help="write the store as JSON")
    export.add_argument("alignments", metavar="FILE", help="the alignments store")
    export.add_argument("json", metavar="JSON", help="the JSON file to write")
    imp = align_jobs.add_parser("import", help="make a store from a faceforge JSON export")
    imp.add_argument("json", metavar="JSON", help="the JSON file to read")
    imp.add_argument("alignments", metavar="FILE", help="the alignments store to create")
    from faceforge.options.common import LOG_OPTIONS

    for sub in (summary, export, imp):
        _add_options(sub, LOG_OPTIONS)
    align.set_defaults(handler=_run_alignments_tool)


def _config(config_class: type, args: argparse.Namespace) -> Any:
    """The job's config from the parsed options: every option that is one of its fields."""
    options = _options_of(args.command_options)
    fields = {item.name for item in dataclasses.fields(config_class)}
    values = {}
    for option in options:
        if option.dest in fields:
            value = getattr(args, option.dest)
            if value is None and option.action == "append":
                value = option.config_default()
            values[option.dest] = value
    return config_class(**values)


def _setup_logging(level: str, logfile: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logfile:
        handlers.append(logging.FileHandler(logfile))
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(levelname)s %(message)s", handlers=handlers, force=True)


def _run_extract(args: argparse.Namespace) -> int:
    from faceforge.pipeline.extract import ExtractConfig, extract_all

    with _EventRenderer() as renderer:
        results = extract_all(_config(ExtractConfig, args), renderer)
    for result in results:
        print(f"{result.source}: {result.faces_written} faces from {result.frames_processed} "
              f"frames in {result.elapsed_s:.1f} s ({result.frames_per_s:.1f} frames/s); "
              f"faces in {result.output}, alignments in {result.alignments}"
              + (f" ({result.frames_skipped} frames were done before)"
                 if result.frames_skipped else ""))
        if result.frames_with_faces == 0:
            print(f"no faces found in {result.source}: if there should be, try --detector "
                  "blazeface-full or hog, or lower --min-size")
    return 0


def _run_train(args: argparse.Namespace) -> int:
    from faceforge.allocator import reuse_freed_memory
    from faceforge.training import TrainConfig, train

    config = _config(TrainConfig, args)
    reuse_freed_memory()
    with _EventRenderer() as renderer:
        result = train(config, renderer)
    first = result.first_loss or (float("nan"), float("nan"))
    last = result.last_loss or (float("nan"), float("nan"))
    print(f"trained {config.model_dir} from iteration {result.start_iteration} to "
          f"{result.end_iteration} at {result.egs_per_s:.1f} EGs/s; loss A {first[0]:.4f} -> "
          f"{last[0]:.4f}, B {first[1]:.4f} -> {last[1]:.4f}")
    return 0


def _run_convert(args: argparse.Namespace) -> int:
    from faceforge.allocator import reuse_freed_memory
    from faceforge.pipeline.convert import ConvertConfig, convert

    config = _config(ConvertConfig, args)
    reuse_freed_memory()
    with _EventRenderer() as renderer:
        result = convert(config, renderer)
    print(f"wrote {result.output}: {result.frames_written} frames, {result.faces_swapped} faces "
          f"swapped, {result.frames_per_s:.1f} frames/s")
    return 0


class _EventRenderer:
    """Renders a job's events on the terminal: a tqdm bar for Progress, losses and EGs/s
    beside it, notes as log lines."""

    def __init__(self) -> None:
        self.bar = None
        self.postfix: dict[str, str] = {}

    def __call__(self, event: Any) -> None:
        from faceforge import events

        if isinstance(event, events.Progress):
            self._progress(event)
        elif isinstance(event, events.Losses):
            self.postfix = {"loss_a": f"{event.loss_a:.4f}", "loss_b": f"{event.loss_b:.4f}",
                            "egs_s": f"{event.egs_per_s:.1f}"}
        elif isinstance(event, events.Note):
            log.info(event.text)
        elif isinstance(event, (events.Saved, events.PreviewWritten)):
            log.debug("%s", event.to_dict())

    def _progress(self, event: Any) -> None:
        from tqdm import tqdm

        if self.bar is None or self.bar.total != event.total:
            if self.bar is not None:
                self.bar.close()
            start = max(0, event.done - 1) if event.unit == "iteration" else event.done
            self.bar = tqdm(total=event.total, initial=start, unit=event.unit,
                            dynamic_ncols=True, file=sys.stderr,
                            smoothing=0.05 if event.unit == "iteration" else 0.1)
        self.bar.n = event.done
        postfix = {**{name: str(count) for name, count in event.counts.items()}, **self.postfix}
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()

    def __enter__(self) -> _EventRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_gui(args: argparse.Namespace) -> int:
    from pathlib import Path

    from faceforge.gui.server import GuiSettings, serve

    serve(GuiSettings(workspace=Path(args.workspace), port=args.port, listen=args.listen,
                      auth=args.auth, max_upload_mb=args.max_upload_mb))
    return 0


def _run_alignments_tool(args: argparse.Namespace) -> int:
    from faceforge.formats.alignments import AlignmentsStore

    if args.job == "summary":
        with AlignmentsStore.open(args.alignments, "r") as store:
            summary = store.summary()
            for key in ("frames", "faces", "frames_without_faces", "frames_with_multiple_faces"):
                print(f"{key.replace('_', ' ')}: {summary[key]}")
            meta = store.meta()
            for key in ("source_path", "frame_count", "status", "plugins", "tool_version"):
                if key in meta:
                    print(f"{key.replace('_', ' ')}: {meta[key]}")
            if args.list:
                frames = list(store.iter_frames())
                print("frames without faces:", " ".join(str(f.index) for f in frames
                                                        if not f.faces) or "none")
                print("frames with several faces:", " ".join(
                    str(f.index) for f in frames if len(f.faces) > 1) or "none")
    elif args.job == "export":
        with AlignmentsStore.open(args.alignments, "r") as store:
            store.export_json(args.json)
        print(f"wrote {args.json}")
    elif args.job == "import":
        AlignmentsStore.import_json(args.json, args.alignments).close()
        print(f"wrote {args.alignments}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(getattr(args, "loglevel", "INFO"), getattr(args, "logfile", None))
    try:
        return args.handler(args)
    except Interrupted as exc:
        # The user's own stop is not an error: say what was kept and how to go on.
        print(f"faceforge: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except FaceforgeError as exc:
        print(f"faceforge: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("faceforge: stopped", file=sys.stderr)
        return Interrupted.exit_code
    except OSError as exc:
        where = exc.filename or "the output"
        if exc.errno == errno.ENOSPC:
            print(f"faceforge: error: disk full while writing {where}: free some space and "
                  "run the same command again to resume", file=sys.stderr)
            return 4
        log.debug("OS error", exc_info=True)
        print(f"faceforge: error: {where}: {exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
