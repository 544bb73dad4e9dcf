"""Ingest an image-text corpus (COCO captions + boxes, or Visual Genome v1.4) into Parquet shards.

    python jobs/ingest_image_text.py                  # the bundled sample corpus's COCO folder
    python jobs/ingest_image_text.py --source ../shared/data/coco_mini --out data/shards
    python jobs/ingest_image_text.py --source /data/vg --format visual_genome --out s3://b/shards
    python jobs/ingest_image_text.py --source /data/coco --image-storage uint8 --image-size 256
    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/ingest_image_text.py --source /mnt/shared/raw/coco --out /mnt/shared/shards

One row per image (all its captions, boxes / objects, relations, regions), the image resized and
centre-cropped to --image-size and stored as JPEG bytes or a uint8 tensor
(pipelines/image_text/schema.py). Without --source, the bundled synthetic sample corpus is
generated first (data/raw/image_text_sample, cached) and its coco/ folder ingested (its
visual_genome/ folder with --format visual_genome).

Prints a line per listing and per shard task (and one per rejected image), and ends with one
JSON line: the corpus location, rows per split, totals (read/written/rejected), images,
rejected by stage, dropped parts by kind, annotation counts and seconds.
"""

from __future__ import annotations

import argparse
import json
import time

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

# Before anything imports Ray: loopback-only local Ray, token authentication, no telemetry.
apply_local_ray_env()

from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.image_text.ingest import run_image_text_ingest
from crossmodal_ray.pipelines.image_text.source import ImageTextSourceConfig
from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (
    SAMPLE_IMAGE_TEXT_DIR,
    make_image_text_corpus,
)
from crossmodal_ray.training.cli_flags import add_config_flags, config_from_flags


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_flags(parser, ImageTextSourceConfig, title="raw corpus")
    add_config_flags(parser, IngestConfig, title="shards")
    run = parser.add_argument_group("Ray")
    run.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS or local)")
    run.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    overrides = {}
    if "source" not in vars(args):
        # The sample corpus holds both layouts: coco/ and visual_genome/ (per --format).
        layout = vars(args).get("format", "coco")
        print(
            f"[ingest] no --source: the sample corpus {SAMPLE_IMAGE_TEXT_DIR}/{layout}", flush=True
        )
        sample = make_image_text_corpus(SAMPLE_IMAGE_TEXT_DIR)
        overrides = {"source": str(sample / layout)}
    source = config_from_flags(ImageTextSourceConfig, args, **overrides)
    ingest = config_from_flags(IngestConfig, args)
    # No Ray Train here: a local Ray without the dashboard starts seconds sooner.
    init_ray(args.address, num_cpus=args.num_cpus, dashboard=False)
    manifest = run_image_text_ingest(source, ingest)
    summary = {
        "corpus_path": storage.join(ingest.out, manifest["corpus"]),
        "format": manifest["format"],
        "rows": {split: info["rows"] for split, info in manifest["splits"].items()},
        "totals": manifest["totals"],
        "images": manifest["inputs"],
        "rejected_by_stage": manifest["rejected_by_stage"],
        "dropped": manifest["dropped"],
        "counts": manifest["counts"],
        "image_storage": manifest["image_storage"],
        "image_size": manifest["image_size"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
