"""The options of `faceforge convert`."""

from __future__ import annotations

from faceforge.options.common import COMPUTE_OPTIONS, LOG_OPTIONS, reference_photo_options
from faceforge.options.spec import Choices, Option, OptionSet, frame_range, snake_name

CONVERT_OPTIONS = OptionSet("convert", (
    Option("input", ("-i", "--input-dir", "--input"), "the video (or folder of frames) to "
           "convert: person A", required=True, metavar="PATH", group="data"),
    Option("output", ("-o", "--output-dir", "--output"), "folder for the converted video or "
           "frames", required=True, metavar="FOLDER", group="data"),
    Option("model_dir", ("-m", "--model-dir"), "the model folder `faceforge train` wrote",
           required=True, metavar="FOLDER", group="data"),
    Option("alignments", ("-p", "--alignments", "-al"), "alignments store of the input "
           "(default: the one `extract` wrote next to it)", metavar="FILE", group="data"),
    Option("on_the_fly", ("-T", "--on-the-fly"), "find faces while converting instead of "
           "reading an alignments store (default detector and landmarker)",
           action="store_true", group="data"),
    Option("reference_video", ("-r", "--reference-video"), "for a folder of frames: the "
           "video to take frame rate and audio from", metavar="VIDEO", group="data"),
    Option("swap_model", ("-s", "--swap-model"), "swap the other way: B's video to A's face",
           action="store_true", group="model"),
    Option("mask_type", ("-M", "--mask-type"), "which mask blends the new face in",
           "extended", str, Choices("faceforge.core.masks:MASK_TYPES",
                                    extra=("predicted", "none")), group="mask"),
    Option("mask_blur", ("--mask-blur",), "how the mask edge is softened", "normalized", str,
           Choices("faceforge.core.blend:BLUR_TYPES", extra=("none",)), group="mask"),
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
    Option("face_scale", ("-S", "--face-scale"), "grow or shrink the swapped face, percent "
           "(+/-)", 0.0, float, group="mask"),
    Option("color", ("-c", "--color-adjustment"), "how the new face's colour is matched to "
           "the original", "avg-color", str, Choices("faceforge.core.color:COLOR_MODES"),
           group="colour"),
    Option("sharpen", ("--sharpen",), "sharpen the new face", "none", snake_name,
           Choices("faceforge.core.blend:SHARPEN_METHODS"), group="colour"),
    Option("detail", ("--detail",), "restore this percent of the original's fine "
           "texture (pores, lashes, stubble) under the mask where the upscaled face lacks it; "
           "only detail finer than the model can draw, luminance only; thin features of the "
           "original that the new face lacks (the wire of glasses) can show through (0: off)",
           0.0, float, group="colour"),
    Option("frame_ranges", ("-R", "--frame-ranges", "-fr"), "only convert these frames "
           "(0-based, inclusive), e.g. -R 10-50 90-120", None, frame_range, nargs="+",
           metavar="START-END", group="frames"),
    Option("keep_unchanged", ("-k", "--keep-unchanged"), "keep frames outside the ranges, "
           "unchanged (else they are dropped)", action="store_true", group="frames"),
    *reference_photo_options("frames", "photos of the person to swap (others are left)",
                             "photos of people not to swap"),
    Option("writer", ("-w", "--writer"), "output writer (default: ffmpeg for videos, opencv "
           "for frame folders)", None, str, Choices("faceforge.plugins.writer:WRITERS"),
           group="output"),
    Option("codec", ("--codec",), "ffmpeg writer: video codec", "h264", str.lower,
           Choices("faceforge.plugins.writer.ffmpeg:CODECS"), group="output"),
    Option("crf", ("--crf",), "ffmpeg writer: quality, lower is better and bigger (default: "
           "the codec's own good value)", None, int, group="output"),
    Option("preset", ("--preset",), "ffmpeg writer: encoder speed preset", "veryfast",
           str.lower, Choices("faceforge.plugins.writer.ffmpeg:PRESETS"), group="output"),
    Option("image_format", ("--image-format",), "opencv writer: image file format", "png",
           str.lower, Choices("faceforge.plugins.writer.images:IMAGE_FORMATS"),
           group="output"),
    Option("output_scale", ("-O", "--output-scale", "-osc"), "scale the output, percent",
           100, int, group="output"),
    Option("skip_existing", ("--skip-existing",), "opencv writer: keep frames already in the "
           "output folder and convert the rest", action="store_true", group="output"),
    Option("jobs", ("-j", "--jobs"), "accepted for Faceswap compatibility: faceforge always "
           "overlaps decoding, prediction/blending and encoding on its own threads", 0, int,
           group="output"),
    *COMPUTE_OPTIONS,
    *LOG_OPTIONS,
))
