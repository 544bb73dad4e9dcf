"""Per-window labels: heart rate, respiration rate, activity, apnea.

Sources, in order of preference (``label_source`` says which one gave the heart rate):

``table``
    ``<raw>/labels.csv`` with one row per second (``record, subject, t_s, hr_bpm, rr_bpm,
    activity, apnea``; ``subject`` is optional and decides the record's subject, see
    ``pipelines/physio/subjects.py``). A window [t0, t0 + window_s) takes the mean hr/rr of its seconds, the
    majority activity name (its index in ``ACTIVITIES``; unknown names -> -1) and apnea = 1 when
    at least half of its seconds are apnea. Also ``table``: reference labels shipped inside the
    data (PPG-DaLiA's ``label``/``activity``); the respiration rate then comes from the signal.
``signal``
    Heart rate = 60 / median RR interval of the beats inside the window; beats come from the
    annotation file, else from R-peak detection on the ECG at its original rate (neurokit2),
    else from PPG pulse peaks. Respiration rate = 60 / median breath interval, breaths being
    the peaks of the 0.1-0.7 Hz band-passed resp channel (6-42 breaths/min); breath intervals
    that overlap the window count, since an 8 s window holds only 1-5 breaths. Activity and
    apnea are unknown (-1).

A record with no heart-rate source at all (no table row, no reference, no beat annotations, no
usable ECG or PPG) is rejected at stage ``labels`` (``MissingChannelError``).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossmodal_ray.pipelines.physio.errors import MissingChannelError
from crossmodal_ray.pipelines.physio.schema import ACTIVITIES
from crossmodal_ray.pipelines.physio.wfdb_reader import RawRecording
from crossmodal_ray.pipelines.physio.windows import CommonRateSignals, fill_nan_linear

LABELS_FILE = "labels.csv"
# Beat intervals outside 25-240 beats/min are detection errors or pauses, not heart rate.
RR_INTERVAL_RANGE_S = (60.0 / 240.0, 60.0 / 25.0)
MIN_BEAT_INTERVALS = 2
# Respiration band (Hz) and the breath intervals it allows.
RESP_BAND_HZ = (0.1, 0.7)
# Peaks must stand out by this fraction of the band-passed signal's std (rejects ripples).
RESP_PROMINENCE = 0.3


@dataclass
class WindowLabels:
    """Labels of a record's windows, aligned with its window starts."""

    hr_bpm: np.ndarray
    rr_bpm: np.ndarray
    activity: np.ndarray
    apnea: np.ndarray
    label_source: str


@dataclass
class RecordLabelTable:
    """One record's per-second rows of ``labels.csv`` (activity already as index, -1 unknown).

    ``subjects`` holds the distinct non-empty values of the rows' optional ``subject`` column
    (the first rule of ``pipelines/physio/subjects.py``).
    """

    t_s: np.ndarray
    hr_bpm: np.ndarray
    rr_bpm: np.ndarray
    activity: np.ndarray
    apnea: np.ndarray
    subjects: tuple[str, ...] = ()

    def to_json(self) -> str:
        """Compact text form, to ship one record's rows inside a shard task: each array as
        base64 of its little-endian bytes (exact, and ~6x faster both ways than lists of
        numbers, which took ~0.4 ms per 10-minute record on the driver and again in the task)."""
        data: dict = {"subjects": list(self.subjects)}
        for name, dtype in _ARRAY_DTYPES.items():
            raw = np.ascontiguousarray(getattr(self, name), dtype).tobytes()
            data[name] = base64.b64encode(raw).decode("ascii")
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> RecordLabelTable:
        raw = json.loads(text)
        arrays = {
            name: np.frombuffer(base64.b64decode(raw[name]), dtype).astype(dtype[1:])
            for name, dtype in _ARRAY_DTYPES.items()
        }
        return cls(**arrays, subjects=tuple(raw.get("subjects", ())))


