"""What a new global data order per epoch costs: the block plan against a full random shuffle.

    python benchmarks/epoch_order_cost.py                       # the sample corpus
    python benchmarks/epoch_order_cost.py --shards-dir S --corpus NAME --epochs 3

On the training split of a corpus (the MBSL pretraining columns), measured on the driver with a
local Ray:

* ``blocks``: :func:`training.training_blocks.build_training_blocks` once (materialise in file
  order, cut into blocks of ``--block-rows``), then per epoch one rank's reading of its blocks
  through the seeded shuffle buffer (``training.block_batches``);
* ``random_shuffle``: per epoch ``Dataset.random_shuffle()`` then ``iter_batches`` with
  ``streaming_split`` semantics left aside (the whole split read once).

Also, from the first epoch of the block plan on 2 ranks: records per batch, the share of the
largest record in a batch, and how many of the training records each rank meets in one and in
three epochs (``streaming_split`` met the same half in every epoch), and the share of anchors
that meet an overlapping window of their own recording in their batch (the near-duplicate
negatives ``--mask-overlapping-negatives`` leaves out). The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

apply_local_ray_env()

import numpy as np  # noqa: E402

from crossmodal_ray.pipelines.core.shard_reader import read_split  # noqa: E402
from crossmodal_ray.pipelines.physio.prepare import (  # noqa: E402
    PhysioCorpusConfig,
    prepare_physio_corpus,
)
from crossmodal_ray.training.block_batches import iter_epoch_batches  # noqa: E402
from crossmodal_ray.training.epoch_order import EpochOrder  # noqa: E402
from crossmodal_ray.training.tasks.mbsl import KEY_COLUMNS, SIGNAL_COLUMNS  # noqa: E402
from crossmodal_ray.training.training_blocks import build_training_blocks  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shards-dir", default="data/shards")
    parser.add_argument("--corpus", default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--block-rows", type=int, default=64)
    parser.add_argument("--shuffle-buffer-rows", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=3)
    return parser.parse_args()


def overlap_share(batch: dict, window_s: float) -> float:
    """Share of the batch's windows that meet another window of their recording overlapping
    them (starts less than ``window_s`` apart): the near-duplicate negatives the loss masks."""
    sources, starts = batch["source"], np.asarray(batch["start_s"], dtype=np.float64)
    same = sources[:, None] == sources[None, :]
    close = np.abs(starts[:, None] - starts[None, :]) < window_s
    np.fill_diagonal(same, False)
    return float(np.mean((same & close).any(axis=1)))


def main() -> dict:
    args = parse_args()
    init_ray(num_cpus=2)
    config = PhysioCorpusConfig(shards_dir=args.shards_dir, corpus=args.corpus)
    corpus, manifest = prepare_physio_corpus(config)
    train = read_split(args.shards_dir, corpus, "train")
    columns = SIGNAL_COLUMNS + KEY_COLUMNS
    rows = int(manifest["splits"]["train"]["rows"])
    print(f"[bench] {corpus}: {rows} training windows", flush=True)

    started = time.perf_counter()
    plan = build_training_blocks(train, columns, args.workers, args.block_rows)
    build_s = time.perf_counter() - started
    order = EpochOrder(plan.rows, args.workers, args.batch, seed=0)
    epoch_s, records_per_batch, largest_share, overlapping = [], [], [], []
    met: dict[int, list[set]] = {r: [] for r in range(2)}
    for epoch in range(args.epochs):
        started = time.perf_counter()
        for rank in range(args.workers):
            batches = iter_epoch_batches(
                [plan.refs[i] for i in order.rank_blocks(epoch, rank)],
                args.batch,
                args.shuffle_buffer_rows,
                order.shuffle_rng(epoch, rank),
                steps=order.steps_per_epoch,
            )
            seen = set()
            for batch in batches:
                sources = batch["source"]
                seen.update(sources.tolist())
                if epoch == 0:
                    _, counts = np.unique(sources, return_counts=True)
                    records_per_batch.append(len(counts))
                    largest_share.append(counts.max() / len(sources))
                    overlapping.append(overlap_share(batch, float(manifest["window_s"])))
            if rank < 2:
                met[rank].append(seen)
        epoch_s.append((time.perf_counter() - started) / args.workers)
        print(f"[bench] block plan epoch {epoch + 1}: {epoch_s[-1]:.2f} s per rank", flush=True)

    shuffle_s = []
    for epoch in range(args.epochs):
        started = time.perf_counter()
        shuffled = train.select_columns(list(columns)).random_shuffle(seed=epoch)
        for _ in shuffled.iter_batches(batch_size=args.batch, batch_format="numpy"):
            pass
        shuffle_s.append(time.perf_counter() - started)
        print(f"[bench] random_shuffle epoch {epoch + 1}: {shuffle_s[-1]:.2f} s", flush=True)

    records = len(set().union(*met[0], *met[1]))
    result = {
        "corpus": corpus,
        "train_rows": rows,
        "workers": args.workers,
        "blocks": len(plan.rows),
        "block_rows": args.block_rows,
        "blocks_build_s": round(build_s, 2),
        "blocks_epoch_s_per_rank": round(statistics.median(epoch_s), 2),
        "random_shuffle_epoch_s": round(statistics.median(shuffle_s), 2),
        "records_per_batch_mean": round(float(np.mean(records_per_batch)), 2),
        "anchors_with_an_overlapping_in_batch_window": round(float(np.mean(overlapping)), 3),
        "largest_record_share_mean": round(float(np.mean(largest_share)), 3),
        "training_records": records,
        "records_met_per_rank_epoch1": [len(met[r][0]) for r in range(2)],
        "records_met_per_rank_all_epochs": [len(set().union(*met[r])) for r in range(2)],
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
