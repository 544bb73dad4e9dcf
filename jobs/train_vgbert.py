"""VG-BERT stage 1 end to end: image-text corpus -> Ray Data ingest -> Ray Train -> retrieval.

With no arguments it generates the bundled sample corpus (rendered scenes with COCO captions,
``data/raw/image_text_sample``), ingests its COCO layout at 64 px into
``data/shards/image_text_sample_coco``, trains the ``small`` preset on 2 local Ray Train
workers and prints one JSON line (retrieval R@1/5/10 both ways next to chance and an untrained
model of the same shape)::

    python jobs/train_vgbert.py

On a real corpus and a cluster (``--preset paper``: VGG16 at 224 px, BERT's last 8 layers)::

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/train_vgbert.py --raw-dir /mnt/shared/coco --format coco --image-size 224 \
        --preset paper --shards-dir s3://bucket/shards --storage-path s3://bucket/runs \
        --num-workers 8 --use-gpu

Resubmitting with the same ``--run-name`` and ``--storage-path`` resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

apply_local_ray_env()

from crossmodal_ray.models.vgbert.config import VGBERTConfig  # noqa: E402
from crossmodal_ray.pipelines.core.manifest import has_manifest, json_safe, read_manifest  # noqa: E402
from crossmodal_ray.pipelines.core.runner import IngestConfig  # noqa: E402
from crossmodal_ray.pipelines.image_text.ingest import run_image_text_ingest  # noqa: E402
from crossmodal_ray.pipelines.image_text.source import ImageTextSourceConfig  # noqa: E402
from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (  # noqa: E402
    SAMPLE_IMAGE_TEXT_DIR,
    make_image_text_corpus,
)
from crossmodal_ray.training.cli_flags import (  # noqa: E402
    add_config_flags,
    config_from_flags,
    explicit_flags,
)
from crossmodal_ray.training.loop_config import TrainLoopConfig  # noqa: E402
from crossmodal_ray.training.tasks.vgbert_experiment import run_vgbert_experiment  # noqa: E402

PRESETS = ("small", "paper")
# The loop's defaults for this job (any loop flag overrides them): 6 epochs of a global batch
# of 64 pairs learn retrieval on the sample corpus within the job's 10 minutes on 2 CPU cores.
SAMPLE_LOOP = TrainLoopConfig(epochs=6, batch_size_per_worker=32, warmup_steps=10)


@dataclass
class VGBERTRunFlags:
    """Where the data comes from and which preset; each field is a flag.

    Attributes:
        raw_dir: COCO or Visual Genome folder to ingest; default: the bundled sample corpus.
        format: ``coco`` or ``visual_genome`` (the layout of ``--raw-dir``).
        image_size: Side of the stored images and of the model's input; default: the preset's
            (small 64, paper 224).
        shards_dir: Shard root (a path, ``s3://`` or ``gs://``).
        corpus: Corpus name under the shard root (default: from the raw folder).
        reingest: Ingest even when the corpus is already finished.
        preset: ``small`` (quarter-width VGG at 64 px: a CPU) or ``paper`` (VGG16 at 224 px).
    """

    raw_dir: str | None = None
    format: str = field(default="coco", metadata={"choices": ("coco", "visual_genome")})
    image_size: int | None = None
    shards_dir: str = "data/shards"
    corpus: str | None = None
    reingest: bool = False
    preset: str = field(default="small", metadata={"choices": PRESETS})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_flags(parser, VGBERTRunFlags, title="data")
    add_config_flags(parser, VGBERTConfig, exclude=("image_size",), title="model")
    add_config_flags(parser, TrainLoopConfig, exclude=("steps_per_epoch",), title="training")
    parser.add_argument("--address", default=None, help="Ray address (default: local)")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


def prepare_corpus(flags: VGBERTRunFlags, image_size: int) -> tuple[str, dict]:
    """Ingest the raw folder (the sample corpus by default) unless already finished."""
    raw = flags.raw_dir
    if raw is None:
        log(f"[sample] image-text sample corpus at {SAMPLE_IMAGE_TEXT_DIR}")
        raw = str(Path(make_image_text_corpus(SAMPLE_IMAGE_TEXT_DIR)) / flags.format)
    corpus = flags.corpus or f"{Path(raw).resolve().parent.name}_{Path(raw).name}"
    if has_manifest(flags.shards_dir, corpus) and not flags.reingest:
        log(f"[corpus] reusing the finished corpus {corpus} (pass --reingest to rebuild)")
        return corpus, read_manifest(flags.shards_dir, corpus)
    log(f"[corpus] ingesting {raw} ({flags.format}) into {corpus} under {flags.shards_dir}")
    source = ImageTextSourceConfig(source=raw, format=flags.format, image_size=image_size)
    manifest = run_image_text_ingest(
        source, IngestConfig(out=flags.shards_dir, corpus=corpus), log=log
    )
    return corpus, manifest


def main(argv: list[str] | None = None) -> dict:
    started = time.perf_counter()
    args = parse_args(argv)
    flags = config_from_flags(VGBERTRunFlags, args)
    base = VGBERTConfig.paper() if flags.preset == "paper" else VGBERTConfig.small()
    image_size = flags.image_size or base.image_size
    model_config = config_from_flags(VGBERTConfig, args, base=base, image_size=image_size)
    loop = config_from_flags(TrainLoopConfig, args, base=SAMPLE_LOOP)
    init_ray(args.address, num_cpus=loop.num_workers + 2)
    corpus, manifest = prepare_corpus(flags, image_size)
    if "run_name" not in explicit_flags(TrainLoopConfig, args):
        loop = dataclasses.replace(loop, run_name=f"vgbert_{corpus}")
    results = run_vgbert_experiment(flags.shards_dir, corpus, manifest, model_config, loop, log)
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(json_safe(results)), flush=True)
    return results


if __name__ == "__main__":
    main()
