"""Read PPG-DaLiA subjects (``S*/S*.pkl``) into ``RawRecording``.

PPG-DaLiA (Reiss et al., 2019) ships one pickle per subject, written by Python 2, hence
``encoding="latin1"``. A pickle can run code when loaded, so it is loaded with the data-only
unpickler of ``safe_pickle.py`` (a file asking for ``os.system`` is rejected, nothing of it
runs). The keys used here, each checked for presence and shape (a missing key or an array of
the wrong shape is rejected with a message naming the key and what was expected):

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

from crossmodal_ray.pipelines.physio.errors import (
    MissingKeyError,
    UnreadableFileError,
    UnsafePickleError,
    WrongShapeError,
)
from crossmodal_ray.pipelines.physio.safe_pickle import load_data_pickle
from crossmodal_ray.pipelines.physio.schema import ACTIVITIES
from crossmodal_ray.pipelines.physio.wfdb_reader import RawRecording

CHEST_FS = 700.0
WRIST_BVP_FS = 64.0
ACTIVITY_FS = 4.0
# The reference heart rate: one value per 8 s window, windows shifted by 2 s.
LABEL_WINDOW_S = 8.0
LABEL_SHIFT_S = 2.0
# Chest and wrist devices record the same session: durations differing by more than this
# fraction mean a length the sample rate does not explain (an array stored at another rate).
MAX_DURATION_MISMATCH = 0.05

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


def _lookup(data: dict, path: str, expected: str) -> object:
    """``data["a"]["b"]...`` for ``path = "a/b/..."``, with an error naming the missing key."""
    node: object = data
    keys = path.split("/")
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            where = "/".join(keys[: depth + 1])
            raise MissingKeyError(
                f"PPG-DaLiA pickle lacks {where}: expected {path} to hold {expected}"
            )
        node = node[key]
    return node


def _array(data: dict, path: str, columns: int, what: str) -> np.ndarray:
    """The float64 array at ``path``, shaped (N, ``columns``) (a 1-D array for one column).

    Raises:
        MissingKeyError: the key is missing.
        WrongShapeError: not numeric, or another shape (the message names the key, its shape
            and the one expected).
    """
    expected = f"an (N, {columns}) array of {what}"
    node = _lookup(data, path, expected)
    try:
        x = np.asarray(node, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise WrongShapeError(
            f"PPG-DaLiA pickle's {path} is not numeric ({type(node).__name__}): expected {expected}"
        ) from exc
    one_column_1d = columns == 1 and x.ndim == 1
    if not one_column_1d and (x.ndim != 2 or x.shape[1] != columns):
        raise WrongShapeError(f"PPG-DaLiA pickle's {path} has shape {x.shape}: expected {expected}")
    return x.reshape(-1) if columns == 1 else x


def _optional_vector(data: dict, key: str, what: str) -> np.ndarray | None:
    """``data[key]`` as a 1-D float64 array ((N,) or (N, 1) accepted), None when absent."""
    if key not in data:
        return None
    expected = f"an (N,) or (N, 1) array of {what}"
    try:
        x = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise WrongShapeError(
            f"PPG-DaLiA pickle's {key} is not numeric ({type(data[key]).__name__}): expected "
            f"{expected}"
        ) from exc
    if x.ndim > 2 or (x.ndim == 2 and x.shape[1] != 1):
        raise WrongShapeError(f"PPG-DaLiA pickle's {key} has shape {x.shape}: expected {expected}")
    return x.reshape(-1)


def _check_durations(chest: dict[str, np.ndarray], bvp: np.ndarray) -> None:
    """Chest signals share one length; the wrist BVP lasts as long (``MAX_DURATION_MISMATCH``).

    A length the rate does not explain (BVP stored at 700 Hz, a chest signal cut short) would
    otherwise put every window at the wrong time.
    """
    lengths = {key: len(x) for key, x in chest.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{key} {n}" for key, n in lengths.items())
        raise WrongShapeError(
            f"PPG-DaLiA chest signals differ in length ({listed} samples): expected one length "
            f"(one {CHEST_FS:g} Hz device)"
        )
    chest_s = next(iter(lengths.values())) / CHEST_FS
    wrist_s = len(bvp) / WRIST_BVP_FS
    if abs(chest_s - wrist_s) > MAX_DURATION_MISMATCH * max(chest_s, wrist_s):
        raise WrongShapeError(
            f"PPG-DaLiA signal lengths do not match their rates: signal/wrist/BVP has "
            f"{len(bvp)} samples ({wrist_s:.1f} s at {WRIST_BVP_FS:g} Hz) but the chest "
            f"signals have {len(chest['ECG'])} ({chest_s:.1f} s at {CHEST_FS:g} Hz)"
        )


def load_ppg_dalia_pickle(path: Path, rel_path: str) -> dict:
    """The subject's dictionary, loaded with the data-only unpickler (``safe_pickle.py``).

    Raises:
        UnsafePickleError: the pickle names code to import or call.
        UnreadableFileError: not a pickle, truncated, or not a dict.
    """
    try:
        with open(path, "rb") as f:
            data = load_data_pickle(f, encoding="latin1")
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"unsafe pickle {rel_path}: {exc}") from None
    except (EOFError, pickle.UnpicklingError) as exc:
        early = isinstance(exc, EOFError) or "truncated" in str(exc)
        why = (
            "the file ends early (truncated or partly downloaded)"
            if early
            else "not a pickle, or corrupt"
        )
        raise UnreadableFileError(
            f"unreadable pickle {rel_path}: {why}: {type(exc).__name__}: {exc}"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any other unpickling failure: the same to the user
        raise UnreadableFileError(
            f"unreadable pickle {rel_path}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise UnreadableFileError(
            f"unreadable pickle {rel_path}: holds {type(data).__name__}, expected the "
            "PPG-DaLiA dict (signal, label, activity, rpeaks)"
        )
    return data


def read_ppg_dalia(root: str | Path, rel_path: str) -> RawRecording:
    """Read one subject's pickle.

    Args:
        root: The PPG-DaLiA folder (holding ``S1/``, ``S2/``, ...).
        rel_path: ``S1/S1.pkl`` relative to ``root``; becomes the ``source`` column.

    Returns:
        The recording, with ``beat_times_s`` from ``rpeaks``, ``reference_hr`` from ``label``
        and ``reference_activity`` from ``activity``.

    Raises:
        UnsafePickleError: the pickle names code (``os.system``, ...); nothing of it ran.
        UnreadableFileError: the pickle cannot be loaded.
        MissingKeyError: a needed key is missing (the message names it).
        WrongShapeError: an array has the wrong shape, or lengths that disagree with the rates.
    """
    data = load_ppg_dalia_pickle(Path(root) / rel_path, rel_path)
    ecg = _array(data, "signal/chest/ECG", 1, f"chest ECG at {CHEST_FS:g} Hz")
    resp = _array(data, "signal/chest/Resp", 1, f"chest respiration at {CHEST_FS:g} Hz")
    acc = _array(data, "signal/chest/ACC", 3, f"chest acceleration x, y, z at {CHEST_FS:g} Hz")
    bvp = _array(data, "signal/wrist/BVP", 1, f"wrist PPG (BVP) at {WRIST_BVP_FS:g} Hz")
    _check_durations({"ECG": ecg, "Resp": resp, "ACC": acc}, bvp)
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
    rpeaks = _optional_vector(data, "rpeaks", f"R-peak sample indices at {CHEST_FS:g} Hz")
    beats = None if rpeaks is None else np.sort(rpeaks) / CHEST_FS
    reference_hr = None
    hr = _optional_vector(data, "label", "heart rates, one per 8 s window every 2 s")
    if hr is not None:
        centres = np.arange(hr.size) * LABEL_SHIFT_S + LABEL_WINDOW_S / 2
        reference_hr = (centres, hr)
    reference_activity = None
    activity = _optional_vector(data, "activity", f"activity ids at {ACTIVITY_FS:g} Hz")
    if activity is not None:
        reference_activity = (map_dalia_activity(activity), ACTIVITY_FS)
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
