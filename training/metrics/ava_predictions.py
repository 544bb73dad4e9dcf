"""AVA-ActiveSpeaker CSV tables: read the ground truth and a model's predictions, write predictions.

The official files (Roth et al., AVA-ActiveSpeaker, 2019; used by TalkNet, Tao et al., ACM MM
2021, and by SyncTalkNet, Wuerkaixi et al., MLSP 2022) have no header row and one row per
annotated face box:

    ground truth: video_id, frame_timestamp, entity_box_x1, entity_box_y1, entity_box_x2,
                  entity_box_y2, label, entity_id
    predictions:  the same columns, then ``score`` (the confidence that the face is speaking)

A file that starts with a header row (``video_id,...``) is read by its column names instead,
so the columns may then come in any order. Ids are kept as text (AVA ids such as
``-5KQ66BBWC4`` or ``NA...`` must not turn into numbers or NaN). Boxes are not used for scoring;
empty box fields read as NaN. Locations go through ``pipelines/core/storage`` (local or s3://).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from crossmodal_ray.pipelines.core import storage

SPEAKING_AUDIBLE = "SPEAKING_AUDIBLE"
SPEAKING_NOT_AUDIBLE = "SPEAKING_NOT_AUDIBLE"
NOT_SPEAKING = "NOT_SPEAKING"
GROUND_TRUTH_LABELS = (SPEAKING_AUDIBLE, SPEAKING_NOT_AUDIBLE, NOT_SPEAKING)

BOX_COLUMNS = ("entity_box_x1", "entity_box_y1", "entity_box_x2", "entity_box_y2")
GROUND_TRUTH_COLUMNS = ("video_id", "frame_timestamp", *BOX_COLUMNS, "label", "entity_id")
PREDICTION_COLUMNS = (*GROUND_TRUTH_COLUMNS, "score")


def _read_table(location: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """The CSV at ``location`` with ``columns``, all read as text (numbers converted later)."""
    text = storage.read_text(location).lstrip("\ufeff")  # a BOM would hide the header
    if not text.strip():
        return pd.DataFrame({name: pd.Series(dtype=str) for name in columns})
    first_field = text.lstrip().split(",", 1)[0].strip().strip('"')
    has_header = first_field == "video_id"
    frame = pd.read_csv(
        io.StringIO(text),
        header=0 if has_header else None,
        dtype=str,
        keep_default_na=False,
        skipinitialspace=True,
    )
    if has_header:
        missing = [name for name in columns if name not in frame.columns]
        if missing:
            raise ValueError(f"{location}: header lacks the columns {missing}")
        return frame[list(columns)]
    if frame.shape[1] != len(columns):
        raise ValueError(
            f"{location}: {frame.shape[1]} columns, expected {len(columns)} ({', '.join(columns)})"
        )
    frame.columns = list(columns)
    return frame


def _to_float(frame: pd.DataFrame, column: str, location: str) -> pd.Series:
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=np.float64))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{location}: row {row}: {column} {frame[column].iloc[row]!r} is no number"
        )
    return values.astype(np.float64)


def _typed(frame: pd.DataFrame, numeric: tuple[str, ...], location: str) -> pd.DataFrame:
    frame = frame.copy()
    for column in ("video_id", "entity_id", "label"):
        frame[column] = frame[column].str.strip()
    for column in numeric:
        frame[column] = _to_float(frame, column, location)
    for column in BOX_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.reset_index(drop=True)


def read_ground_truth_csv(location: str) -> pd.DataFrame:
    """The ground-truth table (columns :data:`GROUND_TRUTH_COLUMNS`); unknown labels raise."""
    frame = _typed(_read_table(location, GROUND_TRUTH_COLUMNS), ("frame_timestamp",), location)
    unknown = sorted(set(frame["label"]) - set(GROUND_TRUTH_LABELS))
    if unknown:
        raise ValueError(f"{location}: unknown labels {unknown}; expected {GROUND_TRUTH_LABELS}")
    return frame


def read_predictions_csv(location: str) -> pd.DataFrame:
    """The predictions table (columns :data:`PREDICTION_COLUMNS`); a non-finite score raises."""
    return _typed(_read_table(location, PREDICTION_COLUMNS), ("frame_timestamp", "score"), location)


def write_predictions_csv(
    location: str, rows: Iterable[Mapping[str, object]], threshold: float = 0.5
) -> int:
    """Write predictions in the official layout (no header row); returns the rows written.

    Args:
        location: a local path or an ``s3://``/``gs://`` URI.
        rows: mappings with ``video_id``, ``frame_timestamp`` (seconds, the ground truth's
            timestamp), ``entity_id`` and ``score`` (speaking confidence); optional ``label``
            (default: SPEAKING_AUDIBLE when ``score >= threshold``, else NOT_SPEAKING) and the
            four ``entity_box_*`` (default: empty fields; the scorer does not use boxes).
        threshold: the score from which a row is labelled SPEAKING_AUDIBLE (default 0.5, a
            probability).

    Floats are written with Python's shortest round-trip repr, so scores read back exactly.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    count = 0
    for row in rows:
        score = float(row["score"])
        if not np.isfinite(score):
            raise ValueError(f"non-finite score {score} for {row['entity_id']}")
        label = row.get("label") or (SPEAKING_AUDIBLE if score >= threshold else NOT_SPEAKING)
        boxes = [repr(float(row[c])) if row.get(c) is not None else "" for c in BOX_COLUMNS]
        timestamp = repr(float(row["frame_timestamp"]))
        writer.writerow([row["video_id"], timestamp, *boxes, label, row["entity_id"], repr(score)])
        count += 1
    storage.write_text(location, buffer.getvalue())
    return count
