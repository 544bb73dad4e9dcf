"""``_manifest.json``: written last and atomically; its presence marks a finished corpus.

Fields every ingest writes (the runner, :mod:`crossmodal_ray.pipelines.core.runner`)::

    schema_version, corpus, created_at, source, format, ingest (every config field),
    group_key (subject | event | video),
    splits: {train|val|test: {rows, files, keys}},   # files relative to the corpus folder
    rejected_files,                                   # _rejected/part-*.parquet
    totals: {read, written, rejected}                 # read == written + rejected, in rows
    inputs: {read, ingested, rejected},               # records, images, posts, videos
    rejected_by_stage: {stage: n}, warnings: [...], seconds

plus the format's own fields (the physiological ingest adds channels, rates, label statistics).
Missing statistics are ``null`` (JSON has no NaN).
"""

from __future__ import annotations

import json
import math

import numpy as np

from crossmodal_ray.pipelines.core import storage

MANIFEST_NAME = "_manifest.json"


def json_safe(value):
    """``value`` with NaN/inf floats as None and numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def manifest_path(root: str, corpus: str) -> str:
    return storage.join(root, corpus, MANIFEST_NAME)


def write_manifest(corpus_dir: str, manifest: dict) -> str:
    """Publish ``<corpus_dir>/_manifest.json`` atomically (temporary object, then move)."""
    path = storage.join(corpus_dir, MANIFEST_NAME)
    text = json.dumps(json_safe(manifest), indent=2, sort_keys=False, allow_nan=False)
    storage.write_text_atomic(path, text + "\n")
    return path


def has_manifest(root: str, corpus: str) -> bool:
    return storage.is_file(manifest_path(root, corpus))


def list_corpora(root: str) -> list[str]:
    """Names of the finished corpora (folders with a manifest) under a shard root."""
    return [name for name in storage.list_subdirs(root) if has_manifest(root, name)]


def read_manifest(root: str, corpus: str) -> dict:
    """The manifest of ``<root>/<corpus>``.

    Raises:
        FileNotFoundError: no manifest, i.e. not a finished corpus (never ingested, mistyped,
            or an ingest is running or crashed); the message lists the corpora that exist.
    """
    path = manifest_path(root, corpus)
    if not storage.is_file(path):
        present = list_corpora(root)
        where = storage.join(root, corpus)
        raise FileNotFoundError(
            f"{where} is not a finished corpus: {MANIFEST_NAME} is missing (never ingested, a "
            f"typo, or an ingest is still running). Finished corpora under {storage.normalize(root)}: "
            f"{', '.join(present) if present else 'none'}"
        )
    return json.loads(storage.read_text(path))
