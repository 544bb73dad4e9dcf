"""PPG-DaLiA layout: reader unit checks and an ingest with one unreadable pickle."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.core.shard_reader import read_rejected
from crossmodal_ray.pipelines.physio.ingest import run_physio_ingest
from crossmodal_ray.pipelines.physio.ppg_dalia_reader import (
    list_ppg_dalia_files,
    map_dalia_activity,
    read_ppg_dalia,
)
from crossmodal_ray.pipelines.physio.schema import ACTIVITIES, CHANNELS
from crossmodal_ray.pipelines.physio.source import PhysioSourceConfig
from tests import physio_fixtures as fx

DURATION_S = 60


@pytest.fixture(scope="module")
def dalia_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dalia") / "PPG_FieldStudy"
    fx.make_ppg_dalia_corpus(root, n_subjects=2, duration_s=DURATION_S)
    bad = root / "S3" / "S3.pkl"
    bad.parent.mkdir()
    bad.write_bytes(b"\x80\x04this is not a pickle at all")
    return root


def test_activity_mapping():
    ids = np.array([[0], [1], [2], [3], [4], [5], [6], [7], [8], [42]], dtype=float)
    names = [ACTIVITIES[i] if i >= 0 else None for i in map_dalia_activity(ids)]
    assert names == [None, "rest", "walk", "walk", "cycle", "rest", "rest", "walk", "rest", None]


def test_reader_channels_rates_and_labels(dalia_root):
    assert list_ppg_dalia_files(dalia_root) == ["S1/S1.pkl", "S2/S2.pkl", "S3/S3.pkl"]
    rec = read_ppg_dalia(dalia_root, "S1/S1.pkl")
    assert (rec.record, rec.source, rec.subject) == ("S1/S1", "S1/S1.pkl", "S1")
    assert rec.duration_s == pytest.approx(DURATION_S, abs=0.05)
    rates = {name: fs for name, (_, fs) in rec.channels.items()}
    assert rates == {
        "ecg": 700.0,
        "ppg": 64.0,
        "resp": 700.0,
        "acc_x": 700.0,
        "acc_y": 700.0,
        "acc_z": 700.0,
    }
    assert rec.channels["ppg"][0].size == DURATION_S * 64
    beat_hr = 60.0 / np.median(np.diff(rec.beat_times_s))
    assert 40 < beat_hr < 180
    centres, hr = rec.reference_hr
    assert centres[0] == 4.0 and np.all(np.diff(centres) == 2.0)
    assert hr.size == (DURATION_S - 8) // 2 + 1
    codes, fs = rec.reference_activity
    assert fs == 4.0 and codes.size == DURATION_S * 4 and codes.dtype == np.int8


def test_unreadable_pickle_raises_clear_error(dalia_root):
    from crossmodal_ray.pipelines.physio.errors import UnreadableFileError

    with pytest.raises(UnreadableFileError, match="unreadable pickle S3/S3.pkl"):
        read_ppg_dalia(dalia_root, "S3/S3.pkl")


def test_ingest_dalia_with_one_bad_pickle(dalia_root, tmp_path, ray_session):
    m = run_physio_ingest(
        PhysioSourceConfig(source=str(dalia_root)), IngestConfig(out=str(tmp_path), corpus="dalia")
    )
    assert m["format"] == "ppg_dalia"
    windows = (DURATION_S - 8) // 2 + 1
    assert m["totals"] == {"read": 2 * windows + 1, "written": 2 * windows, "rejected": 1}
    rejected = read_rejected(str(tmp_path), "dalia").to_pylist()
    assert len(rejected) == 1
    assert rejected[0]["source"] == "S3/S3.pkl" and rejected[0]["stage"] == "read"
    assert rejected[0]["error_type"] == "UnreadableFileError"
    assert "unreadable pickle" in rejected[0]["message"]
    tables = [
        pq.read_table(tmp_path / "dalia" / f)
        for info in m["splits"].values()
        for f in info["files"]
    ]
    t = pa.concat_tables(tables)
    assert t.num_rows == 2 * windows and set(t["label_source"].to_pylist()) == {"table"}
    present = t["channel_present"].combine_chunks().storage.flatten().to_numpy(zero_copy_only=False)
    present = present.reshape(-1, len(CHANNELS))
    assert present[:, CHANNELS.index("spo2")].sum() == 0  # DaLiA has no SpO2
    assert present[:, : CHANNELS.index("spo2")].all()
    # The window at 2i takes DaLiA's label i (same 8 s / 2 s windowing).
    s1 = read_ppg_dalia(dalia_root, "S1/S1.pkl")
    rows = [
        r
        for r in t.select(["source", "start_s", "hr_bpm"]).to_pylist()
        if r["source"] == "S1/S1.pkl"
    ]
    for r in rows:
        expected = s1.reference_hr[1][int(r["start_s"] // 2)]
        assert r["hr_bpm"] == pytest.approx(expected, rel=1e-5, nan_ok=True)
    assert np.isfinite(t["rr_bpm"].to_numpy()).mean() > 0.8  # from the chest Resp signal
    known = [a for a in t["activity"].to_pylist() if a >= 0]
    assert known and set(known) <= set(range(len(ACTIVITIES)))
