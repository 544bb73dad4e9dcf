"""The rows a task validates on: the whole extra dataset, on rank 0 only.

Tasks that validate on a held-out split (``validation_datasets = ("val",)``) compute their
metrics on rank 0 over the whole split (the trainer passes extra datasets to every worker
whole) and return ``{}`` elsewhere; the loop broadcasts rank 0's result.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def rank_zero_validation_batches(dataset: str, batch_size: int) -> Iterator[dict[str, Any]] | None:
    """Numpy batches of the extra dataset ``dataset`` on rank 0; ``None`` on other ranks or
    when the run has no such dataset."""
    import ray.train

    if ray.train.get_context().get_world_rank() != 0:
        return None
    try:
        shard = ray.train.get_dataset_shard(dataset)
    except KeyError:
        return None
    return shard.iter_batches(batch_size=batch_size, batch_format="numpy")
