"""Every kind of bad input lands in ``_rejected/`` with its stage and a clear reason, while the
good records of the same corpus are still written. One ingest over one mixed corpus."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.physio.ingest import run_physio_ingest
from crossmodal_ray.pipelines.physio.source import PhysioSourceConfig
from tests import physio_fixtures as fx

DURATION_S = 40.0
WINDOWS = int((DURATION_S - 8) // 2 + 1)
GOOD = ["S01/S01_r1", "S02/S02_r1", "S03/S03_r1"]
GAP = "S04/S04_gap"  # 3 s NaN gap in the ECG at 20 s, 0.5 s gap in the PPG at 5 s

# record -> (stage, error type, words the message must contain)
BAD = {
    "S05/S05_truncated": ("read", "TruncatedDataError", "truncated .dat"),
    "S05/S05_wrong_length": ("read", "HeaderMismatchError", "header disagrees with its data"),
    "S05/S05_wrong_nsig": ("read", "HeaderMismatchError", "header disagrees with its data"),
    "S06/S06_all_nan": ("decode", "FlatSignalError", "flat or NaN signals"),
    "S06/S06_flat": ("decode", "FlatSignalError", "flat or NaN signals"),
    "S06/S06_zero_length": ("read", "EmptyRecordError", "zero-length record"),
    "S07/S07_no_ecg_ppg": ("labels", "MissingChannelError", "missing channel"),
    "S07/S07_short": ("window", "ShortRecordError", "shorter than one 8 s window"),
    "S08/S08_not_there": ("list", "FileNotFoundError", "does not exist"),
}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, ray_session):
    raw = tmp_path_factory.mktemp("bad") / "mixed"
    raw.mkdir()
    for i, record in enumerate(GOOD):
        fx.write_record(raw, record, DURATION_S, seed=i)
    fx.write_record(raw, GAP, DURATION_S, nan_gaps=(("ECG", 20.0, 3.0), ("PPG", 5.0, 0.5)))
    for record in ("S05/S05_truncated", "S05/S05_wrong_length", "S05/S05_wrong_nsig"):
        fx.write_record(raw, record, 12.0)
    fx.truncate_dat(raw, "S05/S05_truncated")
    fx.edit_header(raw, "S05/S05_wrong_length", n_samples=int(12.0 * fx.FS) - 100)
    fx.edit_header(raw, "S05/S05_wrong_nsig", drop_last_signal=True)
    fx.write_record(raw, "S06/S06_all_nan", 12.0, mode="nan")
    fx.write_record(raw, "S06/S06_flat", 12.0, mode="flat")
    fx.write_zero_length_record(raw, "S06/S06_zero_length")
    fx.write_record(raw, "S07/S07_no_ecg_ppg", 12.0, names=("RESP", "ACC_X", "ACC_Y", "ACC_Z"))
    fx.write_record(raw, "S07/S07_short", 5.0)
    fx.write_records_file(raw, [*GOOD, GAP, *BAD])
    fx.write_labels(raw, GOOD, DURATION_S)  # the rest must get signal labels (or fail them)
    out = tmp_path_factory.mktemp("bad_out")
    manifest = run_physio_ingest(PhysioSourceConfig(source=str(raw)), IngestConfig(out=str(out)))
    rejected = [
        row
        for name in manifest["rejected_files"]
        for row in pq.read_table(out / "mixed" / name).to_pylist()
    ]
    return {"manifest": manifest, "rejected": rejected, "corpus_dir": out / "mixed"}


@pytest.mark.parametrize("record", list(BAD))
def test_bad_record_is_quarantined_with_reason(ingested, record):
    rows = [r for r in ingested["rejected"] if r["source"] == record]
    assert len(rows) == 1, rows  # exactly one row: a whole-record rejection
    stage, error_type, words = BAD[record]
    row = rows[0]
    assert (row["stage"], row["error_type"]) == (stage, error_type), row
    assert words in row["message"], row["message"]
    assert row["sample_id"] == "" and row["start_s"] != row["start_s"]  # NaN start: whole record


def test_long_nan_gap_drops_and_counts_windows(ingested):
    rows = [r for r in ingested["rejected"] if r["source"] == GAP]
    # Windows [t, t+8) overlapping the ECG gap [20, 23): t = 14, 16, ..., 22 -> 5 windows.
    assert sorted(r["start_s"] for r in rows) == [14.0, 16.0, 18.0, 20.0, 22.0]
    assert all(r["stage"] == "window" and r["error_type"] == "NaNGapError" for r in rows)
    assert all("NaN gap of 3.00 s > max_gap_s" in r["message"] and r["sample_id"] for r in rows)
    m = ingested["manifest"]
    assert m["windows_dropped_nan_gap"] == 5
    # The 0.5 s PPG gap is short: interpolated, no window dropped for it, no NaN in the shards.
    written = []
    for info in m["splits"].values():
        for f in info["files"]:
            t = pq.read_table(ingested["corpus_dir"] / f)
            written += [r for r in t.to_pylist() if r["source"] == GAP]
    assert len(written) == WINDOWS - 5
    assert all(np.isfinite(np.asarray(r["signals"])).all() for r in written)


def test_good_records_still_written_and_totals_add_up(ingested):
    m = ingested["manifest"]
    assert m["totals"]["written"] == len(GOOD) * WINDOWS + (WINDOWS - 5)
    assert m["totals"]["rejected"] == len(BAD) + 5 == len(ingested["rejected"])
    assert m["totals"]["read"] == m["totals"]["written"] + m["totals"]["rejected"]
    assert m["inputs"] == {"read": len(GOOD) + 1 + len(BAD), "ingested": 4, "rejected": len(BAD)}
    expected_stages = {"list": 1, "read": 4, "decode": 2, "labels": 1, "window": 1 + 5}
    assert m["rejected_by_stage"] == expected_stages
    ingested_subjects = {s for info in m["splits"].values() for s in info["keys"]}
    assert ingested_subjects == {"S01", "S02", "S03", "S04"}
