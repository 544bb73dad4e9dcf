"""Ingest a folder of physiological records (WFDB or PPG-DaLiA) into Parquet shards.

    python jobs/ingest_physio.py                       # the bundled sample corpus (made if missing)
    python jobs/ingest_physio.py --source ../shared/data/wfdb --out data/shards
    python jobs/ingest_physio.py --source /data/PPG_FieldStudy --out s3://bucket/shards
    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/ingest_physio.py --source /mnt/shared/raw/my_wfdb --out /mnt/shared/shards

Prints a line per listing and per shard task (and one per rejected record), and ends with one
JSON line: the corpus location, rows per split, totals (read/written/rejected), records,
rejected by stage, windows dropped over NaN gaps and seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

# Before anything imports Ray: loopback-only local Ray, token authentication, no telemetry.
apply_local_ray_env()

from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.physio.ingest import run_physio_ingest
from crossmodal_ray.pipelines.physio.prepare import SAMPLE_RAW_DIR, ensure_sample_records
from crossmodal_ray.pipelines.physio.source import PhysioSourceConfig
from crossmodal_ray.training.cli_flags import add_config_flags, config_from_flags


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_flags(parser, PhysioSourceConfig, title="raw corpus")
    add_config_flags(parser, IngestConfig, title="shards")
    run = parser.add_argument_group("Ray")
    run.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS or local)")
    run.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    source = config_from_flags(PhysioSourceConfig, args)
    ingest = config_from_flags(IngestConfig, args)
    if "source" not in vars(args):
        ensure_sample_records(SAMPLE_RAW_DIR, log=print)
    if ingest.concurrency is None and not (args.address or os.environ.get("RAY_ADDRESS")):
        # A local Ray has at least 4 logical CPUs (init_ray), but decoding is CPU-bound: more
        # decoders than this machine's cores only add worker start-ups (imports) to the run.
        ingest.concurrency = args.num_cpus or os.cpu_count() or 1
    # No Ray Train here: a local Ray without the dashboard starts seconds sooner.
    init_ray(args.address, num_cpus=args.num_cpus, dashboard=False)
    manifest = run_physio_ingest(source, ingest)
    summary = {
        "corpus_path": storage.join(ingest.out, manifest["corpus"]),
        "rows": {split: info["rows"] for split, info in manifest["splits"].items()},
        "totals": manifest["totals"],
        "records": manifest["inputs"],
        "rejected_by_stage": manifest["rejected_by_stage"],
        "windows_dropped_nan_gap": manifest["windows_dropped_nan_gap"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
