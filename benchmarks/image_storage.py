"""JPEG bytes or decoded uint8 tensors in image-text shards: bytes on disk and read throughput.

Ingests the sample corpus's COCO folder (``data/raw/image_text_sample``, generated if missing:
2,000 + 300 rendered images at 128 px) once per storage at ``--image-size`` (224), then reads
the train split back ``--passes`` times with ``read_split(...).iter_batches`` (numpy batches of
``--batch-size``) in three ways: ``jpeg`` shards decoded to uint8 [B, S, S, 3] with PIL in the
reading loop, ``jpeg`` shards without decoding (the bytes only: what the reading costs), and
``uint8`` shards (already pixels). The best pass counts (the page cache is warm by then).

    python benchmarks/image_storage.py
    python benchmarks/image_storage.py --image-size 128 --passes 3
    python benchmarks/image_storage.py --source ../shared/data/coco_mini   # real photos

Prints progress, then one JSON line: per storage the shard bytes and bytes per image, the
ingest seconds, and the read throughput in images/s.
"""

from __future__ import annotations

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

apply_local_ray_env()  # before anything imports Ray

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from crossmodal_ray.pipelines.core.manifest import read_manifest
from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.core.shard_reader import read_split
from crossmodal_ray.pipelines.image_text.images import jpeg_to_uint8
from crossmodal_ray.pipelines.image_text.ingest import run_image_text_ingest
from crossmodal_ray.pipelines.image_text.source import ImageTextSourceConfig
from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (
    SAMPLE_IMAGE_TEXT_DIR,
    make_image_text_corpus,
)


def shard_bytes(root: str, corpus: str) -> int:
    """Bytes of every shard file the manifest lists (all splits)."""
    manifest = read_manifest(root, corpus)
    files = [f for info in manifest["splits"].values() for f in info["files"]]
    return sum((Path(root) / corpus / f).stat().st_size for f in files)


def read_pass(root: str, corpus: str, batch_size: int, decode_jpeg: bool) -> tuple[int, float]:
    """Images read from the train split and seconds, one pass over ``iter_batches``."""
    started = time.perf_counter()
    images = 0
    ds = read_split(root, corpus, "train", columns=["image", "captions"])
    for batch in ds.iter_batches(batch_size=batch_size, batch_format="numpy"):
        column = batch["image"]
        if decode_jpeg:
            pixels = np.stack([jpeg_to_uint8(data) for data in column])
        else:
            pixels = column
        images += len(pixels)
    return images, time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", default=SAMPLE_IMAGE_TEXT_DIR, help="sample corpus (cached)")
    parser.add_argument(
        "--source", default=None, help="a COCO folder to measure instead of the sample corpus"
    )
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--jpeg-quality", type=int, default=90)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--out", default=None, help="shard root (default: a temporary folder)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    coco = Path(args.source) if args.source else make_image_text_corpus(args.raw) / "coco"
    init_ray()
    import ray

    ray.data.DataContext.get_current().enable_progress_bars = False
    result: dict = {
        "source": str(coco),
        "image_size": args.image_size,
        "jpeg_quality": args.jpeg_quality,
    }
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        for storage in ("jpeg", "uint8"):
            source = ImageTextSourceConfig(
                source=str(coco),
                image_size=args.image_size,
                image_storage=storage,
                jpeg_quality=args.jpeg_quality,
            )
            ingest_started = time.perf_counter()
            manifest = run_image_text_ingest(
                source, IngestConfig(out=out, corpus=f"coco_{storage}"), log=lambda m: None
            )
            ingest_seconds = time.perf_counter() - ingest_started
            corpus = manifest["corpus"]
            size = shard_bytes(out, corpus)
            images = manifest["totals"]["written"]
            modes = [("decoded", True), ("bytes_only", False)] if storage == "jpeg" else []
            modes = modes or [("pixels", False)]
            reads = {}
            for name, decode in modes:
                best = 0.0
                for _ in range(args.passes):
                    count, seconds = read_pass(out, corpus, args.batch_size, decode)
                    best = max(best, count / seconds)
                reads[name] = round(best, 1)
            result[storage] = {
                "images": images,
                "shard_mb": round(size / 2**20, 2),
                "bytes_per_image": round(size / images),
                "ingest_seconds": round(ingest_seconds, 1),
                "read_images_per_s": reads,
            }
            print(f"[benchmark] {storage}: {json.dumps(result[storage])}", flush=True)
    result["uint8_over_jpeg_bytes"] = round(
        result["uint8"]["bytes_per_image"] / result["jpeg"]["bytes_per_image"], 2
    )
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
