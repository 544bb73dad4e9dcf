"""Window keys for the contrastive losses, computed in the collate from the shard's columns.

The losses exclude, per anchor, its own sample and the overlapping windows of its recording
from the negatives (:mod:`crossmodal_ray.models.losses.negative_exclusion`). They compare
numbers, so the collate turns the string columns into stable 53-bit integer codes (exact in
float64, in which the keys travel through one all-gather): equal strings give equal codes on
every rank and in every run.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from crossmodal_ray.models.losses.negative_exclusion import WindowKeys

CODE_BITS = 53


def string_codes(values: np.ndarray) -> np.ndarray:
    """int64 [n]: a stable 53-bit hash (BLAKE2b) of each string."""
    mask = (1 << CODE_BITS) - 1
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(str(v).encode(), digest_size=8).digest(), "little")
            & mask
            for v in values
        ),
        dtype=np.int64,
        count=len(values),
    )


def window_key_tensors(
    batch: dict[str, np.ndarray],
    sample: str = "sample_id",
    source: str = "source",
    start: str = "start_s",
) -> dict[str, torch.Tensor]:
    """``key_sample``, ``key_source`` (int64) and ``key_start_s`` (float64) tensors of a batch."""
    return {
        "key_sample": torch.from_numpy(string_codes(batch[sample])),
        "key_source": torch.from_numpy(string_codes(batch[source])),
        "key_start_s": torch.from_numpy(np.asarray(batch[start], dtype=np.float64).copy()),
    }


def window_keys_of(batch: dict[str, torch.Tensor]) -> WindowKeys | None:
    """The :class:`WindowKeys` of a collated batch (None when it carries none)."""
    if "key_sample" not in batch:
        return None
    return WindowKeys(batch["key_sample"], batch["key_source"], batch["key_start_s"])
