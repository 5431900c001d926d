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
    """argparse arguments from option definitions (faceforge.options); an option whose flags
    have no leading dash becomes a positional argument."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for opt in options:
        group = groups.get(opt.group)
        if group is None:
            group = groups[opt.group] = parser.add_argument_group(f"{opt.group} options")
        if opt.positional:
            group.add_argument(opt.dest, **_positional_kwargs(opt))
            continue
        kwargs: dict[str, Any] = {"dest": opt.dest, "help": _plain(opt.help_text())}
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


def _plain(text: str) -> str:
    """Help text as argparse shows it unchanged (it would read "50%" as a format)."""
    return text.replace("%", "%%")


def _positional_kwargs(opt: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"help": _plain(opt.help_text()),
                              "metavar": opt.metavar or opt.dest}
    if opt.type is not None:
        kwargs["type"] = opt.type
    choices = opt.choice_names()
    if choices is not None:
        kwargs["choices"] = choices
    if opt.nargs:
        kwargs["nargs"] = opt.nargs
    elif not opt.required:
        kwargs["nargs"] = "?"
        kwargs["default"] = opt.default
    return kwargs


def _options_of(command: str) -> Any:
    from faceforge import options

    return options.COMMANDS.get(command) or options.SHELL_COMMANDS[command]


def _add_command(commands: Any, name: str, handler: Callable[[argparse.Namespace], int],
                 options_name: str | None = None, **kwargs: Any) -> None:
    options_name = options_name or name

    def populate(parser: argparse.ArgumentParser) -> None:
        _add_options(parser, _options_of(options_name))

    parser = commands.add_parser(name, formatter_class=_HelpFormatter, populate=populate,
                                 **kwargs)
    parser.set_defaults(handler=handler, command_options=options_name)


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
    _add_command(
        commands, "report", _run_tool,
        help="measure a converted video against its source: identity, expression, pose, "
        "stability, sharpness, seam",
        description="Score a converted video frame by frame against the video it was made "
        "from, and write report.html (numbers, plots over time, the worst frames side by "
        "side) and report.json with the same numbers.",
        epilog="e.g. faceforge report out/a_converted.mp4 -s a.mp4 -m model -o report")
    _add_tools(commands)
    _add_models(commands)
    _add_command(
        commands, "gui", _run_gui, help="the web GUI: every job in a browser, also over SSH",
        description="Serve the GUI for a workspace folder. It binds 127.0.0.1 and prints a URL "
        "with an access token and the SSH tunnel line that reaches it from another computer.")
    return parser


def _add_models(commands: Any) -> None:
    models = commands.add_parser(
        "models", help="download the weights some plugins need (s3fd, fan)",
        formatter_class=_HelpFormatter,
        description="S3FD and FAN weights ship in no package: they are downloaded on first use "
        "into the user cache, or ahead of time with `models fetch`. Files copied by hand are "
        "found in --weights-dir or $FACEFORGE_WEIGHTS_DIR.")
    jobs = models.add_subparsers(dest="job", metavar="JOB", parser_class=_CommandParser)
    jobs.required = True
    for name, help_text in (("fetch", "download and check the weights files"),
                            ("list", "say which weights are on this machine, and where")):
        _add_command(jobs, name, _run_models, help=help_text, description=help_text,
                     options_name=f"models {name}")


def _run_models(args: argparse.Namespace) -> int:
    from faceforge.plugins import weights

    catalogue = weights.catalogue()
    if args.job == "list":
        for name, entry in catalogue.items():
            found = weights.find_weights(name, args.weights_dir)
            where = f"{found[0]} ({found[1].layout} layout)" if found else "not on this machine"
            print(f"{name}: {entry.title}: {where}")
        return 0
    names = args.names or list(catalogue)
    for name in names:
        weights.model_weights(name)  # an unknown name fails before any download
    for name in names:
        found = weights.find_weights(name, args.weights_dir)
        if found is not None and args.weights_dir is None:
            print(f"{name}: {found[0]} is already here and checked")
            continue
        bar = None

        def progress(done: int, total: int | None, name: str = name) -> None:
            nonlocal bar
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(total=total, unit="B", unit_scale=True, desc=name, file=sys.stderr)
            bar.update(done - bar.n)

        try:
            path = weights.fetch_weights(name, args.weights_dir, progress)
        finally:
            if bar is not None:
                bar.close()
        print(f"{name}: {path} (SHA-256 checked)")
    return 0


def _add_tools(commands: Any) -> None:
    """`tools ...`: nested subcommands made from the tool option sets' names ("tools alignments
    remove-faces"), each running its job kind's library call. Built when first needed."""
    commands.add_parser(
        "tools", help="curation and plumbing between the jobs: alignments, sort, mask, media, "
        "model, faces report", formatter_class=_HelpFormatter, populate=_populate_tools,
        description="Tools for the work between extract, train and convert. Each has --help.")


def _populate_tools(parser: argparse.ArgumentParser) -> None:
    from faceforge.options import TOOL_HELP, TOOL_OPTIONS

    tree: dict[str, Any] = {}
    for options in TOOL_OPTIONS:
        node = tree
        words = options.command.split()[1:]
        for word in words[:-1]:
            node = node.setdefault(word, {})
        node[words[-1]] = options.command
    _add_tool_level(parser, "tools", tree, TOOL_HELP)
    width = max(len(options.command) for options in TOOL_OPTIONS) - len("tools ") + 2
    parser.epilog = "every tool (each has --help):\n" + "\n".join(
        f"  {options.command[len('tools '):]:<{width}}{TOOL_HELP.get(options.command, '')}"
        for options in TOOL_OPTIONS)


def _add_tool_level(parser: argparse.ArgumentParser, prefix: str, tree: dict[str, Any],
                    help_texts: dict[str, str]) -> None:
    depth = prefix.count(" ")
    sub = parser.add_subparsers(dest=f"tool_{depth}", metavar="TOOL" if depth == 0 else "JOB",
                                parser_class=_CommandParser)
    sub.required = True
    for word, node in tree.items():
        name = f"{prefix} {word}"
        help_text = help_texts.get(name, "")
        if isinstance(node, dict):
            def populate(child: argparse.ArgumentParser, name: str = name,
                         node: dict[str, Any] = node) -> None:
                _add_tool_level(child, name, node, help_texts)
        else:
            def populate(child: argparse.ArgumentParser, name: str = name) -> None:
                _add_options(child, _options_of(name))
        child = sub.add_parser(word, help=help_text, description=help_text,
                               formatter_class=_HelpFormatter, populate=populate)
        if not isinstance(node, dict):
            child.set_defaults(handler=_run_tool, command_options=name)


def _run_tool(args: argparse.Namespace) -> int:
    from faceforge.jobs.kinds import kind_of

    kind = kind_of(args.command_options)
    config = _config(kind.config_class(), args)
    with _EventRenderer() as renderer:
        result = kind.function()(config, renderer)
    for line in result.lines():
        print(line)
    return 0


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
