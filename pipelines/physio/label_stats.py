"""Label statistics of the physiological shards, built from additive per-task summaries.

Each shard task sums its windows' labels (:func:`label_summary`); the runner adds the task
summaries of a split; :func:`label_stats` turns the sums into the manifest's ``label_stats``
(``jobs/train_mbsl.py`` standardises the fine-tuning targets with the training split's mean
and std, so training never rescans the shards for them).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa

from crossmodal_ray.pipelines.physio.schema import ACTIVITIES

REGRESSION_LABELS = ("hr_bpm", "rr_bpm")


def label_summary(table: pa.Table) -> dict:
    """Additive sums of one table of window rows: ``[count, sum, sum of squares]`` per rate,
    windows per activity, ``[known, positive]`` apnea windows."""
    summary: dict = {}
    for name in REGRESSION_LABELS:
        values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        values = values[np.isfinite(values)]
        summary[name] = [int(values.size), float(values.sum()), float((values**2).sum())]
    activity = table.column("activity").to_numpy(zero_copy_only=False)
    counts = {name: 0 for name in ACTIVITIES} | {"unknown": 0}
    for index, count in zip(*np.unique(activity, return_counts=True), strict=True):
        key = ACTIVITIES[index] if 0 <= index < len(ACTIVITIES) else "unknown"
        counts[key] += int(count)
    summary["activity_counts"] = counts
    apnea = table.column("apnea").to_numpy(zero_copy_only=False)
    summary["apnea"] = [int((apnea >= 0).sum()), int((apnea == 1).sum())]
    return summary


def label_stats(summary: dict | None) -> dict:
    """Means, standard deviations and counts from a (summed) :func:`label_summary`."""
    out: dict = {}
    for name in REGRESSION_LABELS:
        count, total, total_sq = summary[name] if summary else (0, 0.0, 0.0)
        mean = total / count if count else math.nan
        var = max(total_sq / count - mean**2, 0.0) if count else math.nan
        out |= {f"{name}_mean": mean, f"{name}_std": math.sqrt(var), f"{name}_count": count}
    out["activity_counts"] = (
        dict(summary["activity_counts"])
        if summary
        else {name: 0 for name in ACTIVITIES} | {"unknown": 0}
    )
    known, positive = summary["apnea"] if summary else (0, 0)
    out["apnea_rate"] = positive / known if known else None
    out["apnea_count"] = known
    return out