# The arrays of a RecordLabelTable and their wire dtypes (little-endian).
_ARRAY_DTYPES = {"t_s": "<f8", "hr_bpm": "<f8", "rr_bpm": "<f8", "activity": "<i1", "apnea": "<i1"}


def load_label_table(root: str | Path) -> dict[str, RecordLabelTable] | None:
    """``<root>/labels.csv`` grouped by record, or None when the file does not exist.

    ``record`` and ``subject`` are read as text (record ``03700181`` keeps its leading zero).
    Whole columns are converted once and each record gets its slice: the listing reads this
    on the driver, and per-row or per-record pandas work took ~1.5 s per 720k rows.
    """
    import pandas as pd

    path = Path(root) / LABELS_FILE
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype={"record": str, "subject": str})
    missing = {"record", "t_s", "hr_bpm", "rr_bpm", "activity", "apnea"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path} lacks columns {sorted(missing)}")
    frame = frame.assign(record=frame["record"].astype(str)).sort_values(
        ["record", "t_s"], kind="stable"
    )
    records = frame["record"].to_numpy()
    if not records.size:
        return {}
    index = {name: i for i, name in enumerate(ACTIVITIES)}
    columns = {
        "t_s": frame["t_s"].to_numpy(np.float64),
        "hr_bpm": pd.to_numeric(frame["hr_bpm"], errors="coerce").to_numpy(np.float64),
        "rr_bpm": pd.to_numeric(frame["rr_bpm"], errors="coerce").to_numpy(np.float64),
        "activity": _coded(frame["activity"], lambda a: index.get(str(a).strip().lower(), -1)),
        "apnea": pd.to_numeric(frame["apnea"], errors="coerce").fillna(-1).to_numpy(np.int8),
    }
    subject_codes, subject_names = None, []
    if "subject" in frame.columns:
        codes, uniques = pd.factorize(frame["subject"])  # NaN -> -1
        subject_codes, subject_names = codes, [str(name).strip() for name in uniques]
    firsts = np.flatnonzero(np.r_[True, records[1:] != records[:-1]])  # each record's first row
    table = {}
    for a, b in zip(firsts, np.append(firsts[1:], records.size), strict=True):
        subjects = ()
        if subject_codes is not None:
            names = {subject_names[c] for c in np.unique(subject_codes[a:b]) if c >= 0}
            subjects = tuple(sorted(name for name in names if name))
        table[str(records[a])] = RecordLabelTable(
            **{name: values[a:b] for name, values in columns.items()}, subjects=subjects
        )
    return table


def _coded(values, code_of) -> np.ndarray:
    """int8 ``code_of(value)`` of every cell, calling ``code_of`` once per distinct value."""
    import pandas as pd

    codes, uniques = pd.factorize(values)  # NaN -> -1, coded as the value NaN
    lookup = np.array([code_of(u) for u in uniques] + [code_of(np.nan)], dtype=np.int8)
    return lookup[codes]


def _majority(values: np.ndarray) -> int:
    """Most frequent value of int ``values`` >= -1 (ties: the smaller value), -1 if empty."""
    if values.size == 0:
        return -1
    counts = np.bincount(values.astype(np.int64) + 1)
    return int(np.argmax(counts)) - 1


