"""How a model's maths runs: number format (fp32, bf16, fp16) and, on a CPU, whose kernels.

Neither can be read off the CPU's flags. On one Intel Xeon VM with AVX512-BF16 but no AMX, bf16
trained `original` a third slower than fp32 while it made conversion faster, and faceforge's
own convolution kernels (nn/fast_conv.py) were tuned on an AMD EPYC. So `auto` measures: at the
start of a job it times the model's own step (training: forward and backward; conversion:
forward) under each candidate, picks the fastest, says why, and caches the choice per machine,
model and job so the next run starts at once. Explicit `--precision`/`--cpu-kernels` skip it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from faceforge.errors import UsageError
from faceforge.io.files import atomic_write, user_cache_dir
from faceforge.machine import SPEED_FLAGS, cpu_flags, cpu_has_bf16, cpu_model
from faceforge.nn.fast_conv import use_cpu_kernels

log = logging.getLogger(__name__)

CACHE_FILE = "compute_choices.json"
CACHE_VERSION = 1
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Compute:
    """One way to run the model: autocast dtype (None: plain fp32) and CPU kernels."""

    precision: str  # fp32, bf16 or fp16
    faceforge_kernels: bool

    @property
    def autocast(self) -> torch.dtype | None:
        return _DTYPES[self.precision]

    def describe(self) -> str:
        kernels = "faceforge" if self.faceforge_kernels else "torch"
        return f"{self.precision} with {kernels} CPU kernels"

    def key(self) -> str:
        return f"{self.precision}/{'faceforge' if self.faceforge_kernels else 'torch'}"


def candidates(precision: str, cpu_kernels: str, device: torch.device) -> list[Compute]:
    """The settings `auto` chooses among (one when nothing is left to choose)."""
    if precision == "fp16" and device.type != "cuda":
        raise UsageError("--precision fp16 needs a CUDA GPU", "use bf16 or fp32 on a CPU")
    if device.type == "cuda":
        # Every convolution stays on cuDNN: faceforge's kernels only reroute CPU tensors.
        if precision == "auto":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return [Compute(precision, True)]
    if precision == "auto":
        precisions = ["bf16", "fp32"] if cpu_has_bf16() else ["fp32"]
    else:
        precisions = [precision]
    kernels = {"auto": [True, False], "faceforge": [True], "torch": [False]}[cpu_kernels]
    return [Compute(p, k) for p in precisions for k in kernels]


def apply_compute(model: torch.nn.Module, compute: Compute, device: torch.device) -> None:
    """Put `model` in the memory layout and kernel choice `compute` runs best with."""
    use_cpu_kernels(model, compute.faceforge_kernels)
    channels_last = device.type == "cuda" or compute.autocast is not None
    model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def time_per_call(run: Callable[[], None], min_seconds: float = 1.5,
                  max_calls: int = 10) -> float:
    """Median seconds per call of `run`: one warm-up call (a new layout or kernel choice makes
    the first one slow), then calls until `min_seconds` have passed; a step slower than that
    is timed once, which keeps the choice quick for big models on slow machines."""
    run()
    times: list[float] = []
    started = time.perf_counter()
    while not times or (time.perf_counter() - started < min_seconds
                        and len(times) < max_calls):
        begin = time.perf_counter()
        run()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def machine_key() -> dict[str, str]:
    """What makes one machine's timings differ from another's."""
    return {"cpu": cpu_model(), "flags": ",".join(sorted(set(SPEED_FLAGS) & cpu_flags())),
            "threads": str(torch.get_num_threads()), "torch": torch.__version__}


def _cache_path() -> Path:
    return user_cache_dir() / CACHE_FILE


def _read_cache() -> dict:
    try:
        data = json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == CACHE_VERSION else {}


def _write_cache(key: str, entry: dict) -> None:
    data = _read_cache() or {"version": CACHE_VERSION}
    data.setdefault("choices", {})[key] = entry
    try:
        _cache_path().parent.mkdir(parents=True, exist_ok=True)
        atomic_write(_cache_path(), json.dumps(data, indent=1, sort_keys=True), durable=False)
    except OSError as exc:  # a cache that cannot be written only costs the next run a measure
        log.debug("could not write the compute cache: %s", exc)


def choose_compute(
    precision: str,
    cpu_kernels: str,
    device: torch.device,
    workload: dict[str, object],
    measure: Callable[[Compute], float],
) -> tuple[Compute, str]:
    """The compute settings to run with, and one line saying which and why.

    workload: what is being run (job, trainer, model config, batch size), for the cache key.
    measure(compute): seconds per step of the job's own model under `compute`.
    """
    options = candidates(precision, cpu_kernels, device)
    if len(options) == 1:
        chosen = options[0]
        if device.type == "cuda":
            reason = "on a GPU"
        elif precision == "auto" and chosen.precision == "fp32":
            reason = "this CPU has no native bf16"
        else:
            reason = "as asked"
        return chosen, f"compute: {chosen.describe()} ({reason})"
    identity = {**machine_key(), **{k: str(v) for k, v in workload.items()},
                "candidates": ",".join(c.key() for c in options)}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]
    cached = _read_cache().get("choices", {}).get(key)
    by_key = {c.key(): c for c in options}
    if cached and cached.get("choice") in by_key:
        chosen = by_key[cached["choice"]]
        return chosen, (f"compute: {chosen.describe()} (measured on this machine before: "
                        f"{_timings_text(cached['seconds'])}; cached in {_cache_path()})")
    seconds = {}
    for option in options:
        seconds[option.key()] = measure(option)
    chosen = by_key[min(seconds, key=seconds.__getitem__)]
    _write_cache(key, {"choice": chosen.key(), "seconds": seconds, "identity": identity,
                       "measured_at": time.time(), "pid": os.getpid()})
    return chosen, (f"compute: {chosen.describe()} (fastest of {len(options)} measured on "
                    f"{identity['cpu']}: {_timings_text(seconds)})")


def _timings_text(seconds: dict[str, float]) -> str:
    return ", ".join(f"{name} {value * 1000:.0f} ms" for name, value in
                     sorted(seconds.items(), key=lambda item: item[1]))
