"""The options of `faceforge report`: how good a converted video is, measured."""

from __future__ import annotations

from faceforge.options.common import LOG_OPTIONS
from faceforge.options.spec import Option, OptionSet, non_negative_int, positive_int

REPORT_OPTIONS = OptionSet("report", (
    Option("converted", ("converted",), "the converted video (or folder of frames) to judge",
           required=True, metavar="VIDEO", group="data"),
    Option("source", ("-s", "--source"), "the video of A it was converted from", required=True,
           metavar="VIDEO", group="data"),
    Option("output", ("-o", "--output"), "folder for report.html, report.json and their "
                                         "images", required=True, metavar="FOLDER",
           group="data"),
    Option("model_dir", ("-m", "--model"), "the model folder that made it: its centering and "
           "coverage place the blend mask for the seam measure, and its training folders are "
           "the default faces of A and B", metavar="FOLDER", group="data"),
    Option("faces_b", ("-B", "--faces-b"), "faces of B (a faces folder, or a video or photos "
           "of B; default: the model's training faces of B)", metavar="PATH", group="data"),
    Option("faces_a", ("-A", "--faces-a"), "faces of A (default: the model's training faces "
           "of A, else the source video's own faces)", metavar="PATH", group="data"),
    Option("gallery", ("-g", "--gallery"), "photos or faces of other people: one subfolder per "
           "person (or one image per person); B's rank among them and A is reported",
           metavar="FOLDER", group="data"),
    Option("frames", ("-n", "--frames"), "how many frames to measure", 60, positive_int,
           group="sampling"),
    Option("every", ("--every",), "measure every Nth frame from the start (0: spread the "
           "frames over the whole video)", 0, non_negative_int, group="sampling"),
    Option("worst", ("--worst",), "frames shown on the contact sheet for each measure, worst "
           "first", 3, positive_int, group="output"),
    *LOG_OPTIONS,
))
