"""The options of `faceforge tools ...`: one OptionSet per tool command.

A command's name is its words after `faceforge` ("tools alignments remove-faces"); the CLI
nests its subcommands by those words, and the GUI's Tools tab builds one form per set. Options
whose only "flag" has no leading dash are positional on the command line (`FILE`).
"""

from __future__ import annotations

from faceforge.core.thresholds import SAME_PERSON_DISTANCE
from faceforge.options.common import LOG_OPTIONS
from faceforge.options.spec import (
    Choices,
    Option,
    OptionSet,
    frame_range,
    positive_int,
)

# -- pieces several tools share -----------------------------------------------------------


def _store(help: str = "the alignments store") -> Option:
    return Option("alignments", ("alignments",), help, required=True, metavar="FILE",
                  group="data")


def _source(help: str = "the video or image folder the store was made from (default: the "
            "one it records)") -> Option:
    return Option("source", ("-r", "--source", "-fr"), help, metavar="PATH", group="data")


def _faces(help: str, required: bool = False) -> Option:
    return Option("faces", ("-fc", "--faces"), help, required=required, metavar="FOLDER",
                  group="data")


def _output(help: str, required: bool = True, metavar: str = "FOLDER") -> Option:
    return Option("output", ("-o", "--output"), help, required=required, metavar=metavar,
                  group="data")


def _media_input(help: str) -> Option:
    return Option("input", ("-i", "--input"), help, required=True, metavar="PATH",
                  group="data")


def _model_dir() -> Option:
    return Option("model_dir", ("-m", "--model-dir"), "the model folder `faceforge train` "
                  "wrote", required=True, metavar="FOLDER", group="data")


IMAGE_FORMATS = ("png", "jpg")
VIDEO_CODECS = ("h264", "h265")
SORT_METHODS = ("identity", "reference", "blur", "yaw", "pitch", "hist", "size")
# Faceswap's names for sorting by likeness of faces, which is what `identity` does here.
_FACESWAP_SORTS = {"face": "identity", "face-cnn": "identity"}


def sort_method(text: str) -> str:
    """A --sort-by value, Faceswap's `face` and `face-cnn` read as `identity`."""
    name = text.strip().lower()
    return _FACESWAP_SORTS.get(name, name)
SORT_OUTCOMES = ("rename", "folders")
ROTATIONS = ("90", "180", "270")
EXPORT_FORMATS = ("onnx", "torchscript")

_FACE_OUTPUT = (
    Option("size", ("-z", "--size", "-sz"), "side of the written faces in pixels", 512, int,
           group="output"),
    Option("centering", ("--centering",), "what the written faces centre on", "head", str,
           Choices("faceforge.core.geometry:CENTERINGS"), group="output"),
)

_VIDEO_OUTPUT = (
    Option("codec", ("--codec",), "video codec", "h264", str.lower, VIDEO_CODECS,
           group="output"),
    Option("crf", ("--crf",), "quality, lower is better and bigger (default: the codec's own "
           "good value, as in convert)", None, int, group="output"),
)


# -- alignments ---------------------------------------------------------------------------

ALIGNMENTS_SUMMARY = OptionSet("tools alignments summary", (
    _store(),
    Option("list", ("--list",), "also list the frames with no face and with several faces",
           action="store_true"),
    *LOG_OPTIONS,
))

ALIGNMENTS_EXPORT = OptionSet("tools alignments export", (
    _store(),
    Option("json", ("json",), "the file to write: faceforge JSON, or a Faceswap alignments "
           "file when it ends in .fsa", required=True, metavar="OUT", group="data"),
    Option("format", ("--format",), "json, or fsa for Faceswap (default: from OUT's suffix)",
           None, choices=("json", "fsa"), group="data"),
    *LOG_OPTIONS,
))

ALIGNMENTS_IMPORT = OptionSet("tools alignments import", (
    Option("json", ("json",), "the file to read: a faceforge JSON export or a Faceswap .fsa "
           "file", required=True, metavar="IN", group="data"),
    _store("the alignments store to create"),
    _source(".fsa: the video or image folder it was made from (frame sizes and times)"),
    *LOG_OPTIONS,
))

