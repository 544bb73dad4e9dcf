"""Ingest a folder of physiological records (WFDB or PPG-DaLiA) with the generic runner."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from crossmodal_ray.pipelines.core.runner import IngestConfig, run_ingest
from crossmodal_ray.pipelines.physio.source import PhysioSource, PhysioSourceConfig


def corpus_name_for(source: PhysioSourceConfig, ingest: IngestConfig) -> str:
    """``--corpus``, else the raw folder's name."""
    return ingest.corpus or Path(source.source).resolve().name


def run_physio_ingest(
    source: PhysioSourceConfig,
    ingest: IngestConfig,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Ingest ``source.source`` into ``<ingest.out>/<corpus>/`` and return the manifest."""
    adapter = PhysioSource(source)
    return run_ingest(
        adapter,
        ingest,
        corpus_name_for(source, ingest),
        adapter.root,
        log=log,
        extra_config={"physio": dataclasses.asdict(source)},
    )
