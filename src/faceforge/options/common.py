"""Options several commands share: logging, and keeping or dropping faces by reference photos."""

from __future__ import annotations

from faceforge.core.thresholds import SAME_PERSON_DISTANCE
from faceforge.options.spec import Option

LOGLEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

LOG_OPTIONS = (
    Option("loglevel", ("-L", "--loglevel"), "how much to log", "INFO", str.upper, LOGLEVELS,
           group="global"),
    Option("logfile", ("-F", "--logfile"), "also write the log to this file", None, str,
           metavar="FILE", group="global"),
)


def reference_photo_options(group: str, keep_help: str, drop_help: str) -> tuple[Option, ...]:
    """-f/-n/-l: the same three options, with the same default, in extract and convert."""
    return (
        Option("filter", ("-f", "--filter"), keep_help, None, str, action="append",
               metavar="IMAGE", group=group),
        Option("nfilter", ("-n", "--nfilter"), drop_help, None, str, action="append",
               metavar="IMAGE", group=group),
        Option("ref_threshold", ("-l", "--ref-threshold"),
               "identity distance threshold for -f/-n (dlib face descriptor; the default is "
               "dlib's same-person limit, lower is stricter)", SAME_PERSON_DISTANCE, float,
               group=group),
    )

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CPU_KERNELS = ("auto", "faceforge", "torch")

COMPUTE_OPTIONS = (
    Option("precision", ("--precision",),
           "number format of the model's maths: auto measures fp32 and bf16 on this machine "
           "and model at the start of the job (cached) and takes the faster; on a GPU auto is "
           "bf16 (fp16 where bf16 is not supported)", "auto", str.lower, PRECISIONS,
           group="compute"),
    Option("cpu_kernels", ("--cpu-kernels",),
           "convolutions on a CPU: faceforge's own Winograd/GEMM kernels for the small, wide "
           "layers, PyTorch's (oneDNN) for all, or auto: measured with --precision at the "
           "start of the job (cached)", "auto", str.lower, CPU_KERNELS, group="compute"),
)
