"""One rank's batches of one epoch: its blocks in plan order through a seeded shuffle buffer.

Runs on a training worker. A background thread fetches the rank's blocks from the object store
(in the order :class:`~crossmodal_ray.training.epoch_order.EpochOrder` gives), turns them into
numpy columns, mixes them in a shuffle buffer and hands out full batches, collated by the task
(``task.collate``) in the same thread, so fetching, shuffling and collating overlap the training
step. The buffer draws each batch uniformly without replacement from at least
``shuffle_buffer_rows`` rows (``0``: no shuffle, rows in block order); its generator is seeded
by ``(seed, epoch, rank)``, so a given epoch and rank always give the same batches.

Resume: the first ``skip_batches`` batches are drawn (the generator advances exactly as in the
interrupted run) but neither collated nor returned; the iterator then yields the batches the
interrupted run had not trained on, and stops after ``steps`` batches in all.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import ray
from ray.data.block import BlockAccessor

_DONE = object()


def concat_tables(tables: list[pa.Table]) -> pa.Table:
    """Rows of ``tables`` in order; blocks whose column types differ only as Arrow infers them
    (``list<null>`` for a block of empty lists, ``int32`` beside ``int64``) are unified."""
    return pa.concat_tables(tables, promote_options="permissive")


class ShuffleBuffer:
    """Rows (an Arrow table) from which batches are drawn uniformly without replacement.

    Rows stay in Arrow until a batch is drawn, then the batch becomes numpy columns the way
    Ray Data's ``iter_batches`` makes them (tensor columns as ndarrays, strings and ragged
    lists as object arrays), so blocks whose list columns happen to be regular mix with
    ragged ones.
    """

    def __init__(self, batch_size: int, min_rows: int, rng: np.random.Generator) -> None:
        self.batch_size = batch_size
        self.min_rows = min_rows
        self.rng = rng
        self.table: pa.Table | None = None

    def __len__(self) -> int:
        return 0 if self.table is None else self.table.num_rows

    def add(self, block: Any) -> None:
        table = BlockAccessor.for_block(block).to_arrow()
        self.table = table if self.table is None else concat_tables([self.table, table])

    def ready(self, final: bool) -> bool:
        """A batch can be drawn: enough rows to mix, or the input is exhausted."""
        need = self.batch_size if final else self.batch_size + self.min_rows
        return len(self) >= need

    def draw(self) -> dict[str, np.ndarray]:
        """One batch: random rows (the first rows when ``min_rows`` is 0), removed from the
        buffer."""
        assert self.table is not None
        n = self.table.num_rows
        if self.min_rows > 0:
            taken = self.rng.choice(n, size=self.batch_size, replace=False)
        else:
            taken = np.arange(self.batch_size)
        kept = np.ones(n, dtype=bool)
        kept[taken] = False
        batch = self.table.take(pa.array(taken))
        self.table = self.table.filter(pa.array(kept))
        return BlockAccessor.for_block(batch).to_batch_format("numpy")


def draw_batches(
    block_refs: Sequence[ray.ObjectRef],
    batch_size: int,
    shuffle_buffer_rows: int,
    rng: np.random.Generator,
) -> Iterator[dict[str, np.ndarray]]:
    """Every full batch of the blocks, in draw order (the last partial batch is dropped)."""
    buffer = ShuffleBuffer(batch_size, shuffle_buffer_rows, rng)
    for ref in block_refs:
        buffer.add(ray.get(ref))
        while buffer.ready(final=False):
            yield buffer.draw()
    while buffer.ready(final=True):
        yield buffer.draw()


def iter_epoch_batches(
    block_refs: Sequence[ray.ObjectRef],
    batch_size: int,
    shuffle_buffer_rows: int,
    rng: np.random.Generator,
    steps: int,
    skip_batches: int = 0,
    collate: Callable[[dict[str, np.ndarray]], Any] | None = None,
    prefetch_batches: int = 2,
) -> Iterator[Any]:
    """Batches ``skip_batches`` .. ``steps - 1`` of one rank's epoch, prepared in a thread.

    Raises:
        RuntimeError: the blocks hold fewer than ``steps`` full batches (a plan error).
        Any exception of fetching or collating, re-raised in the consumer.
    """
    results: queue.Queue = queue.Queue(maxsize=max(1, prefetch_batches))
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            drawn = 0
            for batch in draw_batches(block_refs, batch_size, shuffle_buffer_rows, rng):
                if drawn >= steps:
                    break
                drawn += 1
                if drawn <= skip_batches:
                    continue
                if not put(collate(batch) if collate is not None else batch):
                    return
            if drawn < steps:
                raise RuntimeError(f"the rank's blocks gave {drawn} batches, the plan {steps}")
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    thread = threading.Thread(target=produce, name="epoch-batches", daemon=True)
    thread.start()
    try:
        while True:
            item = results.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)
