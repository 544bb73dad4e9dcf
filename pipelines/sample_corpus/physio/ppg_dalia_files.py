"""Write small files in the PPG-DaLiA layout (``<out>/S1/S1.pkl``) from the physio simulation.

PPG-DaLiA (Reiss et al., "Deep PPG", Sensors 2019) ships one Python-2 pickle per subject,
read with ``pickle.load(f, encoding="latin1")``::

    'signal': {'chest': {'ACC': (N700, 3) g, 'ECG', 'EMG', 'EDA', 'Temp', 'Resp': (N700, 1)},
               'wrist': {'ACC': (N32, 3) in 1/64 g, 'BVP': (N64, 1), 'EDA', 'TEMP': (N4, 1)}}
    'label':    heart rate (beats/min) from the ECG R peaks, 8 s windows shifted by 2 s
    'activity': (N4, 1) activity id at 4 Hz (0 transient, 1 sitting, 2 stairs, 3 table soccer,
                4 cycling, 5 driving, 6 lunch, 7 walking, 8 working)
    'rpeaks':   R-peak sample indices at 700 Hz
    'subject', 'questionnaire': {'WEIGHT', 'Gender', 'AGE', 'HEIGHT', 'SKIN', 'SPORT'}

The contents come from ``simulate_subject`` at 700 Hz, resampled to the wrist rates, so the HR
label, R peaks, ECG, BVP and accelerometer agree with each other. Our activities map onto DaLiA
ids as rest -> 1 sitting, walk -> 7 walking, cycle -> 4 cycling, run -> 2 stairs (DaLiA has no
running; stairs is its most intense activity). The 2 s after each change are 0 (transient).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from scipy import signal as sps

from crossmodal_ray.pipelines.sample_corpus.physio.simulation import (
    PhysioSimulationConfig,
    simulate_subject,
)

CHEST_HZ = 700
WRIST_ACC_HZ = 32
WRIST_BVP_HZ = 64
WRIST_SLOW_HZ = 4  # EDA, TEMP and the activity label
LABEL_WINDOW_S = 8
LABEL_SHIFT_S = 2
TRANSIENT_S = 2
DALIA_ACTIVITY_IDS: dict[str, int] = {"rest": 1, "walk": 7, "cycle": 4, "run": 2}


def _resample(x: np.ndarray, rate_hz: int) -> np.ndarray:
    """Polyphase-resample 700 Hz samples (axis 0) to ``rate_hz`` (anti-aliased).

    ``padtype="line"`` extrapolates at the ends; the default zero padding would halve the first
    and last samples (an accelerometer reading 0.5 g at rest).
    """
    g = np.gcd(CHEST_HZ, rate_hz)
    return sps.resample_poly(x, rate_hz // g, CHEST_HZ // g, axis=0, padtype="line")


def _col(x: np.ndarray) -> np.ndarray:
    """(N,) -> (N, 1) float64, the shape of every single-channel DaLiA signal."""
    return np.asarray(x, dtype=np.float64).reshape(-1, 1)


def window_heart_rate(r_peaks: np.ndarray, duration_s: int, fs: int = CHEST_HZ) -> np.ndarray:
    """DaLiA's label: 60 / mean R-R interval inside each 8 s window, windows every 2 s."""
    times = np.asarray(r_peaks) / fs
    n_windows = (duration_s - LABEL_WINDOW_S) // LABEL_SHIFT_S + 1
    label = np.empty(n_windows)
    for w in range(n_windows):
        start = w * LABEL_SHIFT_S
        beats = times[(times >= start) & (times < start + LABEL_WINDOW_S)]
        label[w] = 60.0 / np.mean(np.diff(beats)) if len(beats) > 1 else np.nan
    return label


