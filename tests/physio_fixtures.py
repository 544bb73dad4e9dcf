"""Tiny physiological inputs for the ingest tests: WFDB records, a labels.csv, broken files.

Records use the sample corpus's layout and channel names (ECG, PPG, RESP, ACC_X, ACC_Y, ACC_Z,
SpO2 at 128 Hz, format 16) with neurokit2 waveforms, so R-peak and breath detection work on
them: ``HEART_RATE_BPM`` and ``RESP_RATE_BPM`` are what the signal labels must recover.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

SIGNAL_NAMES = ("ECG", "PPG", "RESP", "ACC_X", "ACC_Y", "ACC_Z", "SpO2")
SIGNAL_UNITS = ("mV", "NU", "NU", "g", "g", "g", "%")
FS = 128
HEART_RATE_BPM = 72
RESP_RATE_BPM = 15
# Per-second table labels: different from the simulated rates, so a test can tell the source.
TABLE_HR_BPM = 64.0
TABLE_RR_BPM = 12.0
# Format 16's "invalid sample" value: reads back as NaN.
WFDB_INVALID_16 = -32768


def simulate_signals(duration_s: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Seven channels of ``duration_s`` seconds at ``FS`` Hz."""
    import neurokit2 as nk

    n = int(duration_s * FS)
    # neurokit2's simulators want whole seconds and return short output for a few seconds.
    duration_s = max(20, int(np.ceil(duration_s)))
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    ecg = nk.ecg_simulate(
        duration=duration_s,
        sampling_rate=FS,
        heart_rate=HEART_RATE_BPM,
        noise=0.01,
        random_state=seed,
    )[:n]
    ppg = nk.ppg_simulate(
        duration=duration_s, sampling_rate=FS, heart_rate=HEART_RATE_BPM, random_state=seed
    )[:n]
    rsp = nk.rsp_simulate(
        duration=duration_s, sampling_rate=FS, respiratory_rate=RESP_RATE_BPM, random_state=seed
    )[:n]
    return {
        "ECG": ecg,
        "PPG": ppg,
        "RESP": rsp,
        "ACC_X": 0.02 * rng.standard_normal(n),
        "ACC_Y": 0.02 * rng.standard_normal(n),
        "ACC_Z": 1.0 + 0.02 * rng.standard_normal(n),
        "SpO2": 97.0 + 0.5 * np.sin(2 * np.pi * t / 20.0),
    }


def write_record(
    root: Path,
    record: str,
    duration_s: float = 40.0,
    seed: int = 0,
    names: tuple[str, ...] = SIGNAL_NAMES,
    nan_gaps: tuple[tuple[str, float, float], ...] = (),
    mode: str = "normal",
) -> Path:
    """Write ``<root>/<record>.hea/.dat``.

    Args:
        root: Corpus folder.
        record: ``S01/S01_r1``.
        duration_s: Length.
        seed: Waveform seed.
        names: Which of ``SIGNAL_NAMES`` to write.
        nan_gaps: (channel, start_s, length_s) runs written as invalid samples (NaN).
        mode: ``normal``, ``flat`` (every channel constant) or ``nan`` (every sample invalid).

    Returns:
        The header path.
    """
    import wfdb

    path = root / record
    path.parent.mkdir(parents=True, exist_ok=True)
    units = [SIGNAL_UNITS[SIGNAL_NAMES.index(n)] for n in names]
    n = int(duration_s * FS)
    kwargs = dict(fs=FS, units=units, sig_name=list(names), fmt=["16"] * len(names))
    if mode == "nan":
        digital = np.full((n, len(names)), WFDB_INVALID_16, dtype=np.int16)
        wfdb.wrsamp(
            path.name, d_signal=digital, adc_gain=[200.0] * len(names),
            baseline=[0] * len(names), write_dir=str(path.parent), **kwargs,
        )  # fmt: skip
        return path.with_suffix(".hea")
    signals = simulate_signals(duration_s, seed) if mode == "normal" else {}
    matrix = np.column_stack(
        [signals[name] if mode == "normal" else np.full(n, 1.0) for name in names]
    )
    for channel, start_s, length_s in nan_gaps:
        c = names.index(channel)
        matrix[int(start_s * FS) : int((start_s + length_s) * FS), c] = np.nan
    wfdb.wrsamp(path.name, p_signal=matrix, write_dir=str(path.parent), **kwargs)
    return path.with_suffix(".hea")


def write_labels(root: Path, records: list[str], duration_s: float = 40.0) -> None:
    """``labels.csv`` rows (one per second) for ``records``: rest, then walk; apnea 0."""
    rows = []
    for record in records:
        for t in range(int(duration_s)):
            rows.append(
                {
                    "record": record,
                    "subject": record.split("/")[0],
                    "t_s": float(t),
                    "hr_bpm": TABLE_HR_BPM,
                    "rr_bpm": TABLE_RR_BPM,
                    "activity": "rest" if t < duration_s / 2 else "walk",
                    "apnea": 0,
                }
            )
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)


