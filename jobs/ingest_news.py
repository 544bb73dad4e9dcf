"""Ingest news posts with images (MediaEval 2015/2016, Weibo in the EANN layout) into Parquet shards.

    python jobs/ingest_news.py                      # the bundled sample corpus (MediaEval layout)
    python jobs/ingest_news.py --format weibo       # the bundled sample corpus (Weibo layout)
    python jobs/ingest_news.py --source ../shared/data/mediaeval --split-by event --out data/shards
    python jobs/ingest_news.py --source /data/weibo --format weibo --out s3://bucket/shards
    python jobs/ingest_news.py --source /data/mediaeval2015 --keep-humor --first-image-only
    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/ingest_news.py --source /mnt/shared/raw/mediaeval --out /mnt/shared/shards

One row per post image (text, JPEG resized and centre-cropped to --image-size, label 1 fake /
0 real, event, ids; pipelines/news/schema.py). Bad posts (malformed lines, bad UTF-8, unknown
labels, humor unless --keep-humor, empty text, no image file, broken images, repeated post ids)
go to _rejected/ with their reason. --split-by corpus keeps the corpus's test set and carves val
from the training events; --split-by event hashes the events into train/val/test (what the
real MediaEval download needs: only its test posts have local images). Without --source, the
bundled sample corpus is generated first (data/raw/news_sample, cached) and its <format>/
folder ingested.

Prints a line per listing and per shard task (and one per rejected post), and ends with one
JSON line: the corpus location, rows and posts per split, group keys (events; Weibo: posts)
per split, posts (read/written/rejected), row totals, rejected by stage, dropped images and
seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

# Before anything imports Ray: loopback-only local Ray, token authentication, no telemetry.
apply_local_ray_env()

from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.news.ingest import run_news_ingest
from crossmodal_ray.pipelines.news.source import SAMPLE_NEWS_DIR, NewsSourceConfig
from crossmodal_ray.pipelines.sample_corpus.news.corpus import make_news_corpus
from crossmodal_ray.training.cli_flags import add_config_flags, config_from_flags


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_flags(parser, NewsSourceConfig, title="raw corpus")
    add_config_flags(parser, IngestConfig, title="shards")
    run = parser.add_argument_group("Ray")
    run.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS or local)")
    run.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray")
    return parser.parse_args(argv)


def sample_source(layout: str) -> str:
    """``data/raw/news_sample/<layout>``, generated first (cached by the generator)."""
    print(f"[ingest] no --source: the sample corpus {SAMPLE_NEWS_DIR}/{layout}", flush=True)
    return str(Path(make_news_corpus(SAMPLE_NEWS_DIR)) / layout)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    overrides = {}
    if not vars(args).get("source"):
        overrides = {"source": sample_source(vars(args).get("format", "mediaeval"))}
    source = config_from_flags(NewsSourceConfig, args, **overrides)
    ingest = config_from_flags(IngestConfig, args)
    init_ray(args.address, num_cpus=args.num_cpus)
    manifest = run_news_ingest(source, ingest)
    splits = manifest["splits"]
    summary = {
        "corpus_path": storage.join(ingest.out, manifest["corpus"]),
        "format": manifest["format"],
        "split_by": manifest["split_by"],
        "rows": {split: info["rows"] for split, info in splits.items()},
        "posts_per_split": manifest["posts_per_split"],
        "group_key": manifest["group_key"],
        "group_keys_per_split": {split: len(info["keys"]) for split, info in splits.items()},
        "posts": manifest["posts"],
        "totals": manifest["totals"],
        "rejected_by_stage": manifest["rejected_by_stage"],
        "images_dropped": manifest["images_dropped"],
        "labels_per_split": manifest["labels_per_split"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return summary


if __name__ == "__main__":
    main()
