"""The training split cut once into small contiguous blocks in Ray's object store (driver side).

Why blocks instead of ``streaming_split``: ``streaming_split`` hands each rank whatever blocks
the executor produces next, i.e. the same half of a single-file corpus every epoch, in the same
order, and in an order a resumed run cannot replay. Here the driver materialises the task's
columns once, in file order (``preserve_order``), and cuts the rows into ``K`` contiguous
blocks of at most ``block_rows`` rows (``K`` a multiple of the worker count); the workers fetch
the blocks the per-epoch plan gives them (:mod:`crossmodal_ray.training.epoch_order`) straight
from the object store. Small blocks keep a record's windows in several blocks, so a record's
windows reach several ranks in one epoch and different ranks in different epochs.

Cost, measured on the sample corpus (``benchmarks/epoch_order_cost.py``): one cut at the
start of the run, then nothing per epoch; a full ``random_shuffle`` per epoch moves the
whole split through the object store every epoch. The split is held once in the object store
(Ray spills it to disk when it is larger than memory); a sweep builds it once for all trials.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import ray
import ray.data
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

DEFAULT_BLOCK_ROWS = 64


@dataclass(frozen=True)
class BlockPlan:
    """The training blocks: one object reference and one row count per block.

    The workers receive it in the loop config; the driver's copy keeps the blocks alive in the
    object store for as long as it holds it (a sweep holds one for all its trials).
    """

    refs: tuple[ray.ObjectRef, ...]
    rows: tuple[int, ...]
    columns: tuple[str, ...]

    @property
    def total_rows(self) -> int:
        return int(sum(self.rows))


def block_count(rows: int, num_workers: int, block_rows: int) -> int:
    """The number of blocks: at least one per worker, a multiple of ``num_workers``, blocks of
    at most ``block_rows`` rows."""
    if rows < 1:
        raise ValueError("the training split has no rows")
    per_worker = math.ceil(rows / (num_workers * max(1, block_rows)))
    return num_workers * max(1, per_worker)


def equal_cuts(rows: int, blocks: int) -> list[tuple[int, int]]:
    """``[start, end)`` row ranges of ``blocks`` contiguous blocks whose sizes differ by <= 1."""
    bounds = [rows * i // blocks for i in range(blocks + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def pieces_of(counts: list[int], start: int, end: int) -> list[tuple[int, int, int]]:
    """``(input block, offset, length)`` pieces that make up rows ``[start, end)`` of the
    concatenation of input blocks with ``counts`` rows."""
    pieces, first = [], 0
    for index, count in enumerate(counts):
        lo, hi = max(start, first), min(end, first + count)
        if lo < hi:
            pieces.append((index, lo - first, hi - lo))
        first += count
    return pieces


# A whole CPU per cut task: with a fraction (it was 0.25) Ray runs up to 1/fraction tasks per
# CPU at once and starts a worker process for each (Python, Ray and pyarrow imports: 1-2 s of
# CPU apiece). On 2 cores (busy) building the 4,158-row sample split's blocks took 10.8 and
# 14.5 s with 0.25 CPU against 1.9 and 2.4 s with 1, materialising included (the start-up of
# ``benchmarks/train_throughput.py``); the slicing itself takes milliseconds. Materialising the
# split already needs whole CPUs (Ray Data's read tasks), so this asks for nothing new.
@ray.remote(num_cpus=1)
def _concat_slices(offsets: list[tuple[int, int]], *blocks: Any) -> pa.Table:
    """One output block: the given ``(offset, length)`` slice of each input block, in order."""
    from ray.data.block import BlockAccessor

    from crossmodal_ray.training.block_batches import concat_tables

    tables = [
        BlockAccessor.for_block(block).to_arrow().slice(offset, length)
        for block, (offset, length) in zip(blocks, offsets, strict=True)
    ]
    return concat_tables(tables).combine_chunks()


def build_training_blocks(
    dataset: ray.data.Dataset,
    columns: tuple[str, ...],
    num_workers: int,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> BlockPlan:
    """Materialise ``dataset``'s ``columns`` in order and cut the rows into contiguous blocks.

    The cut is computed from row positions only (not from how Ray Data happened to partition
    the rows), so the driver of a resubmitted run rebuilds exactly the same blocks and the run
    resumes in the same order.
    """
    selected = dataset.select_columns(list(columns))
    options = selected.context.execution_options  # the context this dataset executes with
    preserve = options.preserve_order
    options.preserve_order = True
    try:
        materialized = selected.materialize()
    finally:
        options.preserve_order = preserve
    in_refs, in_counts = [], []
    for bundle in materialized.iter_internal_ref_bundles():
        for ref, metadata in zip(bundle.block_refs, bundle.metadata, strict=True):
            in_refs.append(ref)
            in_counts.append(int(metadata.num_rows))
    rows = sum(in_counts)
    # Out of any placement group the caller runs in (a Tune trial's driver holds a bundle of
    # 0.01 CPU, which would capture these tasks and never fit them); Ray Data does the same.
    cut = _concat_slices.options(
        scheduling_strategy=PlacementGroupSchedulingStrategy(placement_group=None)
    )
    refs, counts = [], []
    for start, end in equal_cuts(rows, block_count(rows, num_workers, block_rows)):
        pieces = pieces_of(in_counts, start, end)
        offsets = [(offset, length) for _, offset, length in pieces]
        refs.append(cut.remote(offsets, *[in_refs[i] for i, _, _ in pieces]))
        counts.append(end - start)
    # Once the blocks exist, the materialised split they were cut from can be freed.
    ray.wait(refs, num_returns=len(refs), fetch_local=False)
    return BlockPlan(tuple(refs), tuple(counts), tuple(columns))
