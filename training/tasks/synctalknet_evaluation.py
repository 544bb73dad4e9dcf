"""SyncTalkNet evaluation: per-frame speaking scores of a model over segments, frame metrics on
the clean and the desynchronised copy (per corruption too), and the AVA-style mAP.

Frame metrics (:func:`~crossmodal_ray.training.metrics.ava_map.frame_metrics`): accuracy at 0.5,
ROC-AUC and AP of the speaking class over every valid frame, each with its chance level, on:

- ``clean``: the tracks the corpus has in sync (``in_sync``), as AVA's validation set;
- ``desync``: their desynchronised copy (:mod:`.synctalknet_desync`), whose corrupted speaking
  segments are relabelled not-speaking: a model that checks audio-visual synchronisation keeps
  a high AUC on it. With p = 0.5 a copy corrupts a random half of the speaking segments; the
  metrics pool ``copies`` copies drawn with seeds ``seed``, ``seed + 1``, ... (each copy's
  frames once), so that a test split of a few dozen segments does not hang on one draw. Its
  ``sync_auc`` isolates what the copy tests: the AUC of the corrupted segments' speaking frames
  scored with their own audio (positives) against the same frames scored with the corrupted
  audio (negatives); a model that ignores synchronisation scores both alike (0.5), while the
  plain ``auc`` also counts every listener and silent frame, which any model gets right;
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
DESYNC_COPIES = 4


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


def _sync_auc(in_sync: list[np.ndarray], out_of_sync: list[np.ndarray]) -> float:
    """AUC of speaking frames with their own audio against the same frames out of sync."""
    if not in_sync:
        return float("nan")
    positives, negatives = np.concatenate(in_sync), np.concatenate(out_of_sync)
    labels = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    return float(frame_metrics(labels, np.concatenate([positives, negatives]))["auc"])


def sync_metrics(
    model: Any,
    segments: list[Segment],
    device: torch.device,
    silence: np.ndarray,
    p: float = 0.5,
    seed: int = 0,
    per_corruption: bool = False,
    scores: list[np.ndarray] | None = None,
    copies: int = DESYNC_COPIES,
) -> dict[str, Any]:
    """Frame metrics on the in-sync ``segments`` (``clean``), on their desynchronised copy with
    every corruption (``desync``), with ``per_corruption`` on a copy with one corruption each,
    and on all ``segments`` as recorded (``recorded``) when some are out of sync.

    ``scores``: the segments' :func:`speaking_scores` when the caller has them. Each segment is
    scored once; a copy rescores only its corrupted segments (a segment's scores do not depend
    on what it is batched with). The desynchronised metrics pool ``copies`` copies (seeds
    ``seed`` .. ``seed + copies - 1``); ``corrupted_segments`` counts over all of them."""
    if copies < 1:
        raise ValueError(f"copies must be at least 1, got {copies}")
    if scores is None:
        scores = speaking_scores(model, segments, device)
    kept = [i for i, s in enumerate(segments) if s.in_sync]
    clean, clean_scores = [segments[i] for i in kept], [scores[i] for i in kept]
    out: dict[str, Any] = {"clean": _frames(clean, clean_scores)}
    if len(clean) < len(segments):
        recorded = _frames(segments, scores)
        out["recorded"] = {**recorded, "out_of_sync_segments": len(segments) - len(clean)}
    variants: dict[str, tuple[str, ...]] = {"desync": CORRUPTIONS}
    if per_corruption:
        variants.update({kind: (kind,) for kind in CORRUPTIONS})
    for name, kinds in variants.items():
        pooled: list[Segment] = []
        pooled_scores: list[np.ndarray] = []
        in_sync_scores: list[np.ndarray] = []  # speaking frames of corrupted segments: own audio
        out_of_sync_scores: list[np.ndarray] = []  # the same frames: corrupted audio
        for k in range(copies):
            copy = desynchronise(clean, p, kinds, silence, seed + k)
            corrupted = [i for i, s in enumerate(copy) if s.corruption]
            copy_scores = list(clean_scores)
            rescored = speaking_scores(model, [copy[i] for i in corrupted], device)
            for i, segment_scores in zip(corrupted, rescored, strict=True):
                copy_scores[i] = segment_scores
                speaking = clean[i].labels > 0
                in_sync_scores.append(clean_scores[i][speaking])
                out_of_sync_scores.append(segment_scores[speaking])
            pooled += copy
            pooled_scores += copy_scores
        corrupted_count = sum(bool(s.corruption) for s in pooled)
        out[name] = {
            **_frames(pooled, pooled_scores),
            "corrupted_segments": corrupted_count,
            "copies": copies,
            "sync_auc": _sync_auc(in_sync_scores, out_of_sync_scores),
        }
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