ALIGNMENTS_IMPORT_FACES = OptionSet("tools alignments import-faces", (
    Option("faces", ("faces",), "the faces folder (faceforge's or Faceswap's face PNGs)",
           required=True, metavar="FOLDER", group="data"),
    _store("the alignments store to create"),
    _source("the video or image folder the faces come from (frame sizes)"),
    *LOG_OPTIONS,
))


def _frame_listing(command: str, what: str) -> OptionSet:
    return OptionSet(f"tools alignments {command}", (
        _store(),
        _source(),
        _output(f"copy the {what} into this folder (default: only list them)",
                required=False),
        _faces("with -o: copy these frames' face images from this faces folder instead of "
               "the frames"),
        *LOG_OPTIONS,
    ))


ALIGNMENTS_MISSING_FRAMES = _frame_listing("missing-frames", "frames no extraction reached")
ALIGNMENTS_MULTI_FACES = _frame_listing("multi-faces", "frames with several faces")
ALIGNMENTS_NO_FACES = _frame_listing("no-faces", "frames with no face")

ALIGNMENTS_REMOVE_FACES = OptionSet("tools alignments remove-faces", (
    _store(),
    _faces("the curated faces folder: faces of this store whose image is not in it are "
           "removed from the store (a backup of the store is kept)", required=True),
    *LOG_OPTIONS,
))

ALIGNMENTS_EXTRACT = OptionSet("tools alignments extract", (
    _store(),
    _output("folder for the face images (created if needed)"),
    _source(),
    *_FACE_OUTPUT,
    Option("extract_every_n", ("-N", "--extract-every-n", "-een"),
           "only write the faces of every Nth frame", 1, positive_int, group="output"),
    Option("skip_existing", ("-s", "--skip-existing"), "keep face images already in the "
           "output folder", action="store_true", group="output"),
    Option("png_compression", ("--png-compression",), "PNG compression level, 0-9", 1, int,
           group="output"),
    *LOG_OPTIONS,
))

ALIGNMENTS_DRAW = OptionSet("tools alignments draw", (
    _store(),
    _output("folder for the frames with boxes and landmarks drawn"),
    _source(),
    Option("frames", ("--frames",), "only these frames (0-based, inclusive), e.g. 10-50",
           None, frame_range, metavar="START-END", group="output"),
    Option("every_n", ("-N", "--every-n"), "only every Nth frame", 1, positive_int,
           group="output"),
    Option("image_format", ("--image-format",), "image file format", "jpg", str.lower,
           IMAGE_FORMATS, group="output"),
    *LOG_OPTIONS,
))

ALIGNMENTS_SMOOTH = OptionSet("tools alignments smooth", (
    _store(),
    _output("write the smoothed store here instead of replacing FILE (which is backed up "
            "first)", required=False, metavar="FILE"),
    Option("sigma", ("--sigma",), "strength: the Gaussian's standard deviation in frames "
           "(see docs/benchmarks/tools.md)", 2.0, float, group="smoothing"),
    Option("max_jump", ("--max-jump",), "a face that moves more than this share of its size "
           "from one frame to the next starts a new shot (cuts are not smoothed across)",
           0.25, float, group="smoothing"),
    *LOG_OPTIONS,
))

ALIGNMENTS_MERGE = OptionSet("tools alignments merge", (
    _store("the first store"),
    Option("other", ("other",), "the second store, of the same source", required=True,
           metavar="FILE2", group="data"),
    _output("the merged store to create", metavar="FILE"),
    *LOG_OPTIONS,
))

ALIGNMENTS_RENAME = OptionSet("tools alignments rename", (
    Option("faces", ("faces",), "a faces folder whose images were renamed (e.g. by `tools "
           "sort`): each gets its store name back, from its own metadata", required=True,
           metavar="FOLDER", group="data"),
    Option("undo", ("-u", "--undo"), "put back the names the last rename in this folder "
           "changed", action="store_true"),
    *LOG_OPTIONS,
))

# -- sort -----------------------------------------------------------------------------------