def _window_sums(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``values[lo[i]:hi[i]].sum(axis=0)`` for every window at once (0 where ``hi <= lo``).

    ``np.add.reduceat`` over the interleaved bounds ``[lo0, hi0, lo1, hi1, ...]`` sums each
    ``[lo, hi)`` at the even positions; a zero row appended keeps ``hi == len`` a valid index.
    """
    padded = np.concatenate([values, np.zeros((1, *values.shape[1:]), values.dtype)])
    bounds = np.stack([lo, hi], axis=1).reshape(-1)
    sums = np.add.reduceat(padded, bounds, axis=0)[::2]
    sums[hi <= lo] = 0
    return sums


def _window_nanmeans(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Mean of the finite values of each window; NaN where it has none."""
    finite = np.isfinite(values)
    sums = _window_sums(np.where(finite, values, 0.0), lo, hi)
    counts = _window_sums(finite.astype(np.int64), lo, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _window_majorities(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """:func:`_majority` of each window ``values[lo:hi]`` (-1 where empty)."""
    classes = np.unique(values)  # ascending: argmax's first maximum is the smaller value
    if classes.size == 0:
        return np.full(lo.size, -1, dtype=np.int8)
    counts = _window_sums((values[:, None] == classes[None, :]).astype(np.int64), lo, hi)
    return np.where(hi > lo, classes[np.argmax(counts, axis=1)], -1).astype(np.int8)


def labels_from_table(table: RecordLabelTable, starts_s: np.ndarray, window_s: float) -> dict:
    """hr/rr/activity/apnea per window from per-second rows (see module docstring).

    Vectorised over windows (sums over ``[lo, hi)`` row ranges): a record of an hour has 1,797
    windows, and a Python loop with four small NumPy reductions each was a fifth of the decode.
    """
    lo = np.searchsorted(table.t_s, starts_s - 1e-9, side="left")
    hi = np.searchsorted(table.t_s, starts_s + window_s - 1e-9, side="left")
    hi = np.maximum(hi, lo)
    apnea = table.apnea
    known = _window_sums((apnea >= 0).astype(np.int64), lo, hi) > 0
    positive = _window_sums((apnea == 1).astype(np.int64), lo, hi)
    return {
        "hr_bpm": _window_nanmeans(table.hr_bpm, lo, hi),
        "rr_bpm": _window_nanmeans(table.rr_bpm, lo, hi),
        "activity": _window_majorities(table.activity, lo, hi),
        "apnea": np.where(known, positive >= 0.5 * (hi - lo), -1).astype(np.int8),
    }


def hr_from_beats(beat_times_s: np.ndarray, starts_s: np.ndarray, window_s: float) -> np.ndarray:
    """60 / median RR interval of the beats inside each window; NaN with < 2 valid intervals."""
    hr = np.full(starts_s.size, np.nan)
    lo = np.searchsorted(beat_times_s, starts_s, side="left")
    hi = np.searchsorted(beat_times_s, starts_s + window_s, side="left")
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        rr = np.diff(beat_times_s[a:b])
        rr = rr[(rr >= RR_INTERVAL_RANGE_S[0]) & (rr <= RR_INTERVAL_RANGE_S[1])]
        if rr.size >= MIN_BEAT_INTERVALS:
            hr[i] = 60.0 / float(np.median(rr))
    return hr


def detect_beats(rec: RawRecording, common: CommonRateSignals) -> np.ndarray | None:
    """Beat times (s) from R peaks of the ECG at its own rate, else PPG pulse peaks, else None.

    Runs once per record; NaN gaps are interpolated first (the detectors reject NaN).
    """
    import neurokit2 as nk

    for name in ("ecg", "ppg"):
        if common.channel(name) is None:
            continue
        x, fs = rec.channels[name]
        x = fill_nan_linear(x)
        try:
            if name == "ecg":
                _, info = nk.ecg_peaks(nk.ecg_clean(x, sampling_rate=fs), sampling_rate=fs)
                peaks = np.asarray(info["ECG_R_Peaks"])
            else:
                cleaned = nk.ppg_clean(x, sampling_rate=fs)
                peaks = np.asarray(nk.ppg_findpeaks(cleaned, sampling_rate=fs)["PPG_Peaks"])
        except Exception:  # noqa: BLE001 - a detector failure leaves HR unknown, not the record
            continue
        if peaks.size >= 2:
            return np.sort(peaks.astype(np.float64)) / fs
    return None


def breath_times(resp: np.ndarray, fs: float) -> np.ndarray:
    """Breath peaks (s) of the 0.1-0.7 Hz band-passed respiration signal."""
    from scipy.signal import butter, find_peaks, sosfiltfilt

    sos = butter(2, RESP_BAND_HZ, btype="bandpass", fs=fs, output="sos")
    if resp.size <= 3 * (2 * len(sos) + 1) * 2:
        return np.zeros(0)
    band = sosfiltfilt(sos, resp.astype(np.float64))
    spread = float(np.std(band))
    if spread == 0.0:
        return np.zeros(0)
    peaks, _ = find_peaks(band, distance=fs / RESP_BAND_HZ[1], prominence=RESP_PROMINENCE * spread)
    return peaks / fs


def rate_from_overlapping_intervals(
    events_s: np.ndarray, starts_s: np.ndarray, window_s: float, interval_range_s: tuple
) -> np.ndarray:
    """60 / median length of the event intervals overlapping each window (NaN if none)."""
    rate = np.full(starts_s.size, np.nan)
    if events_s.size < 2:
        return rate
    begin, end = events_s[:-1], events_s[1:]
    length = end - begin
    valid = (length >= interval_range_s[0]) & (length <= interval_range_s[1])
    for i, t0 in enumerate(starts_s):
        hit = valid & (begin < t0 + window_s) & (end > t0)
        if hit.any():
            rate[i] = 60.0 / float(np.median(length[hit]))
    return rate


def _reference_hr(reference: tuple, starts_s: np.ndarray, window_s: float) -> np.ndarray:
    """The shipped HR whose window centre is nearest each window's centre (within half a window)."""
    centres, hr = reference
    mid = starts_s + window_s / 2
    right = np.clip(np.searchsorted(centres, mid), 0, centres.size - 1)
    left = np.clip(right - 1, 0, centres.size - 1)
    j = np.where(np.abs(centres[left] - mid) <= np.abs(centres[right] - mid), left, right)
    out = hr[j].astype(np.float64)
    out[np.abs(centres[j] - mid) > window_s / 2] = np.nan
    return out


def _reference_activity(reference: tuple, starts_s: np.ndarray, window_s: float) -> np.ndarray:
    codes, fs = reference
    out = np.full(starts_s.size, -1, dtype=np.int8)
    for i, t0 in enumerate(starts_s):
        a, b = int(math.ceil(t0 * fs)), int(math.ceil((t0 + window_s) * fs))
        out[i] = _majority(codes[a : min(b, codes.size)])
    return out


def window_labels(
    rec: RawRecording,
    common: CommonRateSignals,
    starts_s: np.ndarray,
    window_s: float,
    table: RecordLabelTable | None,
) -> WindowLabels:
    """Labels of every window starting at ``starts_s`` (see module docstring for the rules).

    Raises:
        MissingChannelError: no heart-rate source at all.
    """
    n = starts_s.size
    if table is not None:
        return WindowLabels(**labels_from_table(table, starts_s, window_s), label_source="table")

    resp = common.channel("resp")
    rr = np.full(n, np.nan)
    if resp is not None:
        breath_range = (1.0 / RESP_BAND_HZ[1], 1.0 / RESP_BAND_HZ[0])
        rr = rate_from_overlapping_intervals(
            breath_times(resp, common.fs), starts_s, window_s, breath_range
        )
    activity = np.full(n, -1, dtype=np.int8)
    if rec.reference_activity is not None:
        activity = _reference_activity(rec.reference_activity, starts_s, window_s)
    apnea = np.full(n, -1, dtype=np.int8)

    if rec.reference_hr is not None and rec.reference_hr[0].size:
        hr = _reference_hr(rec.reference_hr, starts_s, window_s)
        return WindowLabels(hr, rr, activity, apnea, label_source="table")

    beats = rec.beat_times_s
    if beats is None:
        if common.channel("ecg") is None and common.channel("ppg") is None:
            usable = [name for name in rec.channels if common.channel(name) is not None]
            raise MissingChannelError(
                "missing channel: no usable ECG or PPG channel (and no labels.csv rows or beat "
                f"annotations) to derive heart rate; usable channels: {', '.join(usable)}"
            )
        beats = detect_beats(rec, common)
    hr = np.full(n, np.nan) if beats is None else hr_from_beats(beats, starts_s, window_s)
    return WindowLabels(hr, rr, activity, apnea, label_source="signal")
