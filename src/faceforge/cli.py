"""The `faceforge` command: parse options, call the library, render errors as one line.

Imports stay light here so `faceforge --help` answers at once; each command imports its
pipeline only when it runs.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Sequence

from faceforge import __version__
from faceforge.errors import FaceforgeError, Interrupted
from faceforge.options import (
    CONVERT_OPTIONS,
    EXTRACT_OPTIONS,
    LOG_OPTIONS,
    TRAIN_OPTIONS,
    Option,
)

log = logging.getLogger("faceforge")

EPILOG = "Faceswap's flag spellings work too, e.g. -sz 512 -een 1 -si 0 -min 0 -nm none -rf 0."


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=34, width=100)


def _add_options(parser: argparse.ArgumentParser, options: Sequence[Option]) -> None:
    groups: dict[str, argparse._ArgumentGroup] = {}
    for opt in options:
        group = groups.get(opt.group)
        if group is None:
            group = groups[opt.group] = parser.add_argument_group(f"{opt.group} options")
        kwargs: dict = {"dest": opt.dest, "help": opt.help_with_default()}
        if opt.action == "store_true":
            kwargs["action"] = "store_true"
        else:
            if opt.action:
                kwargs["action"] = opt.action
            # Appending options start empty; the spec's default applies when none was given.
            kwargs["default"] = None if opt.action == "append" else opt.default
            if opt.type is not None:
                kwargs["type"] = opt.type
            if opt.choices is not None:
                kwargs["choices"] = opt.choices
            if opt.metavar:
                kwargs["metavar"] = opt.metavar
            if opt.nargs:
                kwargs["nargs"] = opt.nargs
            kwargs["required"] = opt.required
        group.add_argument(*opt.flags, **kwargs)


def _apply_append_defaults(args: argparse.Namespace, options: Sequence[Option]) -> None:
    for opt in options:
        if opt.action == "append" and getattr(args, opt.dest) is None:
            setattr(args, opt.dest, opt.default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceforge",
        description="Swap faces in video. Three jobs: extract faces from footage of person A "
        "and of person B, train a model on the two face sets, convert A's video to show B.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"faceforge {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    extract = commands.add_parser(
        "extract", help="find, align and save every face of a video or image folder",
        description="Detect every face, locate 68 landmarks, align, mask and save each face as "
        "a PNG carrying its metadata, and record everything in an alignments store. Resumes "
        "where it stopped when run again.",
        epilog=EPILOG, formatter_class=_HelpFormatter)
    _add_options(extract, EXTRACT_OPTIONS)
    extract.set_defaults(handler=_run_extract, options=EXTRACT_OPTIONS)

    train = commands.add_parser(
        "train", help="train a model on the faces of A and B",
        description="Train a shared encoder and one decoder per person on two faces folders. "
        "Saves every -s iterations; Ctrl-C saves and stops; rerunning resumes.",
        epilog="Faceswap's spellings work too, e.g. -bs 16 -it 1000000 -ss 25000 -ps 100.",
        formatter_class=_HelpFormatter)
    _add_options(train, TRAIN_OPTIONS)
    train.set_defaults(handler=_run_train, options=TRAIN_OPTIONS)

    convert = commands.add_parser(
        "convert", help="swap the faces of a video and write the finished video",
        description="Replace A's face with B's in every frame of A's video using a trained "
        "model, and write a finished video with the source's audio (or image frames).",
        epilog="Faceswap's spellings work too, e.g. -al ALIGNMENTS -osc 100 -j 0. No separate "
        "ffmpeg step is needed: the ffmpeg writer produces the finished file.",
        formatter_class=_HelpFormatter)
    _add_options(convert, CONVERT_OPTIONS)
    convert.set_defaults(handler=_run_convert, options=CONVERT_OPTIONS)

    tools = commands.add_parser("tools", help="utilities for alignments stores and faces",
                                formatter_class=_HelpFormatter)
    tool_commands = tools.add_subparsers(dest="tool", metavar="TOOL")
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
    for sub in (summary, export, imp):
        _add_options(sub, LOG_OPTIONS)
    align.set_defaults(handler=_run_alignments_tool, options=LOG_OPTIONS)
    return parser


def _setup_logging(level: str, logfile: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logfile:
        handlers.append(logging.FileHandler(logfile))
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(levelname)s %(message)s", handlers=handlers, force=True)


def _run_extract(args: argparse.Namespace) -> int:
    from faceforge.pipeline.extract import ExtractConfig, extract, extract_batch

    fields = {o.dest for o in EXTRACT_OPTIONS} - {"batch_mode", "loglevel", "logfile"}
    config = ExtractConfig(**{k: getattr(args, k) for k in fields})
    with _ProgressBar() as bar:
        if args.batch_mode:
            from faceforge.io import list_batch_inputs

            results = extract_batch(config, list_batch_inputs(config.input), bar.update)
        else:
            results = [extract(config, bar.update)]
    for result in results:
        _report_extract(result)
    return 0


def _run_train(args: argparse.Namespace) -> int:
    from faceforge.pipeline.train import TrainConfig, train

    fields = {o.dest for o in TRAIN_OPTIONS} - {"loglevel", "logfile"}
    config = TrainConfig(**{k: getattr(args, k) for k in fields})
    with _TrainBar(config.iterations) as bar:
        result = train(config, bar.update)
    first = result.first_loss or (float("nan"), float("nan"))
    last = result.last_loss or (float("nan"), float("nan"))
    print(f"trained {config.model_dir} from iteration {result.start_iteration} to "
          f"{result.end_iteration} at {result.egs_per_s:.1f} EGs/s; loss A {first[0]:.4f} -> "
          f"{last[0]:.4f}, B {first[1]:.4f} -> {last[1]:.4f}")
    return 0


class _TrainBar:
    """A tqdm bar for training: iterations, losses, EGs/s."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar = None

    def update(self, progress) -> None:  # noqa: ANN001 - pipeline.train.TrainProgress
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=self.total, initial=progress.iteration - 1, unit="it",
                            dynamic_ncols=True, file=sys.stderr, smoothing=0.05)
        self.bar.n = progress.iteration
        self.bar.set_postfix(loss_a=f"{progress.loss_a:.4f}", loss_b=f"{progress.loss_b:.4f}",
                             egs_s=f"{progress.egs_per_s:.1f}", refresh=False)
        self.bar.refresh()

    def __enter__(self) -> _TrainBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_convert(args: argparse.Namespace) -> int:
    from faceforge.pipeline.convert import ConvertConfig, convert

    fields = {o.dest for o in CONVERT_OPTIONS} - {"loglevel", "logfile"}
    config = ConvertConfig(**{k: getattr(args, k) for k in fields})
    with _ProgressBar() as bar:
        result = convert(config, bar.update)
    print(f"wrote {result.output}: {result.frames_written} frames, {result.faces_swapped} faces "
          f"swapped, {result.frames_per_s:.1f} frames/s")
    return 0


