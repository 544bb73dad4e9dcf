"""Which training blocks each rank reads in which epoch: a seeded permutation per epoch.

The training split is cut once into ``K`` small contiguous blocks (``training_blocks.py``;
``K`` a multiple of the world size ``W``). Every epoch draws a fresh permutation of the ``K``
blocks from ``(seed, epoch)``; rank ``r`` reads blocks ``perm[r*m:(r+1)*m]`` (``m = K/W``)
through a seeded shuffle buffer (``block_batches.py``, seeded by ``(seed, epoch, rank)``). So

- across epochs, every rank meets windows of every record (a record spans a few blocks, and
  each block lands on a uniformly random rank each epoch): the local part of the loss and the
  queue see the whole split, not a fixed half of it as with ``streaming_split``;
- two epochs give different batches;
- the order is a pure function of ``(seed, epoch, rank, block sizes)``: a resumed run (worker
  failure or resubmission) replays exactly the batches the interrupted run would have seen,
  skipping the ones it already trained on.

Every rank runs the same number of steps per epoch: the row count of the ``m`` smallest blocks
divided by the batch size (blocks differ by at most one row), so the collectives never hang.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

# Distinct streams of the same seed: block permutation vs. shuffle buffer.
_BLOCK_STREAM = 0xB10C
_SHUFFLE_STREAM = 0x5F1E


@dataclass(frozen=True)
class EpochOrder:
    """The per-epoch block plan of one run.

    Attributes:
        block_rows: Rows of each training block, in block order.
        world_size: Training workers.
        batch_size: Rows per local batch.
        seed: The run's data-order seed (``TrainLoopConfig.seed``).
    """

    block_rows: tuple[int, ...]
    world_size: int
    batch_size: int
    seed: int

    def __post_init__(self) -> None:
        if self.world_size < 1 or self.batch_size < 1:
            raise ValueError("world_size and batch_size must be positive")
        if len(self.block_rows) < self.world_size:
            raise ValueError(
                f"{len(self.block_rows)} training blocks cannot feed {self.world_size} workers"
            )

    @property
    def blocks_per_rank(self) -> int:
        return len(self.block_rows) // self.world_size

    @property
    def steps_per_epoch(self) -> int:
        """Full local batches every rank has in every epoch, whatever blocks it draws."""
        smallest = sorted(self.block_rows)[: self.blocks_per_rank]
        return sum(smallest) // self.batch_size

    def rank_blocks(self, epoch: int, rank: int) -> list[int]:
        """Indices of the blocks ``rank`` reads in ``epoch``, in reading order."""
        if not 0 <= rank < self.world_size:
            raise ValueError(f"rank {rank} outside world size {self.world_size}")
        rng = np.random.default_rng([self.seed, _BLOCK_STREAM, epoch])
        permutation = rng.permutation(len(self.block_rows))
        m = self.blocks_per_rank
        return [int(i) for i in permutation[rank * m : (rank + 1) * m]]

    def shuffle_rng(self, epoch: int, rank: int) -> np.random.Generator:
        """The generator of ``rank``'s shuffle buffer in ``epoch``."""
        return np.random.default_rng([self.seed, _SHUFFLE_STREAM, epoch, rank])

    def fingerprint(self) -> str:
        """Identifies the plan: a resumed run with another fingerprint cannot replay exactly."""
        text = (
            f"{self.seed}|{self.world_size}|{self.batch_size}|{','.join(map(str, self.block_rows))}"
        )
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    def describe(self) -> dict:
        """JSON summary saved in every checkpoint's train state."""
        return {
            "seed": self.seed,
            "blocks": len(self.block_rows),
            "blocks_per_rank": self.blocks_per_rank,
            "rows": int(sum(self.block_rows)),
            "steps_per_epoch": self.steps_per_epoch,
            "fingerprint": self.fingerprint(),
        }
