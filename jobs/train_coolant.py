"""COOLANT end to end: news posts -> Ray Data ingest -> Ray Train -> fake-news detection report.

With no arguments it generates the bundled sample corpus (rendered-scene posts in the MediaEval
and Weibo layouts, ``data/raw/news_sample``), ingests its MediaEval layout at 48 px into
``data/shards/news_sample_mediaeval`` (the corpus's own test events, validation events carved
from the training events), trains COOLANT, COOLANT without soft targets, a text-only and an
image-only model on 2 local Ray Train workers (each chosen on validation accuracy) and prints
one JSON line: test accuracy and per-class precision / recall / F1 of COOLANT next to the
majority class and the three other models::

    python jobs/train_coolant.py

On a real corpus and a cluster (``--preset paper``: ResNet-34 at 224 px)::

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/train_coolant.py --raw-dir /mnt/shared/mediaeval --format mediaeval \\
        --split-by event --preset paper --image-weights /mnt/shared/weights/resnet34.pth \\
        --shards-dir s3://bucket/shards --storage-path s3://bucket/runs --num-workers 8 --use-gpu

``--format weibo --text-model /mnt/shared/bert-base-chinese`` for Weibo. Resubmitting with the
same ``--run-name`` and ``--storage-path`` resumes.
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

from crossmodal_ray.models.coolant.config import CoolantConfig  # noqa: E402
from crossmodal_ray.pipelines.core.manifest import json_safe  # noqa: E402
from crossmodal_ray.pipelines.core.raw_freshness import reusable_manifest  # noqa: E402
from crossmodal_ray.pipelines.core.runner import IngestConfig, layout_corpus_name  # noqa: E402
from crossmodal_ray.pipelines.news.ingest import run_news_ingest  # noqa: E402
from crossmodal_ray.pipelines.news.source import SAMPLE_NEWS_DIR, NewsSourceConfig  # noqa: E402
from crossmodal_ray.pipelines.sample_corpus.news.corpus import make_news_corpus  # noqa: E402
from crossmodal_ray.training.cli_flags import (  # noqa: E402
    add_config_flags,
    config_from_flags,
    explicit_flags,
)
from crossmodal_ray.training.loop_config import TrainLoopConfig  # noqa: E402
from crossmodal_ray.training.tasks.coolant_experiment import (  # noqa: E402
    VARIANTS,
    run_coolant_experiment,
)

PRESETS = ("small", "paper")
# The loop's defaults for this job (any loop flag overrides them): four models in the job's
# 10 minutes on 2 CPU cores.
SAMPLE_LOOP = TrainLoopConfig(epochs=4, batch_size_per_worker=32, warmup_steps=10)


@dataclass
class CoolantRunFlags:
    """Where the posts come from and which preset; each field is a flag.

    Attributes:
        raw_dir: MediaEval or Weibo folder to ingest; default: the bundled sample corpus.
        format: ``mediaeval`` or ``weibo`` (the layout of ``--raw-dir``).
        split_by: ``corpus`` (its own test set, val carved from the training events) or
            ``event`` (every event hashed into train/val/test: for a corpus whose training
            posts have no images, like the MediaEval files in ../shared/data).
        image_size: Side of the stored images and of the model's input; default: the preset's.
        shards_dir: Shard root (a path, ``s3://`` or ``gs://``).
        corpus: Corpus name under the shard root (default: from the raw folder).
        reingest: Ingest even when the corpus is already finished.
        preset: ``small`` (ResNet-18 at 48 px: a CPU) or ``paper`` (ResNet-34 at 224 px).
        variants: Comma-separated models to train (``coolant``, ``no_soft_targets``,
            ``text_only``, ``image_only``).
    """

    raw_dir: str | None = None
    format: str = field(default="mediaeval", metadata={"choices": ("mediaeval", "weibo")})
    split_by: str = field(default="corpus", metadata={"choices": ("corpus", "event")})
    image_size: int | None = None
    shards_dir: str = "data/shards"
    corpus: str | None = None
    reingest: bool = False
    preset: str = field(default="small", metadata={"choices": PRESETS})
    variants: str = ",".join(VARIANTS)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_flags(parser, CoolantRunFlags, title="data")
    add_config_flags(parser, CoolantConfig, exclude=("image_size", "modality"), title="model")
    add_config_flags(parser, TrainLoopConfig, exclude=("steps_per_epoch",), title="training")
    parser.add_argument("--address", default=None, help="Ray address (default: local)")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


def prepare_corpus(flags: CoolantRunFlags, image_size: int) -> tuple[str, dict]:
    """Ingest the raw folder (the sample corpus by default) unless already finished."""
    raw = flags.raw_dir
    if raw is None:
        log(f"[sample] news sample corpus at {SAMPLE_NEWS_DIR}")
        raw = str(Path(make_news_corpus(SAMPLE_NEWS_DIR)) / flags.format)
    corpus = flags.corpus or layout_corpus_name(raw)
    manifest = reusable_manifest(flags.shards_dir, corpus, raw, flags.reingest, log)
    if manifest is not None:
        return corpus, manifest
    log(f"[corpus] ingesting {raw} ({flags.format}, split by {flags.split_by}) into {corpus}")
    source = NewsSourceConfig(
        source=raw, format=flags.format, split_by=flags.split_by, image_size=image_size
    )
    manifest = run_news_ingest(source, IngestConfig(out=flags.shards_dir, corpus=corpus), log=log)
    return corpus, manifest


def main(argv: list[str] | None = None) -> dict:
    started = time.perf_counter()
    args = parse_args(argv)
    flags = config_from_flags(CoolantRunFlags, args)
    variants = [v.strip() for v in flags.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown --variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    base = CoolantConfig.paper() if flags.preset == "paper" else CoolantConfig.small()
    image_size = flags.image_size or base.image_size
    model_config = config_from_flags(CoolantConfig, args, base=base, image_size=image_size)
    loop = config_from_flags(TrainLoopConfig, args, base=SAMPLE_LOOP)
    init_ray(args.address, num_cpus=loop.num_workers + 2)
    corpus, manifest = prepare_corpus(flags, image_size)
    if "run_name" not in explicit_flags(TrainLoopConfig, args):
        loop = dataclasses.replace(loop, run_name=f"coolant_{corpus}")
    results = run_coolant_experiment(
        flags.shards_dir, corpus, manifest, model_config, loop, log, variants
    )
    results["split_by"] = flags.split_by
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(json_safe(results), ensure_ascii=False), flush=True)
    return results


if __name__ == "__main__":
    main()
