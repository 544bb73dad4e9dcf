"""Whether a finished ingest still reflects its raw folder.

A training job reuses the shards of a finished ingest (its manifest) instead of ingesting again.
When the raw folder is a generated sample corpus that was written again after that ingest (a
new generator version or other generator flags), the shards are stale: reusing them would
train on the old corpus while the raw folder says otherwise. Sample corpora mark themselves
with ``_corpus.json`` (in the folder, or in its parent when a job reads one layout of it).
Folders without the marker (real corpora) are never judged stale: pass ``--reingest``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SAMPLE_MARKER = "_corpus.json"


def sample_marker(raw_dir: str) -> Path | None:
    """The generator's marker of the local folder ``raw_dir`` (or of its parent), if any."""
    if "://" in raw_dir:
        return None
    folder = Path(raw_dir)
    for candidate in (folder / SAMPLE_MARKER, folder.parent / SAMPLE_MARKER):
        if candidate.is_file():
            return candidate
    return None


def raw_written_after_ingest(manifest: dict[str, Any], raw_dir: str) -> bool:
    """True when the sample corpus in ``raw_dir`` was generated after the ingest that wrote
    ``manifest`` finished (its ``created_at``)."""
    marker = sample_marker(raw_dir)
    created = manifest.get("created_at")
    if marker is None or not created:
        return False
    ingested = datetime.fromisoformat(created)
    if ingested.tzinfo is None:
        ingested = ingested.replace(tzinfo=UTC)
    generated = datetime.fromtimestamp(marker.stat().st_mtime, tz=UTC)
    return generated > ingested


def reusable_manifest(
    shards_dir: str,
    corpus: str,
    raw_dir: str,
    reingest: bool,
    log: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    """The manifest of the finished ingest of ``corpus`` when a job may reuse it: it exists,
    ``--reingest`` was not passed and the raw sample corpus was not generated again since."""
    from crossmodal_ray.pipelines.core.manifest import has_manifest, read_manifest

    if reingest or not has_manifest(shards_dir, corpus):
        return None
    manifest = read_manifest(shards_dir, corpus)
    if raw_written_after_ingest(manifest, raw_dir):
        log(f"[corpus] {raw_dir} was generated after {corpus} was ingested: ingesting again")
        return None
    log(f"[corpus] reusing the finished corpus {corpus} (pass --reingest to rebuild)")
    return manifest
