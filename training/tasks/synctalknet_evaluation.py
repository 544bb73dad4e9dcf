"""SyncTalkNet evaluation: per-frame speaking scores of a model over segments, frame metrics on
the clean and the desynchronised copy (per corruption too), and the AVA-style mAP.

Frame metrics (:func:`~crossmodal_ray.training.metrics.ava_map.frame_metrics`): accuracy at 0.5,
ROC-AUC and AP of the speaking class over every valid frame, each with its chance level, on:

- ``clean``: the tracks the corpus has in sync (``in_sync``), as AVA's validation set;
- ``desync``: their desynchronised copy (:mod:`.synctalknet_desync`), whose corrupted speaking
  segments are relabelled not-speaking: a model that checks audio-visual synchronisation keeps
  a high AUC on it;
- ``recorded``: every track as recorded, the corpus's own out-of-sync videos (dubbed, shifted;
  labelled not-speaking) included, when it has any.

The AVA-style mAP scores the frames the annotation CSV lists (``label_timestamps``, each mapped
to its nearest 25 fps frame by the ingest): the predictions table has one row per annotated
(video, timestamp, entity), and the ground truth is those rows' labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import torch

from crossmodal_ray.training.metrics.ava_map import frame_metrics, score_ava
from crossmodal_ray.training.metrics.ava_predictions import NOT_SPEAKING, SPEAKING_AUDIBLE
from crossmodal_ray.training.tasks.synctalknet_collate import (
    AV_COLUMNS,
    pad_segments,
    rows_of,
    segment_arrays,
)
from crossmodal_ray.training.tasks.synctalknet_desync import CORRUPTIONS, Segment, desynchronise

EVAL_COLUMNS = (
    *AV_COLUMNS,
    "video_id",
    "entity_id",
    "label_timestamps",
    "label_frames",
    "in_sync",
)
EVAL_BATCH = 8


def read_segments(batches: Iterable[dict[str, np.ndarray]]) -> list[Segment]:
    """Shard rows (numpy column batches with :data:`EVAL_COLUMNS`) -> segments."""
    segments = []
    for batch in batches:
        for row in rows_of(batch):
            frames, mfcc, labels = segment_arrays(row)
            segments.append(
                Segment(
                    video_id=str(row["video_id"]),
                    frames=frames,
                    mfcc=mfcc,
                    labels=labels,
                    entity_id=str(row["entity_id"]),
                    label_timestamps=np.asarray(row["label_timestamps"], np.float64),
                    label_frames=np.asarray(row["label_frames"], np.int64),
                    in_sync=bool(row.get("in_sync", True)),
                )
            )
    return segments


@torch.no_grad()
def speaking_scores(model: Any, segments: list[Segment], device: torch.device) -> list[np.ndarray]:
    """Per-frame speaking probability [T] of every segment (the model in eval mode)."""
    was_training = model.training
    model.eval()
    scores: list[np.ndarray] = []
    try:
        order = sorted(range(len(segments)), key=lambda i: len(segments[i].labels))
        by_index: dict[int, np.ndarray] = {}
        for start in range(0, len(order), EVAL_BATCH):  # similar lengths together: less padding
            chunk = order[start : start + EVAL_BATCH]
            batch = pad_segments(
                [(s.frames, s.mfcc, s.labels) for s in map(segments.__getitem__, chunk)]
            )
            out = model(
                batch["visual"].to(device), batch["audio"].to(device), batch["mask"].to(device)
            )
            probability = out["speaking_probability"].float().cpu().numpy()
            for row, index in enumerate(chunk):
                by_index[index] = probability[row, : len(segments[index].labels)]
        scores = [by_index[i] for i in range(len(segments))]
    finally:
        model.train(was_training)
    return scores


def _frames(segments: list[Segment], scores: list[np.ndarray]) -> dict[str, float]:
    if not segments:
        return frame_metrics(np.zeros(0), np.zeros(0))
    labels = np.concatenate([s.labels for s in segments])
    return frame_metrics(labels, np.concatenate(scores))


def sync_metrics(
    model: Any,
    segments: list[Segment],
    device: torch.device,
    silence: np.ndarray,
    p: float = 0.5,
    seed: int = 0,
    per_corruption: bool = False,
    scores: list[np.ndarray] | None = None,
) -> dict[str, Any]:
    """Frame metrics on the in-sync ``segments`` (``clean``), on their desynchronised copy with
    every corruption (``desync``), with ``per_corruption`` on a copy with one corruption each,
    and on all ``segments`` as recorded (``recorded``) when some are out of sync.

    ``scores``: the segments' :func:`speaking_scores` when the caller has them. Each segment is
    scored once; a copy rescores only its corrupted segments (a segment's scores do not depend
    on what it is batched with)."""
    if scores is None:
        scores = speaking_scores(model, segments, device)
    kept = [i for i, s in enumerate(segments) if s.in_sync]
    clean, clean_scores = [segments[i] for i in kept], [scores[i] for i in kept]
    out: dict[str, Any] = {"clean": _frames(clean, clean_scores)}
    if len(clean) < len(segments):
        recorded = _frames(segments, scores)
        out["recorded"] = {**recorded, "out_of_sync_segments": len(segments) - len(clean)}
    copies = {"desync": CORRUPTIONS}
    if per_corruption:
        copies.update({kind: (kind,) for kind in CORRUPTIONS})
    for name, kinds in copies.items():
        copy = desynchronise(clean, p, kinds, silence, seed)
        corrupted = [i for i, s in enumerate(copy) if s.corruption]
        copy_scores = list(clean_scores)
        rescored = speaking_scores(model, [copy[i] for i in corrupted], device)
        for i, segment_scores in zip(corrupted, rescored, strict=True):
            copy_scores[i] = segment_scores
        out[name] = {**_frames(copy, copy_scores), "corrupted_segments": len(corrupted)}
    return out


def prediction_rows(segments: list[Segment], scores: list[np.ndarray]) -> list[dict[str, Any]]:
    """One predictions-CSV row per annotated frame of every segment."""
    rows = []
    for segment, score in zip(segments, scores, strict=True):
        for timestamp, frame in zip(segment.label_timestamps, segment.label_frames, strict=True):
            rows.append(
                {
                    "video_id": segment.video_id,
                    "frame_timestamp": float(timestamp),
                    "entity_id": segment.entity_id,
                    "score": float(score[frame]),
                }
            )
    return rows


def ground_truth_rows(segments: list[Segment]) -> pd.DataFrame:
    """The annotated frames of ``segments`` with their labels (the AVA ground-truth layout)."""
    rows = [
        {
            "video_id": s.video_id,
            "frame_timestamp": float(t),
            "entity_id": s.entity_id,
            "label": SPEAKING_AUDIBLE if s.labels[f] == 1 else NOT_SPEAKING,
        }
        for s in segments
        for t, f in zip(s.label_timestamps, s.label_frames, strict=True)
    ]
    return pd.DataFrame(rows, columns=["video_id", "frame_timestamp", "entity_id", "label"])


def ava_map(segments: list[Segment], scores: list[np.ndarray]) -> dict[str, float]:
    """The AVA-style mAP of ``scores`` over the annotated frames of ``segments``."""
    predictions = pd.DataFrame(prediction_rows(segments, scores))
    return score_ava(ground_truth_rows(segments), predictions).to_dict()
