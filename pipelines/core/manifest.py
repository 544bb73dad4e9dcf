"""``_manifest.json``: written last and atomically; its presence marks a finished corpus.

Fields (see ``physio_ingest.run_physio_ingest`` for how they are filled)::

    schema_version, corpus, created_at, source, format, ingest (every config field),
    channels, sample_rate_hz, window_s, stride_s, window_samples, activities,
    splits: {train|val|test: {rows, files, subjects}},
    rejected_file,
    totals: {read, written, rejected}            # unit: windows, read == written + rejected
    records: {read, ingested, rejected},
    rejected_by_stage: {stage: n},
    windows_dropped_nan_gap,
    label_stats: {train: {hr_bpm_mean, hr_bpm_std, hr_bpm_count, rr_bpm_mean, rr_bpm_std,
                          rr_bpm_count, activity_counts, apnea_rate, apnea_count}},
    label_sources: {table|signal: windows}, warnings: [...]

Counting unit of ``totals``: ``read`` counts every candidate window of every record that was
windowed, plus 1 for every record rejected as a whole (it never got as far as windows). So
``written`` = window rows in the splits, and ``rejected`` = rows of ``_rejected/`` (dropped
windows + whole records), and ``read == written + rejected`` always holds.

Missing statistics are ``null`` (JSON has no NaN).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from crossmodal_ray.pipelines.physio.schema import ACTIVITIES

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


def write_manifest(corpus_dir: str | Path, manifest: dict) -> Path:
    """Write ``<corpus_dir>/_manifest.json`` atomically (temporary file, fsync, ``os.replace``)."""
    path = Path(corpus_dir) / MANIFEST_NAME
    tmp = path.with_name(f".{MANIFEST_NAME}.tmp-{os.getpid()}")
    text = json.dumps(json_safe(manifest), indent=2, sort_keys=False, allow_nan=False)
    with open(tmp, "w") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_manifest(root: str | Path, corpus: str) -> dict:
    """The manifest of ``<root>/<corpus>``.

    Raises:
        FileNotFoundError: no manifest, i.e. not a finished corpus (never ingested, or an
            ingest is running or crashed).
    """
    path = Path(root) / corpus / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path.parent} is not a finished corpus: {MANIFEST_NAME} is missing "
            "(run jobs/ingest_physio.py, or wait for the running ingest to finish)"
        )
    return json.loads(path.read_text())


class LabelStats:
    """Streaming label statistics of one split (fed window tables as they are written)."""

    def __init__(self) -> None:
        self._sums = {"hr_bpm": [0, 0.0, 0.0], "rr_bpm": [0, 0.0, 0.0]}  # count, sum, sum sq
        self.activity_counts = {name: 0 for name in ACTIVITIES} | {"unknown": 0}
        self.apnea_known = 0
        self.apnea_positive = 0

    def add(self, table: pa.Table) -> None:
        """Accumulate a table of window rows."""
        for name, acc in self._sums.items():
            values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
            values = values[np.isfinite(values)]
            acc[0] += int(values.size)
            acc[1] += float(values.sum())
            acc[2] += float((values**2).sum())
        activity = table.column("activity").to_numpy(zero_copy_only=False)
        for index, count in zip(*np.unique(activity, return_counts=True), strict=True):
            key = ACTIVITIES[index] if 0 <= index < len(ACTIVITIES) else "unknown"
            self.activity_counts[key] += int(count)
        apnea = table.column("apnea").to_numpy(zero_copy_only=False)
        self.apnea_known += int((apnea >= 0).sum())
        self.apnea_positive += int((apnea == 1).sum())

    def to_dict(self) -> dict:
        out = {}
        for name, (count, total, total_sq) in self._sums.items():
            mean = total / count if count else math.nan
            var = max(total_sq / count - mean**2, 0.0) if count else math.nan
            out |= {f"{name}_mean": mean, f"{name}_std": math.sqrt(var), f"{name}_count": count}
        out["activity_counts"] = dict(self.activity_counts)
        out["apnea_rate"] = self.apnea_positive / self.apnea_known if self.apnea_known else None
        out["apnea_count"] = self.apnea_known
        return out
