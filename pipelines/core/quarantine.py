"""Quarantine of bad inputs: one rejected row per bad input or dropped row, never a lost one.

Every ingest funnels its failures through :func:`rejected_row`, so a bad input lands in
``<corpus>/_rejected/*.parquet`` with the stage it failed at, the exception class name and a
message a person can act on, and is counted in the manifest totals
(``read = written + rejected``). The stages are the source adapter's (``list``, ``read``,
``decode``, ... in pipeline order); :func:`at_stage` tags an exception with the stage it was
raised in, so a whole input rejected by the runner's per-input ``try/except`` says where it
failed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

# Long messages (a traceback pasted into an error) are cut so a row stays small.
_MAX_MESSAGE_CHARS = 2000
STAGE_ATTRIBUTE = "ingest_stage"

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
    """Base class of an ingest's own, expected rejections (a subclass names the reason)."""


def error_message(error: BaseException | str) -> str:
    """A one-paragraph, non-empty message for ``error``."""
    text = error if isinstance(error, str) else (str(error) or repr(error))
    text = " ".join(text.split())
    return text[:_MAX_MESSAGE_CHARS]


@contextmanager
def at_stage(stage: str) -> Iterator[None]:
    """Tag any exception raised inside with ``stage`` (the innermost tag wins)."""
    try:
        yield
    except Exception as exc:
        if not hasattr(exc, STAGE_ATTRIBUTE):
            setattr(exc, STAGE_ATTRIBUTE, stage)
        raise


def stage_of(error: BaseException, default: str) -> str:
    """The stage :func:`at_stage` recorded on ``error``, else ``default``."""
    return getattr(error, STAGE_ATTRIBUTE, default)


def rejected_row(
    source: str,
    stage: str,
    error: BaseException | str,
    start_s: float = math.nan,
    sample_id: str = "",
) -> dict:
    """One row of ``_rejected/``.

    Args:
        source: The input (file or record, relative to the raw root) that failed.
        stage: Where it failed (one of the source adapter's stages).
        error: The exception (its class name becomes ``error_type``) or a plain message
            (``error_type`` is then ``"Rejected"``).
        start_s: Start in seconds of a dropped window/segment; NaN for a whole input.
        sample_id: The id the dropped row would have had; empty for a whole input.

    Returns:
        A dict with the columns of ``REJECTED_SCHEMA``.
    """
    error_type = "Rejected" if isinstance(error, str) else type(error).__name__
    return {
        "source": str(source),
        "stage": str(stage),
        "error_type": error_type,
        "message": error_message(error),
        "start_s": float(start_s),
        "sample_id": str(sample_id),
    }


def rejected_table(rows: list[dict]) -> pa.Table:
    """The rows as an Arrow table with ``REJECTED_SCHEMA`` (an empty table when no rows)."""
    return pa.Table.from_pylist(rows, schema=REJECTED_SCHEMA)
