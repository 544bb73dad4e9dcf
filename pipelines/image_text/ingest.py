"""Ingest a COCO or Visual Genome folder with the generic runner."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from crossmodal_ray.pipelines.core.runner import IngestConfig, corpus_name_for, run_ingest
from crossmodal_ray.pipelines.image_text.source import ImageTextSource, ImageTextSourceConfig


def run_image_text_ingest(
    source: ImageTextSourceConfig,
    ingest: IngestConfig,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Ingest ``source.source`` into ``<ingest.out>/<corpus>/`` and return the manifest.

    COCO keeps its own splits (``train2017`` -> train, ``val2017`` -> val, no test), so the
    hashed-split fractions do not apply to it: they are recorded as 0 in the manifest, and the
    runner does not warn that COCO's (absent) test split is empty.
    """
    log = log or (lambda message: print(message, flush=True))
    adapter = ImageTextSource(source)
    if source.format == "coco":
        defaults = (IngestConfig.val_fraction, IngestConfig.test_fraction)
        if (ingest.val_fraction, ingest.test_fraction) != defaults:
            log("[ingest] COCO keeps its own splits: --val-fraction/--test-fraction do not apply")
        ingest = dataclasses.replace(ingest, val_fraction=0.0, test_fraction=0.0)
    split_rule = "corpus" if source.format == "coco" else "hash of the image id"
    if source.format == "visual_genome" and source.coco_split_annotations:
        split_rule = "COCO's split of the coco_id (val halved into val/test), else hash of the id"
    return run_ingest(
        adapter,
        ingest,
        corpus_name_for(ingest, source.source),
        adapter.root,
        log=log,
        extra_config={"image_text": dataclasses.asdict(source), "split_rule": split_rule},
    )
