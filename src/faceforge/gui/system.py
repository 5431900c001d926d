"""The machine at a glance: CPU and memory load, free disk, and each GPU's use (what users
otherwise check with `top`, `df` and `nvidia-smi` in another terminal)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class GpuState:
    name: str
    utilisation_percent: float | None
    memory_used_mb: float
    memory_total_mb: float


@dataclass
class SystemState:
    cpu_percent: float
    cpus: int
    memory_used_mb: float
    memory_total_mb: float
    disk_free_gb: float
    disk_total_gb: float
    gpus: list[GpuState] = field(default_factory=list)


class SystemMonitor:
    """CPU use is measured between two calls (from /proc/stat), so keep one monitor."""

    def __init__(self, disk: Path) -> None:
        self.disk = disk
        self.last = self._cpu_times()

    @staticmethod
    def _cpu_times() -> tuple[float, float]:
        try:
            values = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0]
                      .split()[1:]]
        except (OSError, ValueError):
            return 0.0, 0.0
        idle = values[3] + (values[4] if len(values) > 4 else 0.0)
        return sum(values), idle

    def _cpu_percent(self) -> float:
        total, idle = self._cpu_times()
        last_total, last_idle = self.last
        self.last = (total, idle)
        busy = (total - last_total) - (idle - last_idle)
        return 100.0 * busy / (total - last_total) if total > last_total else 0.0

    def state(self) -> SystemState:
        memory = _meminfo()
        disk = shutil.disk_usage(self.disk)
        return SystemState(
            cpu_percent=self._cpu_percent(), cpus=os.cpu_count() or 1,
            memory_used_mb=(memory.get("MemTotal", 0) - memory.get("MemAvailable", 0)) / 1024,
            memory_total_mb=memory.get("MemTotal", 0) / 1024,
            disk_free_gb=disk.free / 1e9, disk_total_gb=disk.total / 1e9, gpus=_gpus())


def _meminfo() -> dict[str, float]:
    out = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            out[name] = float(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


_GPU_CACHE: tuple[float, list[GpuState]] = (0.0, [])


def _gpus() -> list[GpuState]:
    """From nvidia-smi when there is one (utilisation included); refreshed every 2 s."""
    global _GPU_CACHE
    stamp, cached = _GPU_CACHE
    if time.monotonic() - stamp < 2.0:
        return cached
    found: list[GpuState] = []
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,utilization.gpu,memory.used,memory.total",
                 "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5,
                check=True).stdout
            for line in out.strip().splitlines():
                name, util, used, total = (part.strip() for part in line.split(","))
                found.append(GpuState(name, float(util), float(used), float(total)))
        except (OSError, subprocess.SubprocessError, ValueError):
            found = []
    _GPU_CACHE = (time.monotonic(), found)
    return found


def describe(state: SystemState, running: str = "") -> str:
    """Markdown for the system panel."""
    lines = [f"**CPU** {state.cpu_percent:.0f}% of {state.cpus} cores · **memory** "
             f"{state.memory_used_mb / 1024:.1f} of {state.memory_total_mb / 1024:.1f} GB · "
             f"**free disk** {state.disk_free_gb:.1f} of {state.disk_total_gb:.0f} GB"]
    for index, gpu in enumerate(state.gpus):
        util = f"{gpu.utilisation_percent:.0f}%" if gpu.utilisation_percent is not None else "?"
        lines.append(f"**GPU {index}** {gpu.name}: {util} busy, memory "
                     f"{gpu.memory_used_mb / 1024:.1f} of {gpu.memory_total_mb / 1024:.1f} GB")
    if not state.gpus:
        lines.append("no GPU: jobs run on the CPU")
    if running:
        lines.append(running)
    return "  \n".join(lines)