def _report_extract(result) -> None:  # noqa: ANN001 - ExtractResult, imported lazily
    line = (f"{result.source}: {result.faces_written} faces from {result.frames_processed} "
            f"frames in {result.elapsed_s:.1f} s ({result.frames_per_s:.1f} frames/s); "
            f"faces in {result.output}, alignments in {result.alignments}")
    if result.frames_skipped:
        line += f" ({result.frames_skipped} frames were done before)"
    print(line)
    if result.frames_with_faces == 0:
        print(f"no faces found in {result.source}: if there should be, try --detector "
              "blazeface-full or hog, or lower --min-size")


class _ProgressBar:
    """A tqdm bar fed by the pipeline's progress callback."""

    def __init__(self) -> None:
        self.bar = None

    def update(self, progress) -> None:  # noqa: ANN001 - pipeline.extract.Progress
        from tqdm import tqdm

        if self.bar is None or self.bar.total != progress.frames_total:
            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(total=progress.frames_total, initial=progress.frames_done,
                            unit="frame", dynamic_ncols=True, file=sys.stderr, smoothing=0.1)
        self.bar.update(progress.frames_done - self.bar.n)
        self.bar.set_postfix(faces=progress.faces_found, refresh=False)
        self.bar.refresh()

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


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
    _apply_append_defaults(args, args.options)
    _setup_logging(getattr(args, "loglevel", "INFO"), getattr(args, "logfile", None))
    try:
        return args.handler(args)
    except FaceforgeError as exc:
        print(f"faceforge: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("faceforge: interrupted", file=sys.stderr)
        return Interrupted.exit_code
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            print(f"faceforge: error: disk full while writing {exc.filename or ''}: free some "
                  "space and run the same command again to resume", file=sys.stderr)
            return 4
        log.debug("OS error", exc_info=True)
        where = f" {exc.filename}" if exc.filename else ""
        print(f"faceforge: error:{where} {exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
