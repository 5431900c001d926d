"""Every command-line option, defined once: flags, defaults, choices and help.

The CLI builds argparse from these specs and the GUI builds its forms from the same specs, so
a default or a help text is never written twice. Flags follow Faceswap's, including the older
short forms (`-sz`, `-een`, `-si`, `-min`, `-nm`, `-rf`) that popular tutorials use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Defaults chosen by measurement (docs/benchmarks/detection.md, landmarks.md, extract_speed.md).
DEFAULT_DETECTOR = "blazeface"
DEFAULT_ALIGNER = "dlib"
DETECTOR_CHOICES = ("blazeface", "blazeface-full", "hog", "cnn")
ALIGNER_CHOICES = ("dlib", "mesh")
MASKER_CHOICES = ("extended", "components", "none")
NORMALIZATION_CHOICES = ("none", "clahe", "hist", "mean")
CENTERING_CHOICES = ("head", "face", "legacy")
LOGLEVEL_CHOICES = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class Option:
    """One option of one command."""

    dest: str
    flags: tuple[str, ...]
    help: str
    default: Any = None
    type: Callable[[str], Any] | None = None
    choices: Sequence[Any] | None = None
    action: str | None = None  # "store_true", "append"
    nargs: str | None = None
    required: bool = False
    metavar: str | None = None
    group: str = "main"

    def help_with_default(self) -> str:
        if self.action == "store_true" or self.default in (None, [], ()):
            return self.help
        return f"{self.help} (default: {self.default})"


def _rotations(text: str) -> tuple[int, ...]:
    """`-r 90` means every 90 degrees; `-r 90,270` lists angles."""
    parts = [int(p) for p in str(text).split(",") if p.strip()]
    if len(parts) == 1:
        step = parts[0]
        if step <= 0 or step >= 360:
            raise ValueError("rotation step must be between 1 and 359 degrees")
        return tuple(range(step, 360, step))
    return tuple(p % 360 for p in parts if p % 360)


def _loss_name(text: str) -> str:
    return text.strip().lower().replace("-", "_")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


LOG_OPTIONS = (
    Option("loglevel", ("-L", "--loglevel"), "how much to log", "INFO", str.upper,
           LOGLEVEL_CHOICES, group="global"),
    Option("logfile", ("-F", "--logfile"), "also write the log to this file", None, str,
           group="global"),
)

EXTRACT_OPTIONS = (
    Option("input", ("-i", "--input-dir", "--input"),
           "a video file, a folder of images, or with -b a folder of such inputs",
           required=True, metavar="PATH", group="data"),
    Option("output", ("-o", "--output-dir", "--output"),
           "folder for the aligned face images (created if needed)", required=True,
           metavar="FOLDER", group="data"),
    Option("alignments", ("-p", "--alignments", "-al"),
           "alignments store to write; by default <video>_alignments.db next to the video, "
           "or alignments.db inside an image folder", metavar="FILE", group="data"),
    Option("batch_mode", ("-b", "--batch-mode"),
           "the input is a folder of videos and/or image folders: extract each into its own "
           "subfolder of the output", action="store_true", group="data"),
    Option("detector", ("-D", "--detector"),
           "face detector: blazeface (BlazeFace short range, fast), blazeface-full (full "
           "range, smaller faces), hog (dlib HOG), cnn (dlib CNN, slow on CPU)",
           DEFAULT_DETECTOR, str, DETECTOR_CHOICES, group="plugins"),
    Option("aligner", ("-A", "--aligner"),
           "landmarker: dlib (68 points) or mesh (468-point face mesh converted to 68)",
           DEFAULT_ALIGNER, str, ALIGNER_CHOICES, group="plugins"),
    Option("masker", ("-M", "--masker"),
           "landmark masks stored with each face; both are always cheap to compute, 'none' "
           "stores none", ["components", "extended"], str, MASKER_CHOICES, action="append",
           group="plugins"),
    Option("normalization", ("-O", "--normalization", "-nm"),
           "lighting normalisation applied to the detector's input only",
           "none", str, NORMALIZATION_CHOICES, group="plugins"),
    Option("re_feed", ("-R", "--re-feed", "-rf"),
           "average the landmarks over this many extra, slightly shifted detections to "
           "reduce jitter (slower)", 0, positive_int, group="plugins"),
    Option("rotate", ("-r", "--rotate-images"),
           "when no face is found, retry with the frame rotated: a step in degrees (90) or "
           "a list (90,180,270)", None, _rotations, metavar="ANGLES", group="plugins"),
    Option("identity", ("-I", "--identity"),
           "store a 128-d dlib identity descriptor for every face (for sorting and filters)",
           action="store_true", group="plugins"),
    Option("min_size", ("-m", "--min-size", "-min"),
           "drop faces whose box diagonal is smaller than this many pixels (0: off)",
           0, positive_int, group="filters"),
    Option("max_size", ("-x", "--max-size"),
           "drop faces whose box diagonal is larger than this many pixels (0: off)",
           0, positive_int, group="filters"),
    Option("landmark_threshold", ("--landmark-threshold",),
           "drop detections whose landmarks do not look like a face: mean distance to the "
           "mean face in face widths (0: off)", 0.12, float, group="filters"),
    Option("filter", ("-f", "--filter"),
           "photos of the person to keep (faces farther than --ref-threshold are dropped)",
           None, str, action="append", metavar="IMAGE", group="filters"),
    Option("nfilter", ("-n", "--nfilter"),
           "photos of people to drop (faces nearer than --ref-threshold are dropped)",
           None, str, action="append", metavar="IMAGE", group="filters"),
    Option("ref_threshold", ("-l", "--ref-threshold"),
           "identity distance threshold for -f/-n (dlib descriptor; 0.6 is dlib's "
           "same-person limit, lower is stricter)", 0.6, float, group="filters"),
    Option("size", ("-z", "--size", "-sz"), "side of the saved aligned faces in pixels",
           512, int, group="output"),
    Option("centering", ("--centering",),
           "what the saved faces centre on: head (whole head, lets training use any crop), "
           "face or legacy", "head", str, CENTERING_CHOICES, group="output"),
    Option("extract_every_n", ("-N", "--extract-every-n", "-een"),
           "only extract every Nth frame", 1, int, group="output"),
    Option("save_interval", ("-v", "--save-interval", "-si"),
           "commit the alignments store every N frames (0: every batch of 16)", 0,
           positive_int, group="output"),
    Option("skip_existing", ("-s", "--skip-existing"),
           "skip frames already in the alignments store", action="store_true",
           group="output"),
    Option("skip_existing_faces", ("-e", "--skip-existing-faces"),
           "skip frames that already have faces in the alignments store",
           action="store_true", group="output"),
    Option("debug_landmarks", ("-B", "--debug-landmarks"),
           "draw the landmarks on the saved faces (for checking; not for training)",
           action="store_true", group="output"),
    Option("png_compression", ("--png-compression",),
           "PNG compression level of saved faces, 0-9 (higher: smaller files, slower)",
           1, int, group="output"),
) + LOG_OPTIONS

TRAINER_CHOICES = ("original", "lightweight", "iae", "dfaker", "dfl-h128", "dfl-sae", "quick")
LOSS_CHOICES = ("ssim", "mse", "mae", "ms_ssim", "log_cosh", "gmsd", "smooth_l1")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
OPTIMIZER_CHOICES = ("adam", "adamw")

TRAIN_OPTIONS = (
    Option("input_a", ("-A", "--input-A"), "faces folder of person A (from `faceforge "
           "extract`; Faceswap face PNGs work too)", required=True, metavar="FOLDER",
           group="data"),
    Option("input_b", ("-B", "--input-B"), "faces folder of person B", required=True,
           metavar="FOLDER", group="data"),
    Option("alignments_a", ("-ala", "--alignments-A"), "alignments store of A (optional: the "
           "faces carry their own landmarks)", metavar="FILE", group="data"),
    Option("alignments_b", ("-alb", "--alignments-B"), "alignments store of B (optional)",
           metavar="FILE", group="data"),
    Option("model_dir", ("-m", "--model-dir"), "model folder: created, or resumed if it holds "
           "a model", required=True, metavar="FOLDER", group="data"),
    Option("trainer", ("-t", "--trainer"), "model architecture (Faceswap's, plus `quick` for "
           "CPUs)", "original", str, TRAINER_CHOICES, group="model"),
    Option("batch_size", ("-b", "--batch-size", "-bs"), "faces per side per iteration", 16,
           int, group="training"),
    Option("iterations", ("-i", "--iterations", "-it"), "stop after this many iterations in "
           "total", 1000000, int, group="training"),
    Option("save_interval", ("-s", "--save-interval"), "save the model every N iterations",
           250, int, group="saving"),
    Option("snapshot_interval", ("-I", "--snapshot-interval", "-ss"), "keep a full copy of "
           "the model every N iterations in snapshots/ (0: never)", 25000, int,
           group="saving"),
    Option("write_image", ("-w", "--write-image"), "write preview.png (A, A→A, A→B, B, B→B, "
           "B→A) into the model folder at each save", action="store_true", group="saving"),
    Option("preview_scale", ("-ps", "--preview-scale"), "preview size in percent", 100, int,
           group="saving"),
    Option("timelapse_input_a", ("-x", "--timelapse-input-A"), "faces folder of A for a "
           "time-lapse (the first 14 faces are swapped at each save)", metavar="FOLDER",
           group="saving"),
    Option("timelapse_input_b", ("-y", "--timelapse-input-B"), "faces folder of B for the "
           "time-lapse", metavar="FOLDER", group="saving"),
    Option("timelapse_output", ("-z", "--timelapse-output"), "folder for time-lapse images "
           "(default: <model>/timelapse)", metavar="FOLDER", group="saving"),
    Option("warp_to_landmarks", ("-M", "--warp-to-landmarks"), "warp inputs towards another "
           "face's landmarks instead of a random grid warp", action="store_true",
           group="augmentation"),
    Option("no_flip", ("-P", "--no-flip"), "do not flip faces horizontally at random",
           action="store_true", group="augmentation"),
    Option("no_augment_color", ("-c", "--no-augment-color"), "no random colour and "
           "contrast changes", action="store_true", group="augmentation"),
    Option("no_warp", ("-W", "--no-warp"), "no random warp of the inputs (for the final "
           "polish of a trained model)", action="store_true", group="augmentation"),
    Option("warmup", ("-a", "--warmup"), "ramp the learning rate up over this many "
           "iterations", 0, positive_int, group="training"),
    Option("learning_rate", ("--learning-rate", "-lr"), "optimizer learning rate (default: "
           "the trainer's own, 5e-5 for Faceswap's models)", None, float, group="training"),
    Option("optimizer", ("--optimizer",), "optimizer", "adam", str, OPTIMIZER_CHOICES,
           group="training"),
    Option("epsilon", ("--epsilon",), "optimizer epsilon", 1e-7, float, group="training"),
    Option("clip_grad", ("--clip-grad",), "clip the gradient norm to this (0: off)", 0.0,
           float, group="training"),
    Option("accumulate", ("--accumulate",), "accumulate gradients over N batches per step",
           1, int, group="training"),
    Option("loss", ("--loss",), "loss functions, summed with equal weight (repeat the option "
           "for several)", ["ssim", "mse"], _loss_name, LOSS_CHOICES, action="append",
           group="training"),
    Option("no_mask_loss", ("--no-mask-loss",), "count the background in the loss too",
           action="store_true", group="training"),
    Option("eye_multiplier", ("--eye-multiplier",), "extra loss weight on the eyes", 3.0,
           float, group="training"),
    Option("mouth_multiplier", ("--mouth-multiplier",), "extra loss weight on the mouth",
           2.0, float, group="training"),
    Option("precision", ("--precision",), "number format: auto (bf16 where the hardware "
           "supports it, else fp32)", "auto", str, PRECISION_CHOICES, group="training"),
    Option("centering", ("--centering",), "which crop of the extracted faces to train on",
           "face", str, CENTERING_CHOICES, group="model"),
    Option("coverage", ("--coverage",), "share of the crop the model sees, in percent",
           87.5, float, group="model"),
    Option("no_identity", ("--no-identity",), "skip the identity-match score (dlib face "
           "descriptors of A→B swaps) at each save", action="store_true", group="saving"),
    Option("distributed", ("--distributed",), "train on several GPUs or machines with "
           "DistributedDataParallel; launch with torchrun", action="store_true",
           group="training"),
    Option("seed", ("--seed",), "random seed (0: a new one each run)", 0, int,
           group="training"),
) + LOG_OPTIONS

CONVERT_MASK_CHOICES = ("extended", "components", "predicted", "none")
COLOR_CHOICES = ("avg-color", "color-transfer", "match-hist", "manual-balance",
                 "seamless-clone", "none")
WRITER_CHOICES = ("ffmpeg", "opencv", "gif", "patch")
BLUR_CHOICES = ("gaussian", "normalized", "none")
SHARPEN_CHOICES = ("none", "box", "gaussian", "unsharp-mask")


def _frame_ranges(text: str) -> tuple[int, int]:
    """`10-50` → (10, 50), inclusive, 0-based frame indices."""
    start, sep, end = text.partition("-")
    if not sep:
        return int(start), int(start)
    first, last = int(start), int(end)
    if first < 0 or last < first:
        raise ValueError("a frame range is START-END with 0 <= START <= END")
    return first, last


CONVERT_OPTIONS = (
    Option("input", ("-i", "--input-dir", "--input"), "the video (or folder of frames) to "
           "convert: person A", required=True, metavar="PATH", group="data"),
    Option("output", ("-o", "--output-dir", "--output"), "folder for the converted video or "
           "frames", required=True, metavar="FOLDER", group="data"),
    Option("alignments", ("-p", "--alignments", "-al"), "alignments store of the input "
           "(default: the one `extract` wrote next to it)", metavar="FILE", group="data"),
    Option("model_dir", ("-m", "--model-dir"), "the model folder `faceforge train` wrote",
           required=True, metavar="FOLDER", group="data"),
    Option("on_the_fly", ("-T", "--on-the-fly"), "find faces while converting instead of "
           "reading an alignments store (default detector and landmarker)",
           action="store_true", group="data"),
    Option("reference_video", ("-r", "--reference-video"), "for a folder of frames: the "
           "video to take frame rate and audio from", metavar="VIDEO", group="data"),
    Option("mask_type", ("-M", "--mask-type"), "which mask blends the new face in",
           "extended", str, CONVERT_MASK_CHOICES, group="mask"),
    Option("mask_blur", ("--mask-blur",), "how the mask edge is softened", "normalized", str,
           BLUR_CHOICES, group="mask"),
    Option("mask_kernel", ("--mask-kernel",), "blur kernel size in pixels of a 128 px face "
           "(scaled with the face)", 3, int, group="mask"),
    Option("mask_passes", ("--mask-passes",), "blur passes", 4, int, group="mask"),
    Option("mask_threshold", ("--mask-threshold",), "mask values below this percent become "
           "0", 4.0, float, group="mask"),
    Option("erosion", ("--erosion",), "shrink (positive) or grow (negative) the mask, percent "
           "of its radius", 0.0, float, group="mask"),
    Option("erosion_top", ("--erosion-top",), "erode the top edge only, percent", 0.0,
           float, group="mask"),
    Option("erosion_bottom", ("--erosion-bottom",), "erode the bottom edge only, percent",
           0.0, float, group="mask"),
    Option("erosion_left", ("--erosion-left",), "erode the left edge only, percent", 0.0,
           float, group="mask"),
    Option("erosion_right", ("--erosion-right",), "erode the right edge only, percent", 0.0,
           float, group="mask"),
    Option("color", ("-c", "--color-adjustment"), "how the new face's colour is matched to "
           "the original", "avg-color", str, COLOR_CHOICES, group="colour"),
    Option("sharpen", ("--sharpen",), "sharpen the new face", "none", str, SHARPEN_CHOICES,
           group="colour"),
    Option("writer", ("-w", "--writer"), "output: ffmpeg (a finished video with the source's "
           "audio; default for videos), opencv (image frames; default for frame folders), "
           "gif, patch (swapped faces and their matrices)", None, str, WRITER_CHOICES,
           group="output"),
    Option("codec", ("--codec",), "ffmpeg writer: h264 or h265", "h264", str,
           ("h264", "h265"), group="output"),
    Option("crf", ("--crf",), "ffmpeg writer: quality, lower is better and bigger (default: "
           "the codec's own good value)", None, int, group="output"),
    Option("preset", ("--preset",), "ffmpeg writer: encoder speed preset", None, str,
           group="output"),
    Option("image_format", ("--image-format",), "opencv writer: png, jpg, webp or tif",
           "png", str, ("png", "jpg", "webp", "tif"), group="output"),
    Option("frame_ranges", ("-R", "--frame-ranges", "-fr"), "only convert these frames "
           "(0-based, inclusive), e.g. -R 10-50 90-120", None, _frame_ranges, nargs="+",
           metavar="START-END", group="frames"),
    Option("keep_unchanged", ("-k", "--keep-unchanged"), "keep frames outside the ranges, "
           "unchanged (else they are dropped)", action="store_true", group="frames"),
    Option("output_scale", ("-O", "--output-scale", "-osc"), "scale the output, percent",
           100, int, group="output"),
    Option("face_scale", ("-S", "--face-scale"), "grow or shrink the swapped face, percent "
           "(+/-)", 0.0, float, group="mask"),
    Option("swap_model", ("-s", "--swap-model"), "swap the other way: B's video to A's face",
           action="store_true", group="model"),
    Option("filter", ("-f", "--filter"), "photos of the person to swap (others are left)",
           None, str, action="append", metavar="IMAGE", group="frames"),
    Option("nfilter", ("-n", "--nfilter"), "photos of people not to swap", None, str,
           action="append", metavar="IMAGE", group="frames"),
    Option("ref_threshold", ("-l", "--ref-threshold"), "identity distance threshold for "
           "-f/-n", 0.6, float, group="frames"),
    Option("jobs", ("-j", "--jobs"), "accepted for Faceswap compatibility: faceforge always "
           "overlaps decoding, prediction/blending and encoding on its own threads", 0, int,
           group="output"),
    Option("skip_existing", ("--skip-existing",), "opencv writer: keep frames already in the "
           "output folder and convert the rest", action="store_true", group="output"),
) + LOG_OPTIONS
