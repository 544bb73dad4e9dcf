"""Read PPG-DaLiA subjects (``S*/S*.pkl``) into ``RawRecording``.

PPG-DaLiA (Reiss et al., 2019) ships one pickle per subject, written by Python 2, hence
``pickle.load(f, encoding="latin1")``. The keys used here:

- ``signal.chest`` (RespiBAN, 700 Hz): ``ACC`` (N, 3) in g, ``ECG`` (N, 1), ``Resp`` (N, 1);
- ``signal.wrist`` (Empatica E4): ``ACC`` 32 Hz, ``BVP`` 64 Hz, ``EDA``/``TEMP`` 4 Hz;
- ``label``: reference heart rate (from the ECG) per 8 s window shifted by 2 s;
- ``activity`` (N, 1) at 4 Hz, DaLiA activity ids (see ``DALIA_ACTIVITY_TO_NAME``);
- ``rpeaks``: R-peak sample indices at 700 Hz.

Channels: ``ecg`` = chest ECG, ``ppg`` = wrist BVP, ``resp`` = chest Resp, ``acc_x/y/z`` = chest
ACC. The chest accelerometer is used (not the wrist one) because it sits on the same device
and clock as ECG and Resp (no cross-device alignment), measures trunk motion, which is what
the activity label describes, and also carries the breathing motion of the chest; the wrist
ACC mostly reflects arm movement. PPG-DaLiA has no SpO2 channel.

Activity mapping onto ``physio_schema.ACTIVITIES`` (rest, walk, run, cycle, sleep):
sitting, driving, lunch, working -> rest (seated, low motion); walking, ascending/descending
stairs -> walk; table soccer -> walk (standing, moving on the feet, closest intensity);
cycling -> cycle; the transient periods between activities (id 0) -> -1 (unknown).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from crossmodal_ray.pipelines.physio.errors import UnreadableFileError
from crossmodal_ray.pipelines.physio.schema import ACTIVITIES
from crossmodal_ray.pipelines.physio.wfdb_reader import RawRecording

CHEST_FS = 700.0
WRIST_BVP_FS = 64.0
ACTIVITY_FS = 4.0
# The reference heart rate: one value per 8 s window, windows shifted by 2 s.
LABEL_WINDOW_S = 8.0
LABEL_SHIFT_S = 2.0

DALIA_ACTIVITY_TO_NAME: dict[int, str | None] = {
    0: None,  # transient between activities
    1: "rest",  # sitting
    2: "walk",  # ascending/descending stairs
    3: "walk",  # table soccer
    4: "cycle",  # cycling
    5: "rest",  # driving a car
    6: "rest",  # lunch break
    7: "walk",  # walking
    8: "rest",  # working at a desk
}


def list_ppg_dalia_files(root: str | Path) -> list[str]:
    """``S*/S*.pkl`` files under ``root`` whose name matches their folder, sorted."""
    root = Path(root)
    found = [p for p in root.glob("S*/S*.pkl") if p.stem == p.parent.name]
    return sorted(p.relative_to(root).as_posix() for p in found)


def map_dalia_activity(ids: np.ndarray) -> np.ndarray:
    """DaLiA activity ids -> ``ACTIVITIES`` indices as int8, -1 for transient or unknown ids."""
    lookup = np.full(256, -1, dtype=np.int8)
    for dalia_id, name in DALIA_ACTIVITY_TO_NAME.items():
        if name is not None:
            lookup[dalia_id] = ACTIVITIES.index(name)
    ids = np.nan_to_num(np.asarray(ids, dtype=np.float64).ravel(), nan=-1.0).astype(np.int64)
    valid = (ids >= 0) & (ids < 256)
    return np.where(valid, lookup[np.clip(ids, 0, 255)], -1).astype(np.int8)


def _column(data: dict, *keys: str) -> np.ndarray:
    """``data[k0][k1]...`` as a float64 array, with an error that names the missing key."""
    node = data
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            path = "/".join(keys[: depth + 1])
            raise UnreadableFileError(f"PPG-DaLiA pickle lacks {path}")
        node = node[key]
    return np.asarray(node, dtype=np.float64)


def read_ppg_dalia(root: str | Path, rel_path: str) -> RawRecording:
    """Read one subject's pickle.

    Args:
        root: The PPG-DaLiA folder (holding ``S1/``, ``S2/``, ...).
        rel_path: ``S1/S1.pkl`` relative to ``root``; becomes the ``source`` column.

    Returns:
        The recording, with ``beat_times_s`` from ``rpeaks``, ``reference_hr`` from ``label``
        and ``reference_activity`` from ``activity``.

    Raises:
        UnreadableFileError: the pickle cannot be loaded or lacks a needed key.
    """
    path = Path(root) / rel_path
    try:
        with open(path, "rb") as f:
            data = pickle.load(f, encoding="latin1")
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is the same to the user
        raise UnreadableFileError(
            f"unreadable pickle {rel_path}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise UnreadableFileError(f"PPG-DaLiA pickle {rel_path} holds {type(data).__name__}")
    ecg = _column(data, "signal", "chest", "ECG").reshape(-1)
    resp = _column(data, "signal", "chest", "Resp").reshape(-1)
    acc = _column(data, "signal", "chest", "ACC").reshape(-1, 3)
    bvp = _column(data, "signal", "wrist", "BVP").reshape(-1)
    channels = {
        "ecg": (ecg, CHEST_FS),
        "ppg": (bvp, WRIST_BVP_FS),
        "resp": (resp, CHEST_FS),
        "acc_x": (acc[:, 0], CHEST_FS),
        "acc_y": (acc[:, 1], CHEST_FS),
        "acc_z": (acc[:, 2], CHEST_FS),
    }
    # The shortest channel bounds the record so that every window lies inside every channel.
    duration_s = min(len(x) / fs for x, fs in channels.values())
    beats = None
    if "rpeaks" in data:
        beats = np.sort(np.asarray(data["rpeaks"], dtype=np.float64).ravel()) / CHEST_FS
    reference_hr = None
    if "label" in data:
        hr = np.asarray(data["label"], dtype=np.float64).ravel()
        centres = np.arange(hr.size) * LABEL_SHIFT_S + LABEL_WINDOW_S / 2
        reference_hr = (centres, hr)
    reference_activity = None
    if "activity" in data:
        reference_activity = (map_dalia_activity(data["activity"]), ACTIVITY_FS)
    # The folder name, not data["subject"]: the split is decided from paths before reading.
    subject = Path(rel_path).parent.name
    return RawRecording(
        record=Path(rel_path).with_suffix("").as_posix(),
        source=rel_path,
        subject=subject,
        channels=channels,
        beat_times_s=beats,
        duration_s=float(duration_s),
        reference_hr=reference_hr,
        reference_activity=reference_activity,
    )
