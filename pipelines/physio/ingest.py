"""Ingest a folder of physiological records (WFDB or PPG-DaLiA) with the generic runner."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from crossmodal_ray.pipelines.core.runner import IngestConfig, corpus_name_for, run_ingest
from crossmodal_ray.pipelines.physio.source import PhysioSource, PhysioSourceConfig


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
        corpus_name_for(ingest, source.source),
        adapter.root,
        log=log,
        extra_config={"physio": dataclasses.asdict(source)},
    )
