"""Variable-length face-track segments -> padded, masked tensors (SyncTalkNet's collate hook).

Rows (``pipelines/av``): ``frames`` (T*H*W uint8 bytes), ``mfcc`` (4T*13 float32 bytes),
``labels`` (T ints), ``num_frames`` (T), ``frame_size`` (H = W). A batch of B segments becomes::

    visual  [B, T_max, H, W]   uint8 (the model normalises)
    audio   [B, 4 T_max, 13]   float32, MFCC at 100 Hz (4 audio frames per video frame)
    mask    [B, T_max]         True on a segment's own frames
    labels  [B, T_max]         1 speaking, 0 not, -100 on padding (never in a loss)

TalkNet forms batches of about 2,500 frames from tracks of similar length; here a batch holds
``batch_size`` segments of at most 250 frames (the ingest's segment length), so a batch of 10
holds at most 2,500 frames; padding goes to the batch's longest segment only. Every rank runs
the same number of steps (the loop's epoch order), and the losses are per-frame means inside
each rank's batch, so ranks with different padded lengths never wait on each other in a
collective other than DDP's gradient all-reduce (same parameter shapes on every rank).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

AV_COLUMNS = ("frames", "mfcc", "labels", "num_frames", "frame_size")
MFCC_PER_FRAME = 4
MFCC_COEFFICIENTS = 13
IGNORE_LABEL = -100


def segment_arrays(row: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row's frames [T, H, W] uint8, MFCC [4T, 13] float32 and labels [T] int64."""
    t, size = int(row["num_frames"]), int(row["frame_size"])
    frames = np.frombuffer(row["frames"], dtype=np.uint8).reshape(t, size, size)
    mfcc = np.frombuffer(row["mfcc"], dtype="<f4").reshape(MFCC_PER_FRAME * t, MFCC_COEFFICIENTS)
    labels = np.asarray(row["labels"], dtype=np.int64).reshape(t)
    return frames, mfcc, labels


def pad_segments(
    segments: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> dict[str, torch.Tensor]:
    """Pad ``(frames, mfcc, labels)`` triples to the longest; see the module docstring."""
    if not segments:
        raise ValueError("a batch needs at least one segment")
    t_max = max(len(labels) for _, _, labels in segments)
    size = segments[0][0].shape[1]
    batch = len(segments)
    visual = np.zeros((batch, t_max, size, size), np.uint8)
    audio = np.zeros((batch, MFCC_PER_FRAME * t_max, MFCC_COEFFICIENTS), np.float32)
    mask = np.zeros((batch, t_max), bool)
    labels = np.full((batch, t_max), IGNORE_LABEL, np.int64)
    for i, (frames, mfcc, frame_labels) in enumerate(segments):
        t = len(frame_labels)
        visual[i, :t], audio[i, : MFCC_PER_FRAME * t] = frames, mfcc
        mask[i, :t], labels[i, :t] = True, frame_labels
    return {
        "visual": torch.from_numpy(visual),
        "audio": torch.from_numpy(audio),
        "mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(labels),
    }


def rows_of(batch: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """A numpy column batch as a list of row dicts."""
    n = len(next(iter(batch.values())))
    return [{k: v[i] for k, v in batch.items()} for i in range(n)]


def collate_segments(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """A batch of shard rows (numpy columns) -> the padded tensors of the module docstring."""
    return pad_segments([segment_arrays(row) for row in rows_of(batch)])
