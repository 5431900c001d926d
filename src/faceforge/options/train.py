"""The options of `faceforge train`."""

from __future__ import annotations

from faceforge.options.common import COMPUTE_OPTIONS, LOG_OPTIONS
from faceforge.options.spec import Choices, Option, OptionSet, non_negative_int, snake_name

#: the loss functions --loss offers, each implemented in nn/losses.py (named here so that the
#: options, --help and the GUI do not import torch; tests/test_options.py keeps the two equal)
LOSS_NAMES = ("ssim", "ms_ssim", "gmsd", "gradient", "mse", "mae", "log_cosh", "smooth_l1")

TRAIN_OPTIONS = OptionSet("train", (
    Option("input_a", ("-A", "--input-A"), "faces folder of person A (from `faceforge "
           "extract`; Faceswap face PNGs work too)", required=True, metavar="FOLDER",
           group="data"),
    Option("input_b", ("-B", "--input-B"), "faces folder of person B", required=True,
           metavar="FOLDER", group="data"),
    Option("model_dir", ("-m", "--model-dir"), "model folder: created, or resumed if it holds "
           "a model", required=True, metavar="FOLDER", group="data"),
    Option("alignments_a", ("-ala", "--alignments-A"), "alignments store of A (optional: the "
           "faces carry their own landmarks)", metavar="FILE", group="data"),
    Option("alignments_b", ("-alb", "--alignments-B"), "alignments store of B (optional)",
           metavar="FILE", group="data"),
    Option("trainer", ("-t", "--trainer"), "model architecture (Faceswap's, plus `quick` for "
           "CPUs)", "original", str.lower, Choices("faceforge.plugins.model:MODELS"),
           group="model"),
    Option("centering", ("--centering",), "which crop of the extracted faces to train on",
           "face", str, Choices("faceforge.core.geometry:CENTERINGS"), group="model"),
    Option("coverage", ("--coverage",), "share of the crop the model sees, in percent",
           87.5, float, group="model"),
    Option("batch_size", ("-b", "--batch-size", "-bs"), "faces per side per iteration", 16,
           int, group="training"),
    Option("iterations", ("-i", "--iterations", "-it"), "stop after this many iterations in "
           "total", 1000000, int, group="training"),
    Option("warmup", ("-a", "--warmup"), "ramp the learning rate up over this many "
           "iterations", 0, non_negative_int, group="training"),
    Option("lr_decay", ("--lr-decay",), "ease the learning rate down to zero over the last "
           "PERCENT of --iterations (a cosine; 0: keep it constant), for a run whose length is "
           "set in advance", 0.0, float, metavar="PERCENT", group="training"),
    Option("learning_rate", ("--learning-rate", "-lr"), "optimizer learning rate (default: "
           "the trainer's own, 5e-5 for Faceswap's models)", None, float, group="training"),
    Option("optimizer", ("--optimizer",), "optimizer", "adam", str.lower, ("adam", "adamw"),
           group="training"),
    Option("epsilon", ("--epsilon",), "optimizer epsilon", 1e-7, float, group="training"),
    Option("clip_grad", ("--clip-grad",), "clip the gradient norm to this (0: off)", 0.0,
           float, group="training"),
    Option("accumulate", ("--accumulate",), "accumulate gradients over N batches per step",
           1, int, group="training"),
    Option("loss", ("--loss",), "loss functions, summed with equal weight (repeat the option "
           "for several)", ("ssim", "mse"), snake_name, LOSS_NAMES,
           action="append", group="training"),
    Option("no_mask_loss", ("--no-mask-loss",), "count the background in the loss too",
           action="store_true", group="training"),
    Option("eye_multiplier", ("--eye-multiplier",), "extra loss weight on the eyes", 3.0,
           float, group="training"),
    Option("mouth_multiplier", ("--mouth-multiplier",), "extra loss weight on the mouth",
           2.0, float, group="training"),
    Option("distributed", ("--distributed",), "train on several GPUs or machines with "
           "DistributedDataParallel; launch with torchrun", action="store_true",
           group="training"),
    Option("seed", ("--seed",), "random seed (0: a new one each run)", 0, int,
           group="training"),
    Option("warp_to_landmarks", ("-M", "--warp-to-landmarks"), "warp inputs towards another "
           "face's landmarks instead of a random grid warp", action="store_true",
           group="augmentation"),
    Option("no_flip", ("-P", "--no-flip"), "do not flip faces horizontally at random",
           action="store_true", group="augmentation"),
    Option("no_augment_color", ("-c", "--no-augment-color"), "no random colour and "
           "contrast changes", action="store_true", group="augmentation"),
    Option("no_warp", ("-W", "--no-warp"), "no random warp of the inputs (for the final "
           "polish of a trained model)", action="store_true", group="augmentation"),
    Option("save_interval", ("-s", "--save-interval"), "save the model every N iterations",
           250, int, group="saving"),
    Option("snapshot_interval", ("-I", "--snapshot-interval", "-ss"), "keep a full copy of "
           "the model every N iterations in snapshots/ (0: never)", 25000, non_negative_int,
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
    Option("no_identity", ("--no-identity",), "skip the identity-match score (dlib face "
           "descriptors of A→B swaps) at each save", action="store_true", group="saving"),
    Option("no_quality", ("--no-quality",), "skip the expression and sharpness curves (dlib "
           "landmarks of A→B swaps) at each save", action="store_true", group="saving"),
    *COMPUTE_OPTIONS,
    *LOG_OPTIONS,
))