def write_records_file(root: Path, records: list[str]) -> None:
    (root / "RECORDS").write_text("".join(f"{r}\n" for r in records))


def make_wfdb_corpus(
    root: Path, n_subjects: int = 4, duration_s: float = 40.0, labels: bool = True
) -> list[str]:
    """A good corpus: one record per subject ``S01..``; returns the record names."""
    records = [f"S{i:02d}/S{i:02d}_r1" for i in range(1, n_subjects + 1)]
    for i, record in enumerate(records):
        write_record(root, record, duration_s, seed=i)
    write_records_file(root, records)
    if labels:
        write_labels(root, records, duration_s)
    return records


def truncate_dat(root: Path, record: str, keep_fraction: float = 0.5) -> None:
    """Cut the ``.dat`` file short (a partial download)."""
    dat = (root / record).with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[: int(dat.stat().st_size * keep_fraction)])


def edit_header(root: Path, record: str, n_samples: int | None = None, drop_last_signal=False):
    """Make the header disagree with its data: another sample count or one signal line less."""
    hea = (root / record).with_suffix(".hea")
    lines = hea.read_text().splitlines()
    fields = lines[0].split()
    if n_samples is not None:
        fields[3] = str(n_samples)
    if drop_last_signal:
        fields[1] = str(int(fields[1]) - 1)
        lines = lines[:-1]
    lines[0] = " ".join(fields)
    hea.write_text("\n".join(lines) + "\n")


def write_zero_length_record(root: Path, record: str) -> None:
    """A header that says 0 samples and an empty ``.dat``."""
    path = root / record
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{path.name} 2 {FS} 0"] + [
        f"{path.name}.dat 16 200/mV 16 0 0 0 0 {name}" for name in ("ECG", "PPG")
    ]
    path.with_suffix(".hea").write_text("\n".join(lines) + "\n")
    path.with_suffix(".dat").write_bytes(b"")


def make_ppg_dalia_corpus(root: Path, n_subjects: int = 2, duration_s: int = 60) -> Path:
    """PPG-DaLiA-like pickles, from the sample-corpus maker when it exists, else a tiny one."""
    try:
        from crossmodal_ray.pipelines.sample_corpus.physio.ppg_dalia_files import (
            make_ppg_dalia_like,
        )
    except ImportError:
        make_ppg_dalia_like = None
    if make_ppg_dalia_like is not None:
        return make_ppg_dalia_like(root, n_subjects=n_subjects, duration_s=duration_s, seed=0)
    for i in range(1, n_subjects + 1):
        _write_tiny_dalia_pickle(root / f"S{i}" / f"S{i}.pkl", duration_s, seed=i)
    return root


def _write_tiny_dalia_pickle(path: Path, duration_s: int, seed: int) -> None:
    """The PPG-DaLiA keys with simulated content (fallback when no sample-corpus maker)."""
    import neurokit2 as nk

    n700 = duration_s * 700
    ecg = nk.ecg_simulate(
        duration=duration_s, sampling_rate=700, heart_rate=HEART_RATE_BPM, random_state=seed
    )[:n700]
    _, info = nk.ecg_peaks(ecg, sampling_rate=700)
    rpeaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
    n_labels = (duration_s - 8) // 2 + 1
    data = {
        "signal": {
            "chest": {
                "ACC": np.random.default_rng(seed).normal(0, 0.02, (n700, 3)),
                "ECG": ecg.reshape(-1, 1),
                "Resp": nk.rsp_simulate(duration=duration_s, sampling_rate=700,
                                        random_state=seed)[:n700].reshape(-1, 1),
            },
            "wrist": {
                "ACC": np.zeros((duration_s * 32, 3)),
                "BVP": nk.ppg_simulate(duration=duration_s, sampling_rate=64,
                                       heart_rate=HEART_RATE_BPM, random_state=seed).reshape(-1, 1),
                "EDA": np.zeros((duration_s * 4, 1)),
                "TEMP": np.zeros((duration_s * 4, 1)),
            },
        },
        "label": np.full(n_labels, float(HEART_RATE_BPM)),
        "activity": np.full((duration_s * 4, 1), 1.0),
        "rpeaks": rpeaks,
        "subject": path.stem,
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)


