"""The options of `faceforge extract`."""

from __future__ import annotations

from faceforge.core.thresholds import LANDMARK_RESIDUAL_LIMIT
from faceforge.options.common import LOG_OPTIONS, reference_photo_options
from faceforge.options.models import weights_dir
from faceforge.options.spec import Choices, Option, OptionSet, non_negative_int, rotations

# The default detector and landmarker were chosen by measurement (docs/benchmarks/detection.md,
# landmarks.md and extract.md): BlazeFace short range finds every face of the single-person
# clips at 2.4 ms a frame; dlib's 68 points have the lowest landmark error.
EXTRACT_OPTIONS = OptionSet("extract", (
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
    Option("detector", ("-D", "--detector"), "face detector", "blazeface", str,
           Choices("faceforge.plugins.detect:DETECTORS"), group="plugins"),
    Option("aligner", ("-A", "--aligner"), "68-point landmarker", "dlib", str,
           Choices("faceforge.plugins.align:LANDMARKERS"), group="plugins"),
    Option("masker", ("-M", "--masker"),
           "landmark masks stored with each face (repeat for several); both are cheap to "
           "compute, 'none' stores none", ("components", "extended"), str,
           Choices("faceforge.core.masks:MASK_TYPES", extra=("none",)), action="append",
           group="plugins"),
    weights_dir("folder holding downloaded weights (s3fd, fan), looked in before "
                "$FACEFORGE_WEIGHTS_DIR and the user cache; see `faceforge models fetch`"),
    Option("normalization", ("-O", "--normalization", "-nm"),
           "lighting normalisation applied to the detector's input only", "none", str,
           Choices("faceforge.core.image:NORMALIZATIONS"), group="plugins"),
    Option("re_feed", ("-R", "--re-feed", "-rf"),
           "average the landmarks over this many extra, slightly shifted detections to "
           "reduce jitter (slower)", 0, non_negative_int, group="plugins"),
    Option("rotate", ("-r", "--rotate-images"),
           "when no face is found, retry with the frame rotated: a step in degrees (90) or "
           "a list (90,180,270)", None, rotations, metavar="ANGLES", group="plugins"),
    Option("identity", ("-I", "--identity"),
           "store a 128-d dlib identity descriptor for every face (for sorting and filters)",
           action="store_true", group="plugins"),
    Option("min_size", ("-m", "--min-size", "-min"),
           "drop faces whose box diagonal is smaller than this many pixels (0: off)",
           0, non_negative_int, group="filters"),
    Option("max_size", ("-x", "--max-size"),
           "drop faces whose box diagonal is larger than this many pixels (0: off)",
           0, non_negative_int, group="filters"),
    Option("landmark_threshold", ("--landmark-threshold",),
           "drop detections whose landmarks do not look like a face: mean distance to the "
           "mean face in face widths (0: off)", LANDMARK_RESIDUAL_LIMIT, float,
           group="filters"),
    *reference_photo_options(
        "filters",
        "photos of the person to keep (faces farther than --ref-threshold are dropped)",
        "photos of people to drop (faces nearer than --ref-threshold are dropped)"),
    Option("size", ("-z", "--size", "-sz"), "side of the saved aligned faces in pixels",
           512, int, group="output"),
    Option("centering", ("--centering",),
           "what the saved faces centre on: head (whole head, lets training use any crop), "
           "face or legacy", "head", str, Choices("faceforge.core.geometry:CENTERINGS"),
           group="output"),
    Option("extract_every_n", ("-N", "--extract-every-n", "-een"),
           "only extract every Nth frame", 1, int, group="output"),
    Option("save_interval", ("-v", "--save-interval", "-si"),
           "commit the alignments store every N frames (0: every batch of 16)", 0,
           non_negative_int, group="output"),
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
    *LOG_OPTIONS,
))
