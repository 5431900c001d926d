"""Which faces go into each batch: shuffled passes over a face set, like Faceswap's."""

from __future__ import annotations

import torch


class Sampler:
    """Every face once per epoch, in a new random order each epoch; batches may span epochs."""

    def __init__(self, count: int, generator: torch.Generator) -> None:
        if count < 1:
            raise ValueError("a sampler needs at least one face")
        self.count, self.generator = count, generator
        self.order = torch.empty(0, dtype=torch.long)
        self.position = 0

    def next(self, batch_size: int) -> torch.Tensor:
        """Indices of the next `batch_size` faces."""
        picks = []
        while batch_size > 0:
            if self.position >= len(self.order):
                self.order = torch.randperm(self.count, generator=self.generator)
                self.position = 0
            take = min(batch_size, len(self.order) - self.position)
            picks.append(self.order[self.position:self.position + take])
            self.position += take
            batch_size -= take
        return torch.cat(picks)