def _subject_dict(subject_index: int, config: PhysioSimulationConfig) -> dict:
    """One subject's DaLiA dictionary from a 700 Hz simulation."""
    rec = simulate_subject(subject_index, config)
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, subject_index, 7000]))
    s = rec.signals
    n = len(s["ECG"])
    duration = config.duration_s
    acc = np.column_stack([s["ACC_X"], s["ACC_Y"], s["ACC_Z"]])

    # Per-second activity ids at 4 Hz, 0 just after each change (DaLiA's transient periods).
    ids = np.array([DALIA_ACTIVITY_IDS[a] for a in rec.activity], dtype=np.float64)
    changes = np.flatnonzero(rec.activity[1:] != rec.activity[:-1]) + 1
    for c in changes:
        ids[c : c + TRANSIENT_S] = 0
    activity = np.repeat(ids, WRIST_SLOW_HZ)

    # Slow channels: electrodermal activity rises with exertion; skin temperature drifts.
    t4 = np.arange(duration * WRIST_SLOW_HZ) / WRIST_SLOW_HZ
    exertion = np.convolve(np.repeat(ids > 1, WRIST_SLOW_HZ), np.ones(120) / 120, mode="same")
    wrist_eda = 0.4 + 0.6 * exertion + 0.05 * np.cumsum(rng.normal(0, 0.02, len(t4)))
    wrist_temp = 32.5 + rng.uniform(-0.5, 0.5) + 0.3 * np.sin(2 * np.pi * t4 / (4 * duration))
    chest_eda = np.interp(np.arange(n) / CHEST_HZ, t4, 4.0 * wrist_eda)
    chest_temp = np.interp(np.arange(n) / CHEST_HZ, t4, wrist_temp + 1.5)

    # The wrist swings more than the chest moves; the E4 reports raw counts of 1/64 g.
    wrist_acc = acc.copy()
    wrist_acc -= acc.mean(axis=0)
    wrist_acc = acc.mean(axis=0)[[2, 0, 1]] + 1.5 * wrist_acc[:, [2, 0, 1]]
    wrist_acc = np.round(_resample(wrist_acc, WRIST_ACC_HZ) * 64.0)

    # E4 BVP: AC-coupled, arbitrary units of tens to hundreds.
    bvp = _resample(s["PPG"] - np.mean(s["PPG"]), WRIST_BVP_HZ) * 60.0

    t = rec.traits
    height = float(rng.uniform(155, 195))
    return {
        "signal": {
            "chest": {
                "ACC": acc.astype(np.float64),
                "ECG": _col(s["ECG"]),
                "EMG": _col(rng.normal(0, 0.005, n)),
                "EDA": _col(chest_eda),
                "Temp": _col(chest_temp),
                "Resp": _col(s["RESP"]),
            },
            "wrist": {
                "ACC": wrist_acc.astype(np.float64),
                "BVP": _col(bvp),
                "EDA": _col(wrist_eda),
                "TEMP": _col(wrist_temp),
            },
        },
        "label": window_heart_rate(rec.r_peak_samples, duration),
        "activity": _col(activity),
        "rpeaks": rec.r_peak_samples.astype(np.int64),
        "subject": f"S{subject_index + 1}",
        "questionnaire": {
            "WEIGHT": round(float(rng.uniform(20, 28)) * (height / 100) ** 2, 1),
            "Gender": "m" if t.sex == "M" else "f",
            "AGE": t.age,
            "HEIGHT": round(height),
            "SKIN": int(rng.integers(1, 7)),
            "SPORT": int(rng.integers(1, 7)),
        },
    }


def make_ppg_dalia_like(
    out_dir: str | Path, n_subjects: int = 2, duration_s: int = 120, seed: int = 0
) -> Path:
    """Write ``<out_dir>/S1/S1.pkl`` .. ``S{n}/S{n}.pkl`` in the PPG-DaLiA layout.

    Args:
        out_dir: Root folder (DaLiA's ``PPG_FieldStudy``).
        n_subjects: Subjects S1..Sn.
        duration_s: Seconds per subject (>= 8, one label window); 120 s is about 5.6 MB a file.
        seed: Root seed of the simulation (same seed, same files).

    Returns:
        ``out_dir`` as a Path.
    """
    if duration_s < LABEL_WINDOW_S:
        raise ValueError(f"duration_s must be >= {LABEL_WINDOW_S}, got {duration_s}")
    segment_min = int(max(20, min(60, duration_s // 4)))
    config = PhysioSimulationConfig(
        n_subjects=n_subjects,
        duration_s=int(duration_s),
        sample_rate_hz=float(CHEST_HZ),
        seed=seed,
        segment_min_s=segment_min,
        segment_max_s=2 * segment_min,
        activities=tuple(DALIA_ACTIVITY_IDS),
        apnea_rate_per_min=0.0,  # DaLiA subjects are awake
    )
    out = Path(out_dir)
    for i in range(n_subjects):
        sid = f"S{i + 1}"
        folder = out / sid
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{sid}.pkl.tmp"
        with open(tmp, "wb") as f:
            # Protocol 4: loads with encoding="latin1" like the real Python-2 files, and stores
            # arrays as raw bytes (protocol 2 re-encodes them as latin-1 text, 1.5x larger).
            pickle.dump(_subject_dict(i, config), f, protocol=4)
        tmp.replace(folder / f"{sid}.pkl")
    return out
