"""Ingest an AVA-style folder (annotation CSVs + videos) with the generic runner."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from crossmodal_ray.pipelines.av.source import AVSource, AVSourceConfig
from crossmodal_ray.pipelines.core.runner import IngestConfig, corpus_name_for, run_ingest

# Rows hold up to 250 crops of 112 x 112 (3 MB): row groups of 32 rows stay near 100 MB.
AV_ROW_GROUP_ROWS = 32


def run_av_ingest(
    source: AVSourceConfig,
    ingest: IngestConfig,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Ingest ``source.source`` into ``<ingest.out>/<corpus>/`` and return the manifest."""
    log = log or (lambda message: print(message, flush=True))
    adapter = AVSource(source)
    manifest = run_ingest(
        adapter,
        ingest,
        corpus_name_for(ingest, source.source),
        adapter.root,
        log=log,
        extra_config={
            "av": dataclasses.asdict(source),
            "split_rule": "video: hash of the video id into train/val/test",
        },
    )
    segments, videos, rows = (
        manifest["segments"],
        manifest["videos"],
        manifest["annotation_rows"],
    )
    log(
        f"[ingest] segments: {segments['read']} read = {segments['written']} written + "
        f"{segments['rejected']} rejected; videos: {videos['ingested']} ingested, "
        f"{videos['rejected']} rejected; annotation rows: {rows['read']} read, "
        f"{rows['rejected']} rejected; per split {manifest['segments_per_split']}"
    )
    for warning in manifest["listing_warnings"]:
        log(f"[ingest] WARNING: {warning}")
    return manifest
