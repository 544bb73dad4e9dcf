"""Generate the bundled image-text sample corpus in the COCO and Visual Genome layouts (cached).

    python jobs/make_image_text_corpus.py --out data/raw/image_text_sample --train-images 2000

Rendered scenes of coloured shapes with captions, boxes, attributes and spatial relations; no
download ever. Every field of ``ImageTextSampleConfig`` is a kebab-case flag. Prints a line
every 500 images, then one JSON object: out, images (per split), captions, objects, relations,
regions, seconds, cached.
"""

from __future__ import annotations

import argparse
import json
import time

from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (
    SAMPLE_IMAGE_TEXT_DIR,
    ImageTextSampleConfig,
    is_cached_corpus,
    make_image_text_corpus,
    read_corpus_summary,
)
from crossmodal_ray.training.cli_flags import add_config_flags, config_from_flags


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=SAMPLE_IMAGE_TEXT_DIR, help="corpus folder")
    add_config_flags(parser, ImageTextSampleConfig, title="corpus")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Build (or reuse) the corpus and print the summary JSON line."""
    args = parse_args(argv)
    config = config_from_flags(ImageTextSampleConfig, args)
    started = time.perf_counter()
    cached = is_cached_corpus(args.out, config)

    def report(split: str, done: int, total: int, seconds: float) -> None:
        print(f"[sample] {split}: {done}/{total} images written, {seconds:.1f} s", flush=True)

    path = make_image_text_corpus(args.out, config, progress=report)
    meta = read_corpus_summary(path)
    summary = {
        "out": str(path),
        "images": meta["images"],
        "captions": meta["captions"],
        "objects": meta["objects"],
        "relations": meta["relations"],
        "regions": meta["regions"],
        "seconds": round(time.perf_counter() - started, 3),
        "cached": cached,
    }
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
