"""Read WFDB records (``.hea`` + ``.dat`` + an annotation file) into ``RawRecording``.

What this reader copes with (all present in ``shared/data/wfdb``):

- every storage format wfdb-python reads, including 212 (12-bit pairs) and 516 (FLAC), and
  signals split over several ``.dat`` files;
- multi-rate records: a signal with ``samps_per_frame = k`` runs at ``k * fs``; the record is
  read with ``smooth_frames=False`` so no signal is averaged down to the frame rate;
- physical units with invalid samples as NaN (gaps are handled by ``physio_windows``);
- beat annotations under whichever extension exists next to the record.

Channels are mapped onto ``physio_schema.CHANNELS`` by name, case-insensitively; anything else
(ABP, EDA, ...) is ignored. Before decoding, the byte size of every fixed-width ``.dat`` file is
checked against its header, which catches a truncated file, a wrong sample count and a wrong
number of signals with a message that says so (wfdb alone reports "Samples were not loaded
correctly"). Checksum mismatches on only some signals are kept as warnings: real PhysioNet
records have them (03700181's RESP), so they cannot be a reason to reject.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crossmodal_ray.pipelines.physio.errors import (
    EmptyRecordError,
    HeaderMismatchError,
    TruncatedDataError,
)
from crossmodal_ray.pipelines.physio.schema import CHANNELS
from crossmodal_ray.pipelines.physio.subjects import folder_subject

# Canonical channel <- signal names, best first, compared after ``normalize_signal_name``.
# ECG prefers lead II / MLII (the usual rhythm lead); "ECG" is the sample corpus's own name.
CHANNEL_ALIASES: dict[str, tuple[str, ...]] = {
    "ecg": ("II", "MLII", "ECG", "ECGII", "I", "III", "V", "V1", "V2", "V3", "V4", "V5", "V6")
    + ("MCL1", "AVR", "AVL", "AVF", "ECG1", "ECG2"),
    "ppg": ("PPG", "PLETH", "BVP", "PLETHYSMOGRAM"),
    "resp": ("RESP", "RSP", "RESPIRATION", "RESPIRATORY"),
    "acc_x": ("ACCX", "ACCELX", "AX"),
    "acc_y": ("ACCY", "ACCELY", "AY"),
    "acc_z": ("ACCZ", "ACCELZ", "AZ"),
    "spo2": ("SPO2", "SAO2", "SPO"),
}

# Annotation extensions tried in order; ``wabp`` marks ABP pulses (a pulse rate, not beats),
# so it is the last resort.
ANNOTATION_EXTENSIONS: tuple[str, ...] = ("atr", "qrs", "ecg", "gqrsh", "gqrs", "ann", "wabp")

# WFDB beat annotation codes (non-beat codes such as rhythm '+' or noise '~' are dropped).
BEAT_SYMBOLS = frozenset("N L R A V / f E j e a J S F Q".split())

# Bits per sample of the fixed-width formats whose file size follows from the header.
_FORMAT_BITS = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12}


@dataclass
class RawRecording:
    """One record's canonical channels at their own rates, before any resampling.

    Attributes:
        record: Record name relative to the raw root, e.g. ``S01/S01_r1``.
        source: The path the row's ``source`` column carries (WFDB: same as ``record``).
        subject: Subject id (splits never share one). The readers give the folder; the ingest
            replaces it with the subject it resolved (``pipelines/physio/subjects.py``).
        channels: Canonical channel name -> (float64 samples in physical units, NaN = invalid;
            sample rate in Hz). Channels the record lacks are absent from the dict.
        beat_times_s: Beat times in seconds from annotations (or given R peaks), or None.
        duration_s: Record length in seconds.
        reference_hr: Reference heart rate shipped with the data: (window centres s, bpm).
        reference_activity: Activity per sample as ``ACTIVITIES`` index (-1 unknown), and its
            rate in Hz.
        warnings: Non-fatal oddities (e.g. one signal's checksum differs from its header).
    """

    record: str
    source: str
    subject: str
    channels: dict[str, tuple[np.ndarray, float]]
    beat_times_s: np.ndarray | None
    duration_s: float
    reference_hr: tuple[np.ndarray, np.ndarray] | None = None
    reference_activity: tuple[np.ndarray, float] | None = None
    warnings: list[str] = field(default_factory=list)


def normalize_signal_name(name: str) -> str:
    """Upper-case ``name`` with everything but letters and digits removed (``%SpO2`` -> SPO2)."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def map_signal_names(sig_names: list[str]) -> dict[str, int]:
    """Canonical channel -> index of the best matching signal in ``sig_names``.

    Signals matching no alias are ignored; a signal is used for one channel at most.
    """
    normalized = [normalize_signal_name(n) for n in sig_names]
    chosen: dict[str, int] = {}
    used: set[int] = set()
    for channel in CHANNELS:
        for alias in CHANNEL_ALIASES[channel]:
            hits = [i for i, n in enumerate(normalized) if n == alias and i not in used]
            if hits:
                chosen[channel] = hits[0]
                used.add(hits[0])
                break
    return chosen


def list_records(root: str | Path) -> list[str]:
    """Record names under ``root``: from ``RECORDS`` if present, else every ``*.hea``.

    A ``RECORDS`` line ending in ``/`` names a sub-database with its own ``RECORDS`` (the
    PhysioNet layout) and is expanded. Returns sorted, de-duplicated POSIX paths without
    extension, relative to ``root``.
    """
    root = Path(root)
    records_file = root / "RECORDS"
    if records_file.is_file():
        names: list[str] = []
        for line in records_file.read_text().splitlines():
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            if entry.endswith("/"):
                names += [f"{entry.rstrip('/')}/{sub}" for sub in list_records(root / entry)]
            else:
                names.append(entry)
        return sorted(set(names))
    headers = [p for p in root.rglob("*.hea") if not any(s.startswith(".") for s in p.parts)]
    return sorted({p.relative_to(root).with_suffix("").as_posix() for p in headers})


def check_data_file_sizes(header, record_dir: Path) -> None:
    """Raise when a fixed-width ``.dat`` file's size disagrees with its header.

    Args:
        header: A ``wfdb.Record`` from ``wfdb.rdheader``.
        record_dir: Folder of the header (``.dat`` names are relative to it).

    Raises:
        EmptyRecordError: The header says zero samples.
        TruncatedDataError: A file is shorter than the header needs.
        HeaderMismatchError: A file is longer than the header accounts for (wrong sample count
            or a missing signal line), or a signal file is missing.
    """
    if header.sig_len is not None and header.sig_len == 0:
        raise EmptyRecordError(f"zero-length record: header of {header.record_name} says 0 samples")
    if not header.n_sig:
        raise EmptyRecordError(f"record {header.record_name} has no signals")
    spf = header.samps_per_frame or [1] * header.n_sig
    offsets = header.byte_offset or [None] * header.n_sig
    files: dict[str, dict] = {}
    for i, name in enumerate(header.file_name):
        entry = files.setdefault(name, {"fmt": header.fmt[i], "samples": 0, "offset": 0})
        entry["samples"] += int(spf[i])
        entry["offset"] = int(offsets[i] or 0)
        if entry["fmt"] != header.fmt[i]:
            entry["fmt"] = None  # mixed formats in one file: no simple size rule
    for name in files:
        if not (record_dir / name).is_file():
            raise HeaderMismatchError(f"signal file {name} named by the header does not exist")
    if all((record_dir / n).stat().st_size <= e["offset"] for n, e in files.items()):
        raise EmptyRecordError(f"zero-length record: {', '.join(files)} hold no samples")
    for name, entry in files.items():
        path = record_dir / name
        bits = _FORMAT_BITS.get(str(entry["fmt"]))
        if bits is None or header.sig_len is None:
            continue  # FLAC, 310/311 or unknown length: wfdb itself checks while decoding
        expected = entry["offset"] + math.ceil(header.sig_len * entry["samples"] * bits / 8)
        actual = path.stat().st_size
        layout = (
            f"{header.sig_len} samples x {entry['samples']} values/frame, format {entry['fmt']}"
        )
        if actual < expected:
            raise TruncatedDataError(
                f"truncated .dat: {name} has {actual} bytes but the header ({layout}) needs "
                f"{expected}"
            )
        if actual > expected + 2:  # format 212 may pad the last pair; more is a real mismatch
            raise HeaderMismatchError(
                f"header disagrees with its data: {name} has {actual} bytes but the header "
                f"({layout}) accounts for {expected}; wrong sample count or signal count"
            )


def _checksum_warnings(header, record) -> tuple[list[str], int]:
    """Messages for signals whose checksum differs from the header, and how many differ."""
    if not header.checksum:
        return [], 0
    computed = record.calc_checksum(expanded=True)
    bad = [
        name
        for name, want, got in zip(header.sig_name, header.checksum, computed, strict=False)
        if want is not None and (int(want) - int(got)) % 65536 != 0
    ]
    return [f"checksum of {name} differs from the header" for name in bad], len(bad)


def read_beat_annotations(record_path: Path, frame_fs: float) -> np.ndarray | None:
    """Beat times in seconds from the first annotation file that exists and reads, else None."""
    import wfdb

    for ext in ANNOTATION_EXTENSIONS:
        if not record_path.with_name(f"{record_path.name}.{ext}").is_file():
            continue
        try:
            ann = wfdb.rdann(str(record_path), ext)
        except Exception:  # noqa: BLE001 - a broken annotation file: fall back to the signal
            continue
        # Annotation sample numbers are in ``ann.fs`` ticks when the file says so (03700181's
        # gqrsh uses 500 Hz = 4 x the frame rate), else in frames.
        fs = float(ann.fs) if ann.fs else frame_fs
        keep = np.array([s in BEAT_SYMBOLS for s in ann.symbol], dtype=bool)
        beats = np.asarray(ann.sample, dtype=np.float64)[keep] / fs
        if beats.size >= 2:
            return np.sort(beats)
    return None


def read_wfdb_record(root: str | Path, record: str, beats: bool = True) -> RawRecording:
    """Read one WFDB record's canonical channels, annotations and length.

    Args:
        root: Raw corpus folder.
        record: Record path relative to ``root`` without extension (``S01/S01_r1``).
        beats: Read the beat annotations (``beat_times_s``); the ingest skips them when
            ``labels.csv`` labels the record (parsing an ``.atr`` file was a sixth of a sample
            record's decode, for beats nothing used).

    Returns:
        The record with every mapped channel at its own rate (``fs * samps_per_frame``).

    Raises:
        EmptyRecordError, TruncatedDataError, HeaderMismatchError: see ``check_data_file_sizes``;
            also when every signal's checksum disagrees with the header.
        Exception: whatever wfdb raises for an unreadable file (the caller quarantines it).
    """
    import wfdb

    record_path = Path(root) / record
    try:
        rec = wfdb.rdrecord(str(record_path), smooth_frames=False, physical=False)
    except Exception:
        # Say what is wrong with the files when their sizes show it (wfdb alone reports
        # "Samples were not loaded correctly"), else wfdb's own error.
        check_data_file_sizes(wfdb.rdheader(str(record_path)), record_path.parent)
        raise
    # ``rec`` carries its header's fields: one header parse per record (wfdb parses headers
    # with pandas lookups, ~4 ms each), the sizes checked against them after the read.
    check_data_file_sizes(rec, record_path.parent)
    if not rec.sig_len:
        raise EmptyRecordError(f"zero-length record: {record} holds no samples")
    warnings, n_bad = _checksum_warnings(rec, rec)
    if n_bad and n_bad == len(rec.sig_name):
        raise HeaderMismatchError(
            f"header disagrees with its data: the checksum of every signal "
            f"({', '.join(rec.sig_name)}) differs from the header"
        )
    physical = rec.dac(expanded=True, return_res=64)  # invalid samples -> NaN
    spf = rec.samps_per_frame or [1] * rec.n_sig
    channels = {
        channel: (np.asarray(physical[i], dtype=np.float64), float(rec.fs) * int(spf[i]))
        for channel, i in map_signal_names(list(rec.sig_name)).items()
    }
    return RawRecording(
        record=record,
        source=record,
        subject=folder_subject(record),
        channels=channels,
        beat_times_s=read_beat_annotations(record_path, float(rec.fs)) if beats else None,
        duration_s=rec.sig_len / float(rec.fs),
        warnings=warnings,
    )
