"""AVA-ActiveSpeaker mAP and the frame-level metrics of active speaker detection.

The benchmark metric of AVA-ActiveSpeaker (Roth et al. 2019), reported by TalkNet (Tao et al.,
ACM MM 2021) and SyncTalkNet (Wuerkaixi, Zhang, Duan, Zhang, "Rethinking Audio-visual
Synchronization for Active Speaker Detection", MLSP 2022), is the average precision of the
speaking class over every annotated face box, called "mAP":

1. Merge predictions into the ground truth on (video_id, frame_timestamp written with two
   decimals, entity_id): the official tool's ``"timestamp:entity_id"`` key (with the video id,
   which AVA entity ids contain anyway), so ``0.04`` and ``0.040000001`` are the same frame.
2. Positives are SPEAKING_AUDIBLE; SPEAKING_NOT_AUDIBLE and NOT_SPEAKING are negatives, as in
   TalkNet's training labels.
3. A ground-truth row with no prediction keeps its place with score ``-inf``: it ranks after
   every predicted row, so a missing positive is found last, at the lowest precision (counted
   in ``missing_predictions``). A prediction with no ground-truth row is counted in
   ``unmatched_predictions`` and ignored.
4. VOC-style AP (VOCdevkit, as the official tool): rank by score, descending; precision and
   recall at each rank; precision made monotone from the right, ``p[i] = max(p[i:])``;
   ``AP = sum_i (r[i] - r[i-1]) * p[i]`` with ``r[-1] = 0``.

Ties in score: all rows of one score enter together, as one threshold (sklearn's convention for
its curves). Precision and recall are taken only after the last row of a tie group, so the
result does not depend on row order, and a constant score gives the positive share (the chance
level). The official tool instead ranks tied rows in whatever order its sort leaves them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from crossmodal_ray.training.metrics.ava_predictions import (
    SPEAKING_AUDIBLE,
    read_ground_truth_csv,
    read_predictions_csv,
)

MERGE_KEY = ("video_id", "timestamp_key", "entity_id")


@dataclass(frozen=True)
class AvaScore:
    """The AVA-ActiveSpeaker evaluation of one predictions table.

    Attributes:
        mean_ap: AP of SPEAKING_AUDIBLE in [0, 1] (NaN without positives); AVA calls it mAP.
        chance_ap: the AP of a constant score, i.e. the positive share of the ground truth.
        ground_truth_rows: every row of the ground truth (all enter the AP).
        positives: SPEAKING_AUDIBLE rows of the ground truth.
        rows_scored: ground-truth rows that have a prediction.
        missing_predictions: ground-truth rows without one (scored ``-inf``).
        missing_positives: the positives among those.
        unmatched_predictions: predictions with no ground-truth row (ignored).
    """

    mean_ap: float
    chance_ap: float
    ground_truth_rows: int
    positives: int
    rows_scored: int
    missing_predictions: int
    missing_positives: int
    unmatched_predictions: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """VOC-style AP of the positive class: monotone precision, summed over recall steps.

    Args:
        labels: [N] bool or 0/1, True for a positive.
        scores: [N] float, higher = more likely positive; ``-inf`` allowed (ranked last), NaN not.

    Returns:
        AP in [0, 1]; NaN when there is no positive. Tied scores form one threshold.
    """
    labels = np.asarray(labels, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} must be equal 1-D")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    positives = int(labels.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    ranked_scores, ranked_labels = scores[order], labels[order]
    true_positives = np.cumsum(ranked_labels)
    retrieved = np.arange(1, len(scores) + 1)
    group_end = np.append(ranked_scores[1:] != ranked_scores[:-1], True)  # last row of each tie
    precision = true_positives[group_end] / retrieved[group_end]
    recall = true_positives[group_end] / positives
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # p[i] = max(p[i:])
    recall_steps = np.diff(recall, prepend=0.0)
    return float(np.sum(recall_steps * precision))


def _keyed(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """``frame`` with its ``timestamp_key`` ("%.2f"); duplicated keys raise."""
    frame = frame.assign(timestamp_key=frame["frame_timestamp"].map(lambda t: f"{t:.2f}"))
    duplicated = frame.duplicated(list(MERGE_KEY), keep=False)
    if duplicated.any():
        first = frame.loc[duplicated, list(MERGE_KEY)].iloc[0].tolist()
        raise ValueError(f"{name}: {int(duplicated.sum())} rows share a key, e.g. {first}")
    return frame


def score_ava(ground_truth: pd.DataFrame, predictions: pd.DataFrame) -> AvaScore:
    """Score ``predictions`` (needs ``score``) against ``ground_truth`` (needs ``label``).

    Both tables carry ``video_id``, ``frame_timestamp`` and ``entity_id`` (the layout of
    :func:`read_ground_truth_csv` / :func:`read_predictions_csv`).
    """
    truth = _keyed(
        ground_truth[["video_id", "frame_timestamp", "entity_id", "label"]], "ground truth"
    )
    predicted = _keyed(
        predictions[["video_id", "frame_timestamp", "entity_id", "score"]], "predictions"
    )
    merged = truth.merge(
        predicted[[*MERGE_KEY, "score"]], on=list(MERGE_KEY), how="outer", indicator=True
    )
    in_truth = merged[merged["_merge"] != "right_only"]
    labels = (in_truth["label"] == SPEAKING_AUDIBLE).to_numpy()
    missing = (in_truth["_merge"] == "left_only").to_numpy()
    scores = np.where(missing, -np.inf, in_truth["score"].to_numpy(dtype=np.float64))
    rows = len(in_truth)
    return AvaScore(
        mean_ap=average_precision(labels, scores),
        chance_ap=float(labels.mean()) if rows else float("nan"),
        ground_truth_rows=rows,
        positives=int(labels.sum()),
        rows_scored=int((~missing).sum()),
        missing_predictions=int(missing.sum()),
        missing_positives=int((missing & labels).sum()),
        unmatched_predictions=int((merged["_merge"] == "right_only").sum()),
    )


def evaluate_ava_csv(ground_truth_location: str, predictions_location: str) -> AvaScore:
    """:func:`score_ava` of two AVA-format CSV files (local paths or URIs)."""
    return score_ava(
        read_ground_truth_csv(ground_truth_location), read_predictions_csv(predictions_location)
    )


def frame_metrics(
    labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, float | int]:
    """Frame accuracy, ROC-AUC and AP of speaking scores, with their chance levels.

    Args:
        labels: [N] bool or 0/1 (1 = speaking).
        scores: [N] float speaking confidence (a probability for the default threshold).
        threshold: a frame is predicted speaking when ``score >= threshold``.

    Returns:
        ``frames``, ``positives``, ``accuracy``, ``auc`` (NaN when a class is absent), ``ap``
        (:func:`average_precision`, NaN without positives), and the chance levels:
        ``chance_accuracy`` (the majority class's share), ``chance_auc`` (0.5) and
        ``chance_ap`` (the positive share).
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    frames = len(labels)
    share = float(labels.mean()) if frames else float("nan")
    both_classes = 0 < labels.sum() < frames
    return {
        "frames": frames,
        "positives": int(labels.sum()),
        "accuracy": float(np.mean((scores >= threshold) == labels)) if frames else float("nan"),
        "auc": float(roc_auc_score(labels, scores)) if both_classes else float("nan"),
        "ap": average_precision(labels, scores),
        "chance_accuracy": max(share, 1.0 - share) if frames else float("nan"),
        "chance_auc": 0.5,
        "chance_ap": share,
    }