SORT = OptionSet("tools sort", (
    Option("input", ("-i", "--input"), "the faces folder to sort", required=True,
           metavar="FOLDER", group="data"),
    _output("sort into this folder (default: sort the input folder in place)",
            required=False),
    Option("sort_by", ("-s", "--sort-by"), "identity: group by person (face descriptor "
           "clustering; Faceswap's `face` means the same); reference: most like the --ref "
           "photos first; blur: sharpest first; yaw, pitch: head turned left to right, up to "
           "down; hist: similar colours together; size: largest face in the frame first",
           "identity", sort_method, SORT_METHODS, group="sorting"),
    Option("final_process", ("-fp", "--final-process"), "rename: prefix each file with its "
           "rank; folders: move each file into a numbered folder (a person for identity, "
           "else one of --bins ranges)", "folders", str.lower, SORT_OUTCOMES,
           group="sorting"),
    Option("bins", ("-b", "--bins"), "how many folders for the measures that are not "
           "identity", 5, positive_int, group="sorting"),
    Option("threshold", ("-t", "--threshold"), "identity, reference: largest descriptor "
           "distance between faces of one person", SAME_PERSON_DISTANCE, float,
           group="sorting"),
    Option("ref", ("--ref",), "reference: photos of the person to rank first (repeat for "
           "several)", None, str, action="append", metavar="IMAGE", group="sorting"),
    Option("keep", ("-k", "--keep"), "with -o: copy the faces, leaving the input as it is",
           action="store_true", group="sorting"),
    Option("undo", ("-u", "--undo"), "put back every file the last sort of this folder moved "
           "or renamed (give the sorted folder as -i)", action="store_true",
           group="sorting"),
    *LOG_OPTIONS,
))

# -- mask -----------------------------------------------------------------------------------

_MASK_TYPE = Choices("faceforge.core.masks:MASK_TYPES")

MASK_GENERATE = OptionSet("tools mask generate", (
    _store(),
    Option("masker", ("-M", "--masker"), "the mask to (re)compute from the landmarks (repeat "
           "for several)", ("components", "extended"), str, _MASK_TYPE, action="append",
           group="mask"),
    _faces("only the faces whose image is in this faces folder (default: every face)"),
    *LOG_OPTIONS,
))

MASK_EXPORT = OptionSet("tools mask export", (
    _store(),
    _output("folder for the mask images, named like the faces"),
    Option("masker", ("-M", "--masker"), "which stored mask", "extended", str, group="mask"),
    *_FACE_OUTPUT,
    *LOG_OPTIONS,
))

MASK_IMPORT = OptionSet("tools mask import", (
    _store(),
    Option("input", ("-i", "--input"), "folder of mask images named like the faces "
           "(<source>_<frame>_<face>.png, grey, white = face), as `tools mask export` "
           "writes them", required=True, metavar="FOLDER", group="data"),
    Option("masker", ("-M", "--masker"), "the name to store them under", "custom", str,
           group="mask"),
    Option("centering", ("--centering",), "what the mask images centre on", "head", str,
           Choices("faceforge.core.geometry:CENTERINGS"), group="mask"),
    *LOG_OPTIONS,
))

MASK_PREVIEW = OptionSet("tools mask preview", (
    _store(),
    _faces("the faces folder to draw the masks over", required=True),
    _output("folder for the previews"),
    Option("masker", ("-M", "--masker"), "which stored mask", "extended", str, group="mask"),
    *LOG_OPTIONS,
))

# -- media ----------------------------------------------------------------------------------

MEDIA_INFO = OptionSet("tools media info", (
    _media_input("a video file or image folder"),
    *LOG_OPTIONS,
))

MEDIA_FRAMES = OptionSet("tools media frames", (
    _media_input("the video"),
    _output("folder for the frame images"),
    Option("frames", ("--frames",), "only these frames (0-based, inclusive), e.g. 10-50",
           None, frame_range, metavar="START-END", group="output"),
    Option("every_n", ("-N", "--every-n"), "only every Nth frame", 1, positive_int,
           group="output"),
    Option("image_format", ("--image-format",), "image file format", "png", str.lower,
           IMAGE_FORMATS, group="output"),
    *LOG_OPTIONS,
))

