"""What this computer is, for measurements and their records: CPU model and the flags that
change which kernels are fast (no torch import here)."""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

#: CPU flags that decide how fast bf16 and the convolution kernels run.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


@cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    model, flags = platform.processor() or platform.machine() or "unknown CPU", frozenset()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return model, flags


def cpu_model() -> str:
    return _cpuinfo()[0]


def cpu_flags() -> frozenset[str]:
    return _cpuinfo()[1]


def cpu_has_bf16() -> bool:
    """Native bf16 arithmetic (AVX512-BF16 or AMX); without it bf16 is emulated and slow."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def cpu_description() -> str:
    """The model and its speed-relevant flags, e.g. for the header of a benchmark table."""
    flags = [flag for flag in SPEED_FLAGS if flag in cpu_flags()]
    return f"{cpu_model()} ({', '.join(flags) or 'none of ' + ', '.join(SPEED_FLAGS)})"
