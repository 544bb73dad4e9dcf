"""The bundled sample corpora: WFDB layout, physiology of the ground truth, caching, DaLiA files.

A tiny corpus (3 subjects x 150 s, 25-40 s activity segments, many apneas) keeps this under
a few seconds while every record still covers several activities.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb
from job_loader import load_job

from crossmodal_ray.pipelines.physio.schema import ACTIVITIES
from crossmodal_ray.pipelines.sample_corpus.physio.ppg_dalia_files import make_ppg_dalia_like
from crossmodal_ray.pipelines.sample_corpus.physio.simulation import (
    SIGNAL_NAMES,
    SIGNAL_UNITS,
    PhysioSimulationConfig,
)
from crossmodal_ray.pipelines.sample_corpus.physio.wfdb_corpus import make_physio_wfdb_corpus

TINY = PhysioSimulationConfig(
    n_subjects=3,
    duration_s=150,
    segment_min_s=25,
    segment_max_s=40,
    apnea_rate_per_min=3.0,
)
FS = int(TINY.sample_rate_hz)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_physio_wfdb_corpus(tmp_path_factory.mktemp("wfdb") / "physio", TINY)


@pytest.fixture(scope="module")
def labels(corpus) -> pd.DataFrame:
    return pd.read_csv(corpus / "labels.csv")


@pytest.fixture(scope="module")
def records(corpus) -> dict[str, wfdb.Record]:
    names = (corpus / "RECORDS").read_text().split()
    return {name: wfdb.rdrecord(str(corpus / name)) for name in names}


def _signal(record: wfdb.Record, name: str) -> np.ndarray:
    return record.p_signal[:, record.sig_name.index(name)]


def _per_second(x: np.ndarray) -> np.ndarray:
    return x[: len(x) // FS * FS].reshape(-1, FS)


def test_records_are_readable_wfdb_with_seven_named_channels(corpus, records):
    assert list(records) == ["S01/S01_r1", "S02/S02_r1", "S03/S03_r1"]
    for record in records.values():
        assert record.sig_name == list(SIGNAL_NAMES)
        assert record.units == list(SIGNAL_UNITS)
        assert record.fs == FS
        assert record.fmt == ["16"] * 7
        assert record.p_signal.shape == (TINY.duration_s * FS, 7)
        assert np.isfinite(record.p_signal).all()
        assert 0.5 < np.percentile(_signal(record, "ECG"), 99.5) < 5.0  # R waves in mV
        assert 85 < np.median(_signal(record, "SpO2")) <= 100
    meta = json.loads((corpus / "_corpus.json").read_text())
    assert meta["records"] == 3 and meta["subjects"] == 3
    assert meta["label_rows"] == 3 * TINY.duration_s


def test_label_and_subject_tables(labels, corpus):
    assert list(labels.columns) == [
        "record",
        "subject",
        "t_s",
        "hr_bpm",
        "rr_bpm",
        "activity",
        "apnea",
    ]
    assert len(labels) == 3 * TINY.duration_s
    for _, rows in labels.groupby("record"):
        assert rows["t_s"].tolist() == list(range(TINY.duration_s))
    assert set(labels["activity"]) <= set(ACTIVITIES)
    assert set(labels["apnea"]) == {0, 1}
    assert (labels.loc[labels["apnea"] == 1, "rr_bpm"] == 0).all()
    assert labels["hr_bpm"].between(35, 200).all()
    breathing = labels.loc[labels["apnea"] == 0, "rr_bpm"]
    assert breathing.between(5, 46).all()
    subjects = pd.read_csv(corpus / "subjects.csv")
    assert list(subjects.columns) == ["subject", "age", "sex", "resting_hr_bpm", "resting_rr_bpm"]
    assert subjects["subject"].tolist() == ["S01", "S02", "S03"]
    assert subjects["resting_hr_bpm"].between(55, 80).all()
    assert subjects["resting_rr_bpm"].between(11, 18).all()


def test_heart_rate_differs_between_subjects_and_drifts(labels, corpus):
    subjects = pd.read_csv(corpus / "subjects.csv").set_index("subject")
    # Every record opens with a rest segment of >= 25 s.
    opening = labels[labels["t_s"] < 20].groupby("subject")["hr_bpm"].mean()
    assert opening.max() - opening.min() > 3.0
    assert (opening - subjects["resting_hr_bpm"]).abs().max() < 10.0
    for _, rows in labels.groupby("record"):
        ten_s_means = rows["hr_bpm"].to_numpy().reshape(-1, 10).mean(axis=1)
        assert ten_s_means.max() - ten_s_means.min() > 5.0


def test_activities_move_accelerometer_and_heart_rate(labels, records):
    energy, gravity_y = [], []
    for record in records.values():
        acc = np.stack([_signal(record, c) for c in ("ACC_X", "ACC_Y", "ACC_Z")], axis=1)
        magnitude = _per_second(np.linalg.norm(acc, axis=1))
        energy.append(magnitude.std(axis=1))
        gravity_y.append(_per_second(acc[:, 1]).mean(axis=1))
    frame = labels.assign(energy=np.concatenate(energy), gravity_y=np.concatenate(gravity_y))
    by_activity = frame.groupby("activity")[["energy", "hr_bpm", "gravity_y"]].mean()
    assert {"rest", "walk", "run", "sleep"} <= set(by_activity.index)
    still = by_activity.loc[["rest", "sleep"], "energy"].max()
    assert by_activity.loc["walk", "energy"] > 5 * still
    assert by_activity.loc["run", "energy"] > 2 * by_activity.loc["walk", "energy"]
    assert by_activity.loc["run", "hr_bpm"] > by_activity.loc["rest", "hr_bpm"] + 20
    assert by_activity.loc["rest", "gravity_y"] < -0.8  # upright: gravity along -y
    assert by_activity.loc["sleep", "gravity_y"] > -0.5  # lying


def test_apnea_flattens_resp_and_drops_spo2(labels, records):
    n_episodes = n_desaturations = 0
    for name, rows in labels.groupby("record"):
        record = records[name]
        resp = _per_second(_signal(record, "RESP"))
        spo2 = _per_second(_signal(record, "SpO2")).mean(axis=1)
        apnea = rows["apnea"].to_numpy()
        quiet_breathing = resp[(apnea == 0) & rows["activity"].isin(["rest", "sleep"]).to_numpy()]
        starts = np.flatnonzero(np.diff(np.r_[0, apnea]) == 1)
        ends = np.flatnonzero(np.diff(np.r_[apnea, 0]) == -1) + 1
        baseline = np.median(spo2[apnea == 0])
        for start, end in zip(starts, ends, strict=True):
            n_episodes += 1
            assert 10 <= end - start <= 40
            assert resp[start + 3 : end - 1].std() < 0.25 * quiet_breathing.std()
            if end + 20 <= len(spo2):  # the nadir comes 10-20 s after the apnea ends
                n_desaturations += 1
                assert spo2[start : end + 20].min() < baseline - 2.0
    assert n_episodes >= 3 and n_desaturations >= 2


def test_beat_annotations_match_heart_rate_and_ecg(labels, records, corpus):
    for name, rows in labels.groupby("record"):
        ann = wfdb.rdann(str(corpus / name), "atr")
        assert set(ann.symbol) == {"N"}
        assert np.all(np.diff(ann.sample) > 0.25 * FS)  # < 240 beats/min
        expected = rows["hr_bpm"].sum() / 60.0
        assert abs(len(ann.sample) - expected) < 0.05 * expected
        ecg = _signal(records[name], "ECG")
        # The annotated samples are the R waves: higher than 90 % of the ECG.
        assert np.median(ecg[ann.sample]) > np.percentile(ecg, 90)


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_corpus_is_cached_deterministic_and_refuses_foreign_folders(tmp_path):
    small = PhysioSimulationConfig(n_subjects=2, duration_s=40, segment_min_s=20, segment_max_s=30)
    first = make_physio_wfdb_corpus(tmp_path / "a", small)
    before = _mtimes(first)
    assert make_physio_wfdb_corpus(tmp_path / "a", small) == first
    assert _mtimes(first) == before  # nothing rewritten

    twin = make_physio_wfdb_corpus(tmp_path / "b", small)
    other_seed = make_physio_wfdb_corpus(
        tmp_path / "c", PhysioSimulationConfig(**{**small.__dict__, "seed": 1})
    )
    dat = "S01/S01_r1.dat"
    assert (first / dat).read_bytes() == (twin / dat).read_bytes()
    assert (first / dat).read_bytes() != (other_seed / dat).read_bytes()

    longer = PhysioSimulationConfig(**{**small.__dict__, "duration_s": 50})
    make_physio_wfdb_corpus(tmp_path / "a", longer)  # another config: rebuilt in place
    assert json.loads((first / "_corpus.json").read_text())["config"]["duration_s"] == 50
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not a corpus")
    with pytest.raises(FileExistsError):
        make_physio_wfdb_corpus(foreign, small)


def test_make_physio_corpus_job_prints_summary(tmp_path, capsys):
    make_physio_corpus = load_job("make_physio_corpus")

    out = tmp_path / "job"
    summary = make_physio_corpus.main(
        ["--out", str(out), "--n-subjects", "2", "--duration-s", "20"]
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == summary
    assert summary["records"] == 2 and summary["cached"] is False
    assert (out / "RECORDS").read_text().split() == ["S01/S01_r1", "S02/S02_r1"]


def test_ppg_dalia_like_files_have_the_real_layout(tmp_path):
    duration = 30
    root = make_ppg_dalia_like(tmp_path / "PPG_FieldStudy", n_subjects=2, duration_s=duration)
    assert sorted(os.listdir(root)) == ["S1", "S2"]
    with open(root / "S2" / "S2.pkl", "rb") as f:
        data = pickle.load(f, encoding="latin1")
    assert set(data) == {"signal", "label", "activity", "rpeaks", "subject", "questionnaire"}
    assert data["subject"] == "S2"
    chest, wrist = data["signal"]["chest"], data["signal"]["wrist"]
    n700, n32, n64, n4 = 700 * duration, 32 * duration, 64 * duration, 4 * duration
    assert {k: v.shape for k, v in chest.items()} == {
        "ACC": (n700, 3),
        "ECG": (n700, 1),
        "EMG": (n700, 1),
        "EDA": (n700, 1),
        "Temp": (n700, 1),
        "Resp": (n700, 1),
    }
    assert {k: v.shape for k, v in wrist.items()} == {
        "ACC": (n32, 3),
        "BVP": (n64, 1),
        "EDA": (n4, 1),
        "TEMP": (n4, 1),
    }
    assert all(v.dtype == np.float64 for v in [*chest.values(), *wrist.values()])
    assert data["label"].shape == ((duration - 8) // 2 + 1,)
    assert data["activity"].shape == (n4, 1)
    assert set(np.unique(data["activity"])) <= {0, 1, 2, 4, 7}
    assert set(data["questionnaire"]) == {"WEIGHT", "Gender", "AGE", "HEIGHT", "SKIN", "SPORT"}
    rpeaks = data["rpeaks"]
    assert rpeaks.ndim == 1 and np.all(np.diff(rpeaks) > 0) and rpeaks[-1] < n700
    # The label is the R-peak heart rate; the ECG peaks where the R peaks are annotated.
    mean_hr = 60.0 * (len(rpeaks) - 1) / ((rpeaks[-1] - rpeaks[0]) / 700)
    assert abs(np.nanmean(data["label"]) - mean_hr) < 0.1 * mean_hr
    ecg = chest["ECG"][:, 0]
    assert np.median(ecg[rpeaks]) > np.percentile(ecg, 90)
    # Wrist ACC in 1/64 g: gravity has magnitude ~64 counts.
    assert 50 < np.median(np.linalg.norm(wrist["ACC"], axis=1)) < 80
