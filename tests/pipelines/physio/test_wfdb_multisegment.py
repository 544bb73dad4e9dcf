"""MIMIC-style multi-segment WFDB records (a master header, a layout header, segments and a
``~`` gap), written with wfdb: read and ingested as one record, gap NaN, segments not listed."""

from __future__ import annotations

import numpy as np
import physio_fixtures as fx
import pyarrow.parquet as pq
import pytest
import wfdb

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.physio.errors import HeaderMismatchError, MissingSegmentError
from crossmodal_ray.pipelines.physio.ingest import run_physio_ingest
from crossmodal_ray.pipelines.physio.source import PhysioSourceConfig
from crossmodal_ray.pipelines.physio.wfdb_reader import list_records, read_wfdb_record

MASTER = "p00/p000020/p000020-2183"  # segments 20 s, gap 3 s, 17 s: 40 s
WINDOWS = int((40 - 8) // 2 + 1)
GAP_WINDOWS = 5  # windows [t, t + 8) over the gap [20, 23): t = 14, 16, 18, 20, 22


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("mimic") / "mimic"
    segments = fx.write_multisegment_record(root, MASTER)
    fx.write_record(root, "p00/p000031/single", 20.0, seed=3)  # an ordinary record beside it
    return {"root": root, "segments": segments}


def test_segments_are_not_listed(raw):
    assert raw["segments"] == [
        "p00/p000020/p000020-2183_layout",
        "p00/p000020/p000020-2183_0001",
        "p00/p000020/p000020-2183_0002",
    ]
    assert list_records(raw["root"]) == [MASTER, "p00/p000031/single"]
    # Also when a RECORDS file lists the segments (a folder listing copied into RECORDS).
    records_file = raw["root"] / "RECORDS"
    fx.write_records_file(raw["root"], [MASTER, *raw["segments"], "p00/p000031/single"])
    try:
        assert list_records(raw["root"]) == [MASTER, "p00/p000031/single"]
    finally:
        records_file.unlink()


def test_master_read_as_one_record_with_nan_gap(raw):
    rec = read_wfdb_record(raw["root"], MASTER)
    assert rec.duration_s == pytest.approx(40.0)
    assert rec.source == MASTER and rec.subject == "p00/p000020"
    ecg, fs = rec.channels["ecg"]
    assert fs == fx.FS and ecg.size == 40 * fx.FS
    gap = slice(20 * fx.FS, 23 * fx.FS)
    assert np.isnan(ecg[gap]).all()
    assert np.isfinite(np.delete(ecg, np.r_[gap])).all()
    # Joined by name: the second segment lists its signals in reverse order.
    expected = fx.simulate_signals(40.0, seed=0)
    for channel, name in [("ecg", "ECG"), ("resp", "RESP"), ("spo2", "SpO2")]:
        x = rec.channels[channel][0]
        keep = ~np.isnan(x)
        assert np.allclose(x[keep], expected[name][keep], atol=0.02), channel
    # wfdb's own reader agrees on the joined samples (it reads the master with m2s=True).
    joined = wfdb.rdrecord(str(raw["root"] / MASTER), channel_names=["ECG"]).p_signal[:, 0]
    assert np.allclose(joined, ecg, equal_nan=True)


def test_missing_segment_or_wrong_length_rejects_master(tmp_path):
    segments = fx.write_multisegment_record(tmp_path, "m/rec", segment_s=(10.0, 10.0))
    (tmp_path / f"{segments[-1]}.dat").unlink()
    with pytest.raises(MissingSegmentError, match="segment rec_0002 of multi-segment record m/rec"):
        read_wfdb_record(tmp_path, "m/rec")
    fx.write_multisegment_record(tmp_path, "n/rec", segment_s=(10.0, 10.0), layout=False)
    fx.edit_header(tmp_path, "n/rec_0001", n_samples=10 * fx.FS - 64)
    (tmp_path / "n/rec_0001.dat").write_bytes(
        (tmp_path / "n/rec_0001.dat").read_bytes()[: (10 * fx.FS - 64) * 2 * 7]
    )
    with pytest.raises(HeaderMismatchError, match="segment rec_0001 has 1216 frames"):
        read_wfdb_record(tmp_path, "n/rec")


def test_ingest_master_as_one_source(raw, tmp_path, ray_session):
    m = run_physio_ingest(
        PhysioSourceConfig(source=str(raw["root"])), IngestConfig(out=str(tmp_path))
    )
    corpus = tmp_path / "mimic"
    rows = []
    for info in m["splits"].values():
        for f in info["files"]:
            rows += pq.read_table(corpus / f, columns=["source", "start_s"]).to_pylist()
    master_rows = [r for r in rows if r["source"] == MASTER]
    assert {r["source"] for r in rows} == {MASTER, "p00/p000031/single"}
    assert len(master_rows) == WINDOWS - GAP_WINDOWS
    assert m["inputs"] == {"read": 2, "ingested": 2, "rejected": 0}
    assert m["windows_dropped_nan_gap"] == GAP_WINDOWS
    assert m["totals"]["read"] == m["totals"]["written"] + m["totals"]["rejected"]
    assert m["totals"]["rejected"] == GAP_WINDOWS
