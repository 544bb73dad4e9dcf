"""VG-BERT end to end: image-text corpora -> Ray Data ingest -> Ray Train (two stages) -> metrics.

Stage 1 aligns the visual and language streams by word-region contrastive learning on captions;
stage 2 trains phrase -> region attention and the relation operator on Visual Genome objects
and relations, starting from stage 1's best checkpoint.

With no arguments it generates the bundled sample corpus (rendered scenes,
``data/raw/image_text_sample``), ingests its COCO layout (stage 1) and its Visual Genome layout
(stage 2, split aligned with COCO's: no image stage 1 trained on is in stage 2's val or test) at
64 px under ``data/shards``, trains the ``small`` preset on 2 local Ray Train workers and prints
one JSON line: retrieval R@1/5/10 both ways, object retrieval, pointing and relation Acc@1/Acc@5,
each next to its chance level, an untrained model of the same shape and (relations) the
majority predicate::

    python jobs/train_vgbert.py

On a real corpus and a cluster (``--preset paper``: VGG16 at 224 px, BERT's last 8 layers)::

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/train_vgbert.py --raw-dir /mnt/shared/coco --format coco --image-size 224 \
        --preset paper --shards-dir s3://bucket/shards --storage-path s3://bucket/runs \
        --num-workers 8 --use-gpu

Add ``--vg-dir /mnt/shared/visual_genome`` for stage 2 (``--stage2-epochs 0`` skips it; with
``--format visual_genome`` the one corpus serves both stages, its region descriptions as
captions). Resubmitting with the same ``--run-name`` and ``--storage-path`` resumes.
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
from crossmodal_ray.models.vgbert.grounding_config import GroundingConfig  # noqa: E402
from crossmodal_ray.pipelines.core.manifest import json_safe  # noqa: E402
from crossmodal_ray.pipelines.core.raw_freshness import reusable_manifest  # noqa: E402
from crossmodal_ray.pipelines.core.runner import IngestConfig, layout_corpus_name  # noqa: E402
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
from crossmodal_ray.training.tasks.vgbert_grounding_experiment import (  # noqa: E402
    run_grounding_experiment,
)

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
        vg_dir: Visual Genome folder for stage 2; default: the sample corpus's when
            ``--raw-dir`` is not given, ``--raw-dir`` itself with ``--format visual_genome``,
            else no stage 2.
        stage2_epochs: Epochs of stage 2 (0: stage 1 only).
        stage2_lr: Learning rate of stage 2 (default: the loop's ``--lr``).
    """

    raw_dir: str | None = None
    format: str = field(default="coco", metadata={"choices": ("coco", "visual_genome")})
    image_size: int | None = None
    shards_dir: str = "data/shards"
    corpus: str | None = None
    reingest: bool = False
    preset: str = field(default="small", metadata={"choices": PRESETS})
    vg_dir: str | None = None
    stage2_epochs: int = 3
    stage2_lr: float | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_flags(parser, VGBERTRunFlags, title="data")
    add_config_flags(parser, VGBERTConfig, exclude=("image_size",), title="model")
    add_config_flags(
        parser, GroundingConfig, exclude=("object_classes", "predicates"), title="stage 2"
    )
    add_config_flags(parser, TrainLoopConfig, exclude=("steps_per_epoch",), title="training")
    parser.add_argument("--address", default=None, help="Ray address (default: local)")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


def ingest(
    raw: str, fmt: str, corpus: str, flags: VGBERTRunFlags, image_size: int, **source: str
) -> dict:
    """Ingest ``raw`` into ``corpus`` unless it is already finished; its manifest."""
    manifest = reusable_manifest(flags.shards_dir, corpus, raw, flags.reingest, log)
    if manifest is not None:
        return manifest
    log(f"[corpus] ingesting {raw} ({fmt}) into {corpus} under {flags.shards_dir}")
    config = ImageTextSourceConfig(source=raw, format=fmt, image_size=image_size, **source)
    return run_image_text_ingest(config, IngestConfig(out=flags.shards_dir, corpus=corpus), log=log)


def prepare_corpora(
    flags: VGBERTRunFlags, image_size: int
) -> tuple[tuple[str, dict], tuple[str, dict] | None]:
    """(name, manifest) of the stage-1 corpus and of the stage-2 Visual Genome corpus (None:
    no stage 2); the sample corpus by default."""
    raw, vg = flags.raw_dir, flags.vg_dir
    if raw is None:
        log(f"[sample] image-text sample corpus at {SAMPLE_IMAGE_TEXT_DIR}")
        sample = Path(make_image_text_corpus(SAMPLE_IMAGE_TEXT_DIR))
        raw = str(sample / flags.format)
        vg = vg or str(sample / "visual_genome")
    if flags.format == "visual_genome":
        vg = vg or raw
    corpus = flags.corpus or layout_corpus_name(raw)
    stage1 = (corpus, ingest(raw, flags.format, corpus, flags, image_size))
    if not vg or flags.stage2_epochs < 1:
        return stage1, None
    if vg == raw:
        return stage1, stage1
    # VG images that are COCO images keep COCO's side of the split (train vs val/test), so no
    # image stage 1 trained on reaches stage 2's val or test.
    aligned = {}
    if flags.format == "coco" and (Path(raw) / "annotations").is_dir():
        aligned = {"coco_split_annotations": str(Path(raw) / "annotations")}
    vg_corpus = layout_corpus_name(vg)
    return stage1, (vg_corpus, ingest(vg, "visual_genome", vg_corpus, flags, image_size, **aligned))


def main(argv: list[str] | None = None) -> dict:
    started = time.perf_counter()
    args = parse_args(argv)
    flags = config_from_flags(VGBERTRunFlags, args)
    base = VGBERTConfig.paper() if flags.preset == "paper" else VGBERTConfig.small()
    image_size = flags.image_size or base.image_size
    model_config = config_from_flags(VGBERTConfig, args, base=base, image_size=image_size)
    grounding = config_from_flags(GroundingConfig, args)
    loop = config_from_flags(TrainLoopConfig, args, base=SAMPLE_LOOP)
    init_ray(args.address, num_cpus=loop.num_workers + 2)
    (corpus, manifest), stage2 = prepare_corpora(flags, image_size)
    if "run_name" not in explicit_flags(TrainLoopConfig, args):
        loop = dataclasses.replace(loop, run_name=f"vgbert_{corpus}")
    results = run_vgbert_experiment(flags.shards_dir, corpus, manifest, model_config, loop, log)
    if stage2 is not None:
        stage2_loop = dataclasses.replace(
            loop,
            run_name=f"{loop.run_name}_stage2",
            epochs=flags.stage2_epochs,
            lr=flags.stage2_lr or loop.lr,
        )
        results.update(
            run_grounding_experiment(
                flags.shards_dir,
                stage2[0],
                stage2[1],
                model_config,
                grounding,
                stage2_loop,
                results["best_checkpoint"],
                log,
            )
        )
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(json_safe(results)), flush=True)
    return results


if __name__ == "__main__":
    main()
