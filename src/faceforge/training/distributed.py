"""Where a run trains: one device, or one process of a torchrun launch (DDP over NCCL or gloo)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from faceforge.errors import UsageError


@dataclass(frozen=True)
class Placement:
    rank: int
    world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(distributed: bool, requested_device: str | None) -> Placement:
    """This process's rank, the number of processes and the device to train on."""
    if not distributed:
        device = torch.device(requested_device
                              or ("cuda" if torch.cuda.is_available() else "cpu"))
        return Placement(0, 1, device)
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise UsageError("--distributed must be launched with torchrun",
                         "e.g. torchrun --nproc-per-node 2 -m faceforge.cli train ...")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    use_cuda = torch.cuda.is_available() and requested_device != "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Placement(rank, world, device)


def same_on_every_rank(value: object, placement: Placement) -> object:
    """Rank 0's `value` on every rank (every process must train with the same settings)."""
    if placement.world == 1:
        return value
    holder = [value]
    torch.distributed.broadcast_object_list(holder, src=0)
    return holder[0]


def teardown(placement: Placement) -> None:
    if placement.world > 1 and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
