"""The per-epoch data plan and the shuffle buffer, without Ray Train: every rank meets every
record over the epochs, epochs differ, every rank runs the same steps, and the same (seed,
epoch, rank) always gives the same batches, which is what exact resume replays."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from crossmodal_ray.training.block_batches import ShuffleBuffer, iter_epoch_batches
from crossmodal_ray.training.epoch_order import EpochOrder
from crossmodal_ray.training.training_blocks import block_count


def contiguous_blocks(records: int, windows: int, block_rows: int) -> list[np.ndarray]:
    """Row ids of a single-file corpus (a record's windows are consecutive) cut in blocks."""
    rows = records * windows
    k = block_count(rows, 2, block_rows)
    return [np.asarray(part) for part in np.array_split(np.arange(rows), k)]


def test_every_rank_meets_every_record_and_epochs_differ():
    windows = 21
    blocks = contiguous_blocks(records=14, windows=windows, block_rows=4)
    order = EpochOrder(tuple(len(b) for b in blocks), world_size=2, batch_size=8, seed=0)
    met = {0: set(), 1: set()}
    plans = []
    for epoch in range(3):
        plan = [order.rank_blocks(epoch, rank) for rank in (0, 1)]
        plans.append(plan)
        # The ranks share out the blocks: no block read twice in an epoch.
        assert not set(plan[0]) & set(plan[1])
        for rank in (0, 1):
            met[rank] |= {int(i) // windows for b in plan[rank] for i in blocks[b]}
    assert met[0] == met[1] == set(range(14))
    assert plans[0] != plans[1] != plans[2]
    # Unlike streaming_split, a rank does not read the same blocks in every epoch.
    assert order.rank_blocks(0, 0) != order.rank_blocks(1, 0)


def test_steps_per_epoch_fit_every_rank_in_every_epoch():
    order = EpochOrder((5, 5, 4, 4, 4, 5), world_size=2, batch_size=2, seed=3)
    assert order.steps_per_epoch == (4 + 4 + 4) // 2
    for epoch in range(20):
        for rank in (0, 1):
            rows = sum(order.block_rows[b] for b in order.rank_blocks(epoch, rank))
            assert rows // order.batch_size >= order.steps_per_epoch


def test_the_fingerprint_names_what_changes_the_order():
    base = EpochOrder((4, 4, 4, 4), world_size=2, batch_size=2, seed=0)
    assert base.fingerprint() == EpochOrder((4, 4, 4, 4), 2, 2, 0).fingerprint()
    for other in (
        EpochOrder((4, 4, 4, 4), 2, 2, 1),
        EpochOrder((4, 4, 4, 4), 1, 2, 0),
        EpochOrder((4, 4, 4, 4), 2, 4, 0),
        EpochOrder((4, 4, 4, 3), 2, 2, 0),
    ):
        assert other.fingerprint() != base.fingerprint()


def _table(ids: np.ndarray) -> pa.Table:
    return pa.table({"row_id": ids, "ragged": [list(range(int(i) % 3)) for i in ids]})


def test_shuffle_buffer_mixes_blocks_and_keeps_every_row_once():
    buffer = ShuffleBuffer(batch_size=8, min_rows=32, rng=np.random.default_rng(0))
    drawn = []
    for start in range(0, 96, 16):
        buffer.add(_table(np.arange(start, start + 16)))
        while buffer.ready(final=False):
            drawn.append(buffer.draw())
    while buffer.ready(final=True):
        drawn.append(buffer.draw())
    ids = np.concatenate([batch["row_id"] for batch in drawn])
    assert sorted(ids.tolist()) == list(range(96))
    # Batches mix several blocks of 16 rows.
    assert np.mean([len(set((b["row_id"] // 16).tolist())) for b in drawn]) > 2
    # Ragged list columns come out as Ray Data's iter_batches makes them.
    assert all(
        len(v) == int(i) % 3 for b in drawn for i, v in zip(b["row_id"], b["ragged"], strict=True)
    )


def test_no_shuffle_keeps_block_order():
    buffer = ShuffleBuffer(batch_size=4, min_rows=0, rng=np.random.default_rng(0))
    buffer.add(_table(np.arange(10)))
    assert buffer.draw()["row_id"].tolist() == [0, 1, 2, 3]


@pytest.mark.usefixtures("ray_session")
def test_skipping_replays_the_rest_of_the_epoch_exactly():
    import ray

    refs = [ray.put(_table(np.arange(s, s + 12))) for s in range(0, 72, 12)]
    order = EpochOrder((12,) * 6, world_size=1, batch_size=4, seed=7)

    def epoch(skip: int) -> list[list[int]]:
        batches = iter_epoch_batches(
            refs, 4, 16, order.shuffle_rng(0, 0), steps=order.steps_per_epoch, skip_batches=skip
        )
        return [b["row_id"].tolist() for b in batches]

    whole = epoch(0)
    assert len(whole) == order.steps_per_epoch == 18
    assert epoch(5) == whole[5:]
    assert whole != sorted(whole)  # shuffled


@pytest.mark.usefixtures("ray_session")
def test_a_failing_collate_reaches_the_training_loop():
    import ray

    refs = [ray.put(_table(np.arange(8)))]

    def broken(batch):
        raise ValueError("bad row in collate")

    batches = iter_epoch_batches(refs, 4, 0, np.random.default_rng(0), steps=2, collate=broken)
    with pytest.raises(ValueError, match="bad row in collate"):
        next(iter(batches))
