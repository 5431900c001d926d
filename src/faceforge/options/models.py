"""Options of `faceforge models fetch|list`: the weights some plugins download (s3fd, fan)."""

from __future__ import annotations

from faceforge.options.common import LOG_OPTIONS
from faceforge.options.spec import Option, OptionSet


def weights_dir(help: str) -> Option:
    return Option("weights_dir", ("--weights-dir",), help, None, str, metavar="FOLDER",
                  group="plugins")


MODELS_FETCH = OptionSet("models fetch", (
    Option("names", ("names",), "which weights: s3fd, fan (default: all)", None, str,
           metavar="MODEL", nargs="*", group="plugins"),
    weights_dir("download into this folder instead of the user cache"),
    *LOG_OPTIONS,
))

MODELS_LIST = OptionSet("models list", (
    weights_dir("also look in this folder"),
    *LOG_OPTIONS,
))

__all__ = ["MODELS_FETCH", "MODELS_LIST", "weights_dir"]
