"""Ingest a folder of physiological records (WFDB or PPG-DaLiA) into Parquet shards.

    python jobs/ingest_physio.py --source shared/data/wfdb --out data/shards
    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/ingest_physio.py --source /mnt/raw/ppg_dalia --out /mnt/shared/shards

Prints one progress line per stage and record, and ends with exactly one JSON line: the corpus
path, rows per split, totals (read/written/rejected), rejected by stage and seconds.
"""

import argparse
import json
import time
from pathlib import Path

from crossmodal_ray.pipelines.physio.ingest import FORMATS, PhysioIngestConfig, run_physio_ingest
from crossmodal_ray.training.ray_runtime import init_ray


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = PhysioIngestConfig(source="", out="")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, help="raw folder (WFDB records or S*/S*.pkl)")
    p.add_argument("--out", required=True, help="shard root; the corpus goes to <out>/<corpus>")
    p.add_argument("--corpus", default=None, help="corpus name (default: source folder name)")
    p.add_argument("--format", default="auto", choices=FORMATS)
    p.add_argument("--sample-rate-hz", type=float, default=defaults.sample_rate_hz)
    p.add_argument("--window-s", type=float, default=defaults.window_s)
    p.add_argument("--stride-s", type=float, default=defaults.stride_s)
    p.add_argument("--val-fraction", type=float, default=defaults.val_fraction)
    p.add_argument("--test-fraction", type=float, default=defaults.test_fraction)
    p.add_argument("--split-seed", type=int, default=defaults.split_seed)
    p.add_argument("--max-gap-s", type=float, default=defaults.max_gap_s)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--shard-rows", type=int, default=None, help="rows per shard file")
    size.add_argument("--shard-mb", type=float, default=defaults.shard_mb, help="MiB per shard")
    p.add_argument("--row-group-rows", type=int, default=defaults.row_group_rows)
    p.add_argument("--concurrency", type=int, default=None, help="records processed at once")
    p.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS or local)")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    init_ray(args.address, num_cpus=args.num_cpus)
    import ray

    ray.data.DataContext.get_current().enable_progress_bars = False
    config = PhysioIngestConfig(
        source=args.source,
        out=args.out,
        corpus=args.corpus,
        format=args.format,
        sample_rate_hz=args.sample_rate_hz,
        window_s=args.window_s,
        stride_s=args.stride_s,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        split_seed=args.split_seed,
        max_gap_s=args.max_gap_s,
        shard_rows=args.shard_rows,
        shard_mb=args.shard_mb,
        row_group_rows=args.row_group_rows,
        concurrency=args.concurrency,
    )
    manifest = run_physio_ingest(config)
    summary = {
        "corpus_path": str(Path(args.out).resolve() / manifest["corpus"]),
        "rows": {split: info["rows"] for split, info in manifest["splits"].items()},
        "totals": manifest["totals"],
        "records": manifest["records"],
        "rejected_by_stage": manifest["rejected_by_stage"],
        "windows_dropped_nan_gap": manifest["windows_dropped_nan_gap"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
