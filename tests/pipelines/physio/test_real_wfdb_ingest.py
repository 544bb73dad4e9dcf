"""The ingest on real PhysioNet records (``shared/data/wfdb``, see its README in shared/data).

100: format 212, .atr beats. 03700181: format 212 with 4 samples per frame on the ECG, .gqrsh
beats at 500 Hz, a short NaN run. v102s: short NaN runs. mixedsignals: format 516 (FLAC), three
.dat files, signals at 62.5/125/250 Hz, a 4.1 s NaN run at the start of every ECG lead.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from repo_paths import SHARED_DATA

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.core.shard_reader import read_rejected
from crossmodal_ray.pipelines.physio.ingest import run_physio_ingest
from crossmodal_ray.pipelines.physio.source import PhysioSourceConfig
from crossmodal_ray.pipelines.physio.wfdb_reader import list_records, read_wfdb_record

WFDB_DIR = SHARED_DATA / "wfdb"
RECORDS = ["03700181", "100", "mixedsignals", "v102s"]
# Whole windows of 8 s every 2 s: 600 s, 1805.6 s, 230.5 s and 300 s long records.
CANDIDATE_WINDOWS = {"03700181": 297, "100": 899, "mixedsignals": 112, "v102s": 147}

pytestmark = pytest.mark.skipif(not WFDB_DIR.is_dir(), reason=f"{WFDB_DIR} not present")


def test_reader_handles_formats_rates_and_annotations():
    assert list_records(WFDB_DIR) == RECORDS
    r = read_wfdb_record(WFDB_DIR, "03700181")
    assert r.channels["ecg"][1] == 500.0 and r.channels["resp"][1] == 125.0  # 4 samples/frame
    assert "ppg" not in r.channels  # ABP is not a canonical channel
    assert r.beat_times_s is not None and r.beat_times_s.size == 1150  # gqrsh, 500 Hz ticks
    assert r.beat_times_s.max() < r.duration_s
    m = read_wfdb_record(WFDB_DIR, "mixedsignals")  # FLAC, multi-rate, II preferred over III/V
    assert {k: fs for k, (_, fs) in m.channels.items()} == pytest.approx(
        {"ecg": 249.89, "ppg": 124.945, "resp": 62.4725}
    )
    assert np.isnan(m.channels["ecg"][0][:1000]).all()
    h = read_wfdb_record(WFDB_DIR, "100")
    assert h.beat_times_s.size == 2273 and list(h.channels) == ["ecg"]  # MLII over V5


@pytest.fixture(scope="module")
def real(tmp_path_factory, ray_session):
    out = tmp_path_factory.mktemp("real")
    manifest = run_physio_ingest(
        PhysioSourceConfig(source=str(WFDB_DIR)), IngestConfig(out=str(out))
    )
    tables = [
        pq.read_table(out / "wfdb" / f)
        for info in manifest["splits"].values()
        for f in info["files"]
    ]
    rows = pa.concat_tables(tables).drop_columns(["signals"]).to_pandas()
    rejected = read_rejected(str(out), "wfdb").to_pandas()
    return {"manifest": manifest, "rows": rows, "rejected": rejected, "out": out}


def test_every_real_record_ingests(real):
    m = real["manifest"]
    assert m["inputs"] == {"read": 4, "ingested": 4, "rejected": 0}
    assert m["totals"]["read"] == sum(CANDIDATE_WINDOWS.values())
    assert m["totals"]["read"] == m["totals"]["written"] + m["totals"]["rejected"]
    per_record = real["rows"].groupby("record").size().to_dict()
    assert set(per_record) == set(RECORDS)
    dropped = real["rejected"].groupby("source").size().to_dict()
    for record, n in CANDIDATE_WINDOWS.items():
        assert per_record[record] + dropped.get(record, 0) == n, record


def test_long_gap_windows_dropped_and_counted(real):
    # mixedsignals: ECG NaN over [0, 4.1) s -> windows starting at 0, 2 and 4 s are dropped.
    rejected = real["rejected"]
    assert list(rejected["source"]) == ["mixedsignals"] * 3
    assert list(rejected["start_s"]) == [0.0, 2.0, 4.0]
    assert set(rejected["stage"]) == {"window"} and set(rejected["error_type"]) == {"NaNGapError"}
    assert real["manifest"]["windows_dropped_nan_gap"] == 3
    assert real["manifest"]["rejected_by_stage"]["window"] == 3


def test_short_gaps_filled(real):
    # v102s and 03700181 have NaN runs of 4-32 ms: interpolated, every window kept, no NaN.
    out, m = real["out"], real["manifest"]
    for info in m["splits"].values():
        for f in info["files"]:
            signals = pq.read_table(out / "wfdb" / f, columns=["signals"])["signals"]
            assert np.isfinite(signals.combine_chunks().to_numpy_ndarray()).all(), f


def test_heart_rate_labels_plausible(real):
    rows = real["rows"]
    assert rows["hr_bpm"].notna().all()
    assert set(rows["label_source"]) == {"signal"}
    assert rows["hr_bpm"].between(40, 180).mean() > 0.9
    hr100 = rows.loc[rows["record"] == "100", "hr_bpm"]
    assert hr100.between(60, 90).mean() > 0.95, hr100.describe()  # MIT-BIH 100: ~75 bpm
    for record in RECORDS:
        hr = rows.loc[rows["record"] == record, "hr_bpm"]
        assert hr.between(40, 180).mean() > 0.8, (record, hr.describe())
    # Respiration rate wherever a RESP channel exists (100 has none).
    rr = rows.groupby("record")["rr_bpm"].median()
    assert np.isnan(rr["100"]) and all(6 <= rr[r] <= 42 for r in ("03700181", "v102s"))