MEDIA_VIDEO = OptionSet("tools media video", (
    _media_input("a folder of images, in natural order"),
    _output("the video file to write (.mp4 or .mkv)", metavar="FILE"),
    Option("fps", ("-fps", "--fps"), "frame rate, frames/s", 25.0, float, group="output"),
    Option("reference", ("-r", "--reference"), "take the audio from this file", None, str,
           metavar="FILE", group="output"),
    *_VIDEO_OUTPUT,
    *LOG_OPTIONS,
))

MEDIA_SLICE = OptionSet("tools media slice", (
    _media_input("the video"),
    _output("the video file to write", metavar="FILE"),
    Option("frames", ("--frames",), "the frames to keep (0-based, inclusive), e.g. 30-89",
           required=True, type=frame_range, metavar="START-END", group="output"),
    *_VIDEO_OUTPUT,
    *LOG_OPTIONS,
))

MEDIA_MUX_AUDIO = OptionSet("tools media mux-audio", (
    _media_input("the video (its own audio, if any, is replaced)"),
    Option("reference", ("-r", "--reference"), "the file to take the audio from",
           required=True, metavar="FILE", group="data"),
    _output("the video file to write", metavar="FILE"),
    *LOG_OPTIONS,
))

MEDIA_RESCALE = OptionSet("tools media rescale", (
    _media_input("the video"),
    _output("the video file to write", metavar="FILE"),
    Option("scale", ("-sc", "--scale"), "new size: WIDTHxHEIGHT (one of them may be -1 to "
           "keep the aspect) or a percentage such as 50%", required=True, type=str,
           group="output"),
    *_VIDEO_OUTPUT,
    *LOG_OPTIONS,
))

MEDIA_ROTATE = OptionSet("tools media rotate", (
    _media_input("the video"),
    _output("the video file to write", metavar="FILE"),
    Option("degrees", ("-de", "--degrees"), "clockwise turn", "90", str, ROTATIONS,
           group="output"),
    *_VIDEO_OUTPUT,
    *LOG_OPTIONS,
))

# -- model ----------------------------------------------------------------------------------

MODEL_INFO = OptionSet("tools model info", (_model_dir(), *LOG_OPTIONS))

MODEL_RESTORE = OptionSet("tools model restore", (
    _model_dir(),
    Option("restore_from", ("--from",), "backup (the best save so far), or a snapshot's "
           "iteration", "backup", str, metavar="WHICH", group="data"),
    *LOG_OPTIONS,
))

MODEL_NAN_SCAN = OptionSet("tools model nan-scan", (_model_dir(), *LOG_OPTIONS))

MODEL_EXPORT = OptionSet("tools model export", (
    _model_dir(),
    _output("the file to write (.onnx, or .pt for TorchScript)", metavar="FILE"),
    Option("format", ("--format",), "onnx: for ONNX Runtime and other programs; "
           "torchscript: for libtorch", "onnx", str.lower, EXPORT_FORMATS, group="export"),
    Option("side", ("--side",), "which decoder: b draws B's face (the usual swap), a A's",
           "b", str.lower, ("a", "b"), group="export"),
    _faces("check the export against PyTorch on faces from this faces folder (default: "
           "random faces)"),
    Option("opset", ("--opset",), "ONNX opset version", 17, int, group="export"),
    *LOG_OPTIONS,
))

# -- faces report ---------------------------------------------------------------------------

FACES_REPORT = OptionSet("tools faces report", (
    Option("input", ("-i", "--input"), "the faces folder", required=True, metavar="FOLDER",
           group="data"),
    _output("folder for the contact sheets and report.json"),
    Option("columns", ("--columns",), "faces per row", 10, positive_int, group="output"),
    Option("thumb_size", ("--thumb-size",), "side of each face on the sheet, pixels", 128,
           positive_int, group="output"),
    Option("per_sheet", ("--per-sheet",), "faces per sheet", 100, positive_int,
           group="output"),
    Option("no_identity", ("--no-identity",), "skip the identity check (faster)",
           action="store_true", group="checks"),
    Option("identity_threshold", ("--identity-threshold",), "flag faces farther than this "
           "from the folder's main person (dlib descriptor distance)", SAME_PERSON_DISTANCE,
           float, group="checks"),
    Option("blur_ratio", ("--blur-ratio",), "flag faces whose sharpness is below this share "
           "of the folder's median", 0.35, float, group="checks"),
    Option("max_yaw", ("--max-yaw",), "flag faces turned more than this, degrees", 50.0,
           float, group="checks"),
    Option("max_pitch", ("--max-pitch",), "flag faces tilted up or down more than this, "
           "degrees", 35.0, float, group="checks"),
    *LOG_OPTIONS,
))

