"""Ingest AVA-ActiveSpeaker-style face tracks (annotation CSVs + videos) into Parquet shards.

    python jobs/ingest_av.py                                   # the bundled sample corpus
    python jobs/ingest_av.py --source ../shared/data/talking_face --out data/shards
    python jobs/ingest_av.py --source /data/ava --out s3://bucket/shards --frame-size 112
    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/ingest_av.py --source /mnt/shared/raw/ava --out /mnt/shared/shards

One row per face-track segment of <= --max-segment-frames frames at --fps (25): grayscale face
crops [T, S, S] (S = --frame-size, boxes interpolated, enlarged as TalkNet by --crop-scale,
clamped to the frame), MFCC [4T, 13] at 100 Hz of the 16 kHz mono soundtrack, per-frame labels
(SPEAKING_AUDIBLE 1, else 0), the CSV timestamps of the segment and the track's sync flag from
sync_labels.csv (pipelines/av/schema.py). Videos are decoded with decord in an actor pool (PyAV
for what decord cannot open). Splits by video. Bad input (corrupt, truncated, silent or empty
videos, annotated videos that are absent, bad CSV rows, timestamps beyond the video, short
tracks) goes to _rejected/ with its reason. Without --source, the sample corpus is generated
first (data/raw/av_sample, cached) and ingested.

Prints a line per shard task (and one per rejected video), and ends with one JSON line: the
corpus location, rows (segments) per split, videos per split, segments / videos / annotation
rows (read, written or ingested or kept, rejected), row totals, rejected by stage, frames and
speaking frames per split, the decoders used and seconds.
"""

from __future__ import annotations

import argparse
import json
import time

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

# Before anything imports Ray: loopback-only local Ray, token authentication, no telemetry.
apply_local_ray_env()

from crossmodal_ray.pipelines.av.ingest import AV_ROW_GROUP_ROWS, run_av_ingest
from crossmodal_ray.pipelines.av.source import SAMPLE_AV_DIR, AVSourceConfig
from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.sample_corpus.av.corpus import make_av_corpus
from crossmodal_ray.training.cli_flags import add_config_flags, config_from_flags


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_flags(parser, AVSourceConfig, title="raw corpus")
    add_config_flags(parser, IngestConfig, title="shards")
    run = parser.add_argument_group("Ray")
    run.add_argument("--address", default=None, help="Ray address (default: RAY_ADDRESS or local)")
    run.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray")
    return parser.parse_args(argv)


def sample_source() -> str:
    """``data/raw/av_sample``, generated first (cached by the generator)."""
    print(f"[ingest] no --source: the sample corpus {SAMPLE_AV_DIR}", flush=True)
    return str(make_av_corpus(SAMPLE_AV_DIR))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    overrides = {} if vars(args).get("source") else {"source": sample_source()}
    source = config_from_flags(AVSourceConfig, args, **overrides)
    # Rows are megabytes (250 crops): smaller row groups than the runner's default.
    ingest = config_from_flags(
        IngestConfig, args, base=IngestConfig(row_group_rows=AV_ROW_GROUP_ROWS)
    )
    init_ray(args.address, num_cpus=args.num_cpus)
    manifest = run_av_ingest(source, ingest)
    splits = manifest["splits"]
    summary = {
        "corpus_path": storage.join(ingest.out, manifest["corpus"]),
        "format": manifest["format"],
        "rows": {split: info["rows"] for split, info in splits.items()},
        "group_key": manifest["group_key"],
        "videos_per_split": {split: len(info["keys"]) for split, info in splits.items()},
        "segments": manifest["segments"],
        "videos": manifest["videos"],
        "annotation_rows": manifest["annotation_rows"],
        "totals": manifest["totals"],
        "rejected_by_stage": manifest["rejected_by_stage"],
        "frames_per_split": manifest["frames_per_split"],
        "speaking_frames_per_split": manifest["speaking_frames_per_split"],
        "out_of_sync_segments_per_split": manifest["out_of_sync_segments_per_split"],
        "video_backend": manifest["video_backend"],
        "audio_backend": manifest["audio_backend"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return summary


if __name__ == "__main__":
    main()
