"""SyncTalkNet end to end: AVA-style videos -> Ray Data ingest -> Ray Train -> desync report.

With no arguments it generates the bundled audio-visual sample corpus (drawn talking faces with
speech-like voices, some videos dubbed or shifted out of sync, ``data/raw/av_sample``), ingests
it at the preset's crop size into ``data/shards/av_sample`` (split by video), trains the paper's
ablation on 2 local Ray Train workers: SyncTalkNet (positional encoding + track exchange),
without exchange, without PE, and TalkNet (neither), each chosen on clean validation AUC; then
scores the test split once, clean and desynchronised (shift, flip, repeat, silence, swap), with
the AVA-style mAP, and prints the markdown ablation table and one JSON line::

    python jobs/train_synctalknet.py

On full AVA-ActiveSpeaker and a cluster (``--preset paper``: TalkNet's sizes at 112 px; ingest on
CPU nodes, training on GPU nodes)::

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python jobs/train_synctalknet.py --raw-dir /mnt/shared/ava --preset paper \\
        --shards-dir s3://bucket/shards --storage-path s3://bucket/runs \\
        --num-workers 8 --use-gpu --batch-size-per-worker 10

Resubmitting with the same ``--run-name`` and ``--storage-path`` resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass, field

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

apply_local_ray_env()

import numpy as np  # noqa: E402

from crossmodal_ray.models.synctalknet.config import SyncTalkNetConfig  # noqa: E402
from crossmodal_ray.pipelines.av.audio import MfccConfig, mfcc_rows  # noqa: E402
from crossmodal_ray.pipelines.av.ingest import AV_ROW_GROUP_ROWS, run_av_ingest  # noqa: E402
from crossmodal_ray.pipelines.av.source import SAMPLE_AV_DIR, AVSourceConfig  # noqa: E402
from crossmodal_ray.pipelines.core.manifest import json_safe  # noqa: E402
from crossmodal_ray.pipelines.core.raw_freshness import reusable_manifest  # noqa: E402
from crossmodal_ray.pipelines.core.runner import IngestConfig, corpus_name_for  # noqa: E402
from crossmodal_ray.pipelines.sample_corpus.av.corpus import make_av_corpus  # noqa: E402
from crossmodal_ray.training.cli_flags import (  # noqa: E402
    add_config_flags,
    config_from_flags,
    explicit_flags,
)
from crossmodal_ray.training.loop_config import TrainLoopConfig  # noqa: E402
from crossmodal_ray.training.tasks.synctalknet_experiment import (  # noqa: E402
    VARIANTS,
    run_synctalknet_experiment,
)

PRESETS = ("small", "paper")
# The loop's defaults for this job (any loop flag overrides them): four models of 25 epochs in
# the job's 15 minutes on 2 CPU cores (12 min 18 s measured). 8 segments of <= 250 frames per
# worker: at most 2 x 2,000 frames a step (TalkNet's batches hold about 2,500 frames).
SAMPLE_LOOP = TrainLoopConfig(
    epochs=25,
    batch_size_per_worker=8,
    warmup_steps=10,
    lr=1e-3,
    order_block_rows=8,
    shuffle_buffer_rows=32,
)
# Split by video: the sample corpus's 44 videos give val and test enough tracks to score.
SAMPLE_SPLITS = {"val_fraction": 0.2, "test_fraction": 0.25}


@dataclass
class SyncTalkNetRunFlags:
    """Where the videos come from and which preset; each field is a flag.

    Attributes:
        raw_dir: AVA-style folder (annotation CSVs + videos) to ingest; default: the bundled
            sample corpus.
        shards_dir: Shard root (a path, ``s3://`` or ``gs://``).
        corpus: Corpus name under the shard root (default: from the raw folder).
        reingest: Ingest even when the corpus is already finished.
        preset: ``small`` (48 px crops, narrow encoders: a CPU) or ``paper`` (TalkNet, 112 px).
        variants: Comma-separated models to train (``synctalknet``, ``no_exchange``,
            ``no_pe``, ``talknet``).
        desync_p: Share of speaking segments corrupted in the desynchronised copy (0.5).
        val_fraction: Share of videos in val (by hash of the video id).
        test_fraction: Share of videos in test.
        train_out_of_sync: Also train on the tracks marked out of sync (dubbed, shifted);
            default: in-sync tracks only, as AVA's training videos (they stay in val and test).
    """

    raw_dir: str | None = None
    shards_dir: str = "data/shards"
    corpus: str | None = None
    reingest: bool = False
    preset: str = field(default="small", metadata={"choices": PRESETS})
    variants: str = ",".join(VARIANTS)
    desync_p: float = 0.5
    val_fraction: float = SAMPLE_SPLITS["val_fraction"]
    test_fraction: float = SAMPLE_SPLITS["test_fraction"]
    train_out_of_sync: bool = False


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_flags(parser, SyncTalkNetRunFlags, title="data")
    add_config_flags(
        parser,
        SyncTalkNetConfig,
        exclude=("frame_size", "positional_encoding", "track_exchange"),
        title="model",
    )
    add_config_flags(parser, TrainLoopConfig, exclude=("steps_per_epoch",), title="training")
    parser.add_argument("--address", default=None, help="Ray address (default: local)")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


def prepare_corpus(flags: SyncTalkNetRunFlags, frame_size: int) -> tuple[str, dict, MfccConfig]:
    """Ingest the raw folder (the sample corpus by default) unless already finished."""
    raw = flags.raw_dir
    if raw is None:
        log(f"[sample] audio-visual sample corpus at {SAMPLE_AV_DIR}")
        raw = str(make_av_corpus(SAMPLE_AV_DIR))
    source = AVSourceConfig(source=raw, frame_size=frame_size)
    ingest = IngestConfig(
        out=flags.shards_dir,
        corpus=flags.corpus,
        val_fraction=flags.val_fraction,
        test_fraction=flags.test_fraction,
        row_group_rows=AV_ROW_GROUP_ROWS,
    )
    corpus = corpus_name_for(ingest, raw)
    mfcc = source.mfcc_config()
    manifest = reusable_manifest(flags.shards_dir, corpus, raw, flags.reingest, log)
    if manifest is not None:
        if manifest.get("ingest", {}).get("av", {}).get("frame_size") == frame_size:
            return corpus, manifest, mfcc
        log(f"[corpus] {corpus} holds another crop size: ingesting again")
    log(f"[corpus] ingesting {raw} at {frame_size} px into {corpus}")
    manifest = run_av_ingest(source, dataclasses.replace(ingest, corpus=corpus), log=log)
    return corpus, manifest, mfcc


def silence_mfcc(config: MfccConfig) -> np.ndarray:
    """The MFCC row of digital silence under the ingest's settings (the ``silence`` corruption)."""
    return mfcc_rows(np.zeros(config.n_fft, np.float32), 1, config)[0]


def main(argv: list[str] | None = None) -> dict:
    started = time.perf_counter()
    args = parse_args(argv)
    flags = config_from_flags(SyncTalkNetRunFlags, args)
    variants = [v.strip() for v in flags.variants.split(",") if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown --variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    base = SyncTalkNetConfig.paper() if flags.preset == "paper" else SyncTalkNetConfig.small()
    model_config = config_from_flags(SyncTalkNetConfig, args, base=base)
    loop = config_from_flags(TrainLoopConfig, args, base=SAMPLE_LOOP)
    init_ray(args.address, num_cpus=loop.num_workers + 2)
    corpus, manifest, mfcc = prepare_corpus(flags, model_config.frame_size)
    if "run_name" not in explicit_flags(TrainLoopConfig, args):
        loop = dataclasses.replace(loop, run_name=f"synctalknet_{corpus}")
    results = run_synctalknet_experiment(
        flags.shards_dir,
        corpus,
        manifest,
        model_config,
        loop,
        silence_mfcc(mfcc),
        log,
        variants,
        flags.desync_p,
        flags.train_out_of_sync,
    )
    print(results["ablation"], flush=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(json_safe(results), ensure_ascii=False), flush=True)
    return results


if __name__ == "__main__":
    main()
