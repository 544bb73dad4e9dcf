"""Quarantine of bad inputs: one rejected row per bad record or dropped window.

Every stage of the physiological ingest funnels its failures through ``rejected_row`` so that a
bad input is never lost: it lands in ``<out>/<corpus>/_rejected/part-00000.parquet`` with the
stage it failed at, the exception class name and a message a person can act on, and it is
counted in the manifest totals (``read = written + rejected``).

The exception classes below exist to give ``error_type`` a name that says what went wrong
(``TruncatedDataError`` reads better than ``ValueError``).
"""

from __future__ import annotations

import math

import pyarrow as pa

# Stages in pipeline order (``physio_schema`` documents the same list).
STAGES: tuple[str, ...] = ("list", "read", "decode", "labels", "window")

# Long messages (a traceback pasted into an error) are cut so a row stays small.
_MAX_MESSAGE_CHARS = 2000

REJECTED_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("stage", pa.string()),
        pa.field("error_type", pa.string()),
        pa.field("message", pa.string()),
        pa.field("start_s", pa.float64()),
        pa.field("sample_id", pa.string()),
    ]
)


class IngestError(Exception):
    """Base class of the ingest's own, expected rejections."""


class TruncatedDataError(IngestError):
    """A signal file holds fewer bytes than its header promises."""


class HeaderMismatchError(IngestError):
    """A header disagrees with its data (size, signal count, checksums)."""


class EmptyRecordError(IngestError):
    """A record with zero samples."""


class FlatSignalError(IngestError):
    """Every usable channel is entirely NaN or constant."""


class MissingChannelError(IngestError):
    """The record lacks the channel a label needs (no ECG/PPG for heart rate)."""


class NaNGapError(IngestError):
    """A window overlaps a NaN gap longer than ``max_gap_s``."""


class ShortRecordError(IngestError):
    """The record is shorter than one window."""


class UnreadableFileError(IngestError):
    """A file that cannot be decoded at all (corrupt pickle, unknown layout)."""


def error_message(error: BaseException | str) -> str:
    """A one-paragraph, non-empty message for ``error``."""
    if isinstance(error, str):
        text = error
    else:
        text = str(error) or repr(error)
    text = " ".join(text.split())
    return text[:_MAX_MESSAGE_CHARS]


def rejected_row(
    source: str,
    stage: str,
    error: BaseException | str,
    start_s: float = math.nan,
    sample_id: str = "",
) -> dict:
    """One row of ``_rejected/``.

    Args:
        source: Record path relative to the raw root (or the file that failed).
        stage: One of ``STAGES``: where the input failed.
        error: The exception (its class name becomes ``error_type``) or a plain message
            (``error_type`` is then ``"Rejected"``).
        start_s: Window start in seconds for a dropped window; NaN for a whole record.
        sample_id: The id the dropped window would have had; empty for a whole record.

    Returns:
        A dict with the columns of ``REJECTED_SCHEMA``.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
    error_type = "Rejected" if isinstance(error, str) else type(error).__name__
    return {
        "source": str(source),
        "stage": stage,
        "error_type": error_type,
        "message": error_message(error),
        "start_s": float(start_s),
        "sample_id": str(sample_id),
    }


def rejected_table(rows: list[dict]) -> pa.Table:
    """The rows as an Arrow table with ``REJECTED_SCHEMA`` (an empty table when no rows)."""
    return pa.Table.from_pylist(rows, schema=REJECTED_SCHEMA)
