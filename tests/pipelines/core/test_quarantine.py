"""Rejected rows say where an input failed: the innermost stage an exception was raised in."""

from __future__ import annotations

import math

import pytest

from crossmodal_ray.pipelines.core.quarantine import (
    REJECTED_SCHEMA,
    at_stage,
    rejected_row,
    rejected_table,
    stage_of,
)


def test_innermost_stage_wins_and_untagged_errors_get_the_default():
    with pytest.raises(ZeroDivisionError) as error:
        with at_stage("read"), at_stage("decode"):
            _ = 1 / 0
    assert stage_of(error.value, "read") == "decode"
    assert stage_of(ValueError("plain"), "read") == "read"


def test_rejected_rows_are_short_and_typed():
    row = rejected_row("S01/S01_r1", "read", OSError("x" * 5000 + "\n  trailing"))
    assert row["error_type"] == "OSError" and len(row["message"]) == 2000
    assert math.isnan(row["start_s"]) and row["sample_id"] == ""
    assert rejected_row("a.jpg", "list", "not an image")["error_type"] == "Rejected"
    table = rejected_table([row])
    assert table.schema.equals(REJECTED_SCHEMA) and rejected_table([]).num_rows == 0