TOOL_OPTIONS: tuple[OptionSet, ...] = (
    ALIGNMENTS_SUMMARY, ALIGNMENTS_EXPORT, ALIGNMENTS_IMPORT, ALIGNMENTS_IMPORT_FACES,
    ALIGNMENTS_MISSING_FRAMES,
    ALIGNMENTS_MULTI_FACES, ALIGNMENTS_NO_FACES, ALIGNMENTS_REMOVE_FACES, ALIGNMENTS_EXTRACT,
    ALIGNMENTS_DRAW, ALIGNMENTS_SMOOTH, ALIGNMENTS_MERGE, ALIGNMENTS_RENAME,
    SORT,
    MASK_GENERATE, MASK_EXPORT, MASK_IMPORT, MASK_PREVIEW,
    MEDIA_INFO, MEDIA_FRAMES, MEDIA_VIDEO, MEDIA_SLICE, MEDIA_MUX_AUDIO, MEDIA_RESCALE,
    MEDIA_ROTATE,
    MODEL_INFO, MODEL_RESTORE, MODEL_NAN_SCAN, MODEL_EXPORT,
    FACES_REPORT,
)

# One line per tool group and per command, for `faceforge tools --help` and the GUI's menu.
TOOL_HELP: dict[str, str] = {
    "tools alignments": "inspect, curate, re-cut, smooth and merge alignments stores",
    "tools alignments summary": "print frames, faces and problem frames",
    "tools alignments export": "write the store as JSON or as a Faceswap .fsa file",
    "tools alignments import": "make a store from a faceforge JSON export or a Faceswap .fsa",
    "tools alignments import-faces": "make a store from a folder of face PNGs (faceforge's or "
                                     "Faceswap's), from their metadata",
    "tools alignments missing-frames": "list (or copy out) frames extraction did not reach",
    "tools alignments multi-faces": "list (or copy out) frames with several faces",
    "tools alignments no-faces": "list (or copy out) frames with no face",
    "tools alignments remove-faces": "remove faces whose images were deleted from a faces "
                                     "folder (keeps a backup)",
    "tools alignments extract": "re-write face images from the store at another size or "
                                "centering (no detection)",
    "tools alignments draw": "write frames with boxes and landmarks drawn, for checking",
    "tools alignments smooth": "smooth landmarks over time to reduce jitter (keeps a backup)",
    "tools alignments merge": "merge two stores of the same source",
    "tools alignments rename": "give face images their store names back",
    "tools sort": "sort a faces folder by identity, reference photos, blur, pose, colour or "
                  "size (undoable)",
    "tools mask": "(re)generate, export, import and preview masks",
    "tools mask generate": "compute landmark masks into the store (keeps a backup)",
    "tools mask export": "write stored masks as images",
    "tools mask import": "store masks from images (keeps a backup)",
    "tools mask preview": "write faces with their mask drawn over them",
    "tools media": "frames, videos, audio and clips with PyAV (no ffmpeg binary needed)",
    "tools media info": "print what a video or image folder holds",
    "tools media frames": "write a video's frames as images",
    "tools media video": "make a video from images, with audio from another file",
    "tools media slice": "cut frames START-END out of a video, with their audio",
    "tools media mux-audio": "put another file's audio on a video",
    "tools media rescale": "resize a video",
    "tools media rotate": "turn a video by 90, 180 or 270 degrees",
    "tools model": "inspect, restore, check and export model folders",
    "tools model info": "print trainer, config, iterations, sessions and losses",
    "tools model restore": "go back to the backup or a snapshot (keeps the current save)",
    "tools model nan-scan": "find NaN or infinite values in the saved weights",
    "tools model export": "export a decoder for inference (ONNX or TorchScript), checked "
                          "against PyTorch",
    "tools faces": "reports on faces folders",
    "tools faces report": "contact sheet of a faces folder with likely wrong faces flagged",
}

__all__ = ["TOOL_HELP", "TOOL_OPTIONS"]