def write_multisegment_record(
    root: Path,
    record: str,
    segment_s: tuple[float, ...] = (20.0, 17.0),
    gap_s: float = 3.0,
    layout: bool = True,
    seed: int = 0,
) -> list[str]:
    """A MIMIC-style multi-segment record: a master header, a layout header, segments, a gap.

    One continuous simulation is cut into ``segment_s`` stretches with a ``~`` gap of ``gap_s``
    seconds after the first (the signal under the gap is not written); the second segment lists
    its signals in another order (a variable layout, joined by name). Frames at ``FS``.

    Args:
        root: Corpus folder.
        record: The master record, e.g. ``S09/S09_ms``; segments are ``<name>_0001`` .. and the
            layout header ``<name>_layout`` in the same folder.
        segment_s: Seconds of each segment.
        gap_s: Seconds of the gap after the first segment (0: none).
        layout: Write a layout header (variable layout) as the first segment.
        seed: Waveform seed.

    Returns:
        The segment records (``S09/S09_ms_0001``, ...) in order, layout header first if any.
    """
    import wfdb

    master = root / record
    master.parent.mkdir(parents=True, exist_ok=True)
    name = master.name
    total_s = sum(segment_s) + gap_s
    signals = simulate_signals(total_s, seed)
    lines: list[tuple[str, int]] = []
    written: list[str] = []
    if layout:
        layout_name = f"{name}_layout"
        signal_lines = [
            f"~ 0 200/{u} 16 0 0 0 0 {n}" for n, u in zip(SIGNAL_NAMES, SIGNAL_UNITS, strict=True)
        ]
        (master.parent / f"{layout_name}.hea").write_text(
            "\n".join([f"{layout_name} {len(SIGNAL_NAMES)} {FS} 0", *signal_lines]) + "\n"
        )
        lines.append((layout_name, 0))
        written.append(layout_name)
    start = 0
    for k, seconds in enumerate(segment_s):
        n = int(round(seconds * FS))
        names = list(SIGNAL_NAMES) if k % 2 == 0 else list(reversed(SIGNAL_NAMES))
        matrix = np.column_stack([signals[s][start : start + n] for s in names])
        units = [SIGNAL_UNITS[SIGNAL_NAMES.index(s)] for s in names]
        segment = f"{name}_{k + 1:04d}"
        wfdb.wrsamp(
            segment, fs=FS, units=units, sig_name=names, p_signal=matrix,
            fmt=["16"] * len(names), write_dir=str(master.parent),
        )  # fmt: skip
        lines.append((segment, n))
        written.append(segment)
        start += n
        if k == 0 and gap_s > 0:
            gap = int(round(gap_s * FS))
            lines.append(("~", gap))
            start += gap
    total = sum(n for _, n in lines)
    body = [f"{name}/{len(lines)} {len(SIGNAL_NAMES)} {FS} {total}"]
    body += [f"{segment} {n}" for segment, n in lines]
    master.with_suffix(".hea").write_text("\n".join(body) + "\n")
    folder = Path(record).parent
    return [(folder / s).as_posix() for s in written]


def remove_segment(root: Path, segment: str) -> None:
    """Delete a segment's header and signal file (a partial download of a MIMIC folder)."""
    for suffix in (".hea", ".dat"):
        (root / segment).with_suffix(suffix).unlink()


def set_storage_format(root: Path, record: str, fmt: str = "999") -> None:
    """Rewrite every signal line's storage format in the header to ``fmt``."""
    hea = (root / record).with_suffix(".hea")
    lines = hea.read_text().splitlines()
    lines = [lines[0]] + [" ".join([f[0], fmt, *f[2:]]) for f in map(str.split, lines[1:])]
    hea.write_text("\n".join(lines) + "\n")


def corrupt_signal_samples(
    root: Path, record: str, signal: str = "ECG", start_s: float = 2.0, length_s: float = 1.0
) -> None:
    """Change ``length_s`` seconds of one signal's samples in a format-16 ``.dat`` (same size),
    so its header checksum no longer matches: bit rot or a bad copy."""
    hea = (root / record).with_suffix(".hea")
    names = [line.split()[-1] for line in hea.read_text().splitlines()[1:]]
    dat = hea.with_suffix(".dat")
    samples = np.fromfile(dat, dtype="<i2").reshape(-1, len(names))
    rows = slice(int(start_s * FS), int((start_s + length_s) * FS))
    samples[rows, names.index(signal)] //= 2
    samples.tofile(dat)


class _RunsShellWhenUnpickled:
    """Pickles as a call of ``os.system(command)``: what a malicious data file looks like."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))


def write_malicious_pickle(path: Path, marker: Path) -> None:
    """A PPG-DaLiA-shaped pickle whose loading (with plain ``pickle.load``) would run
    ``touch <marker>``; the marker's existence shows code ran."""
    data = {"signal": {"chest": _RunsShellWhenUnpickled(f"touch {marker}")}, "subject": "S0"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=2)


def read_dalia_dict(path: Path) -> dict:
    """A PPG-DaLiA pickle written by these fixtures, loaded with the data-only unpickler."""
    from crossmodal_ray.pipelines.physio.safe_pickle import load_data_pickle

    with open(path, "rb") as f:
        return load_data_pickle(f)


def write_dalia_dict(path: Path, data: dict) -> None:
    """Write ``data`` as ``path`` (``S3/S3.pkl``), protocol 4 like the sample-corpus maker."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=4)
