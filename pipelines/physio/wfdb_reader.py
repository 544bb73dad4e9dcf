"""Read WFDB records (``.hea`` + ``.dat`` + an annotation file) into ``RawRecording``.

What this reader copes with (real examples of all but the last in ``shared/data/wfdb``):

- every storage format wfdb-python reads, including 212 (12-bit pairs) and 516 (FLAC), and
  signals split over several ``.dat`` files;
- multi-rate records: a signal with ``samps_per_frame = k`` runs at ``k * fs``; the record is
  read with ``smooth_frames=False`` so no signal is averaged down to the frame rate;
- physical units with invalid samples as NaN (gaps are handled by ``physio_windows``);
- beat annotations under whichever extension exists next to the record;
- multi-segment records (a master header listing segments, ``~`` gaps and a layout header, as
  in the MIMIC-III waveform database): read as one record, segments joined in order, gaps NaN
  (``wfdb_multisegment.py``); the segments a master lists are not listed as records.

Channels are mapped onto ``physio_schema.CHANNELS`` by name, case-insensitively; anything else
(ABP, EDA, ...) is ignored. The files are checked against the header (``wfdb_checks.py``): an
unknown storage format, a truncated file, a wrong sample or signal count and a checksum that
disagrees with a used channel's samples each reject the record with a message that says so
(wfdb alone reports "Samples were not loaded correctly" and never compares checksums).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from crossmodal_ray.pipelines.physio.errors import EmptyRecordError
from crossmodal_ray.pipelines.physio.schema import CHANNELS
from crossmodal_ray.pipelines.physio.subjects import folder_subject
from crossmodal_ray.pipelines.physio.wfdb_checks import (
    check_data_file_sizes,
    explain_read_failure,
    verify_checksums,
)
from crossmodal_ray.pipelines.physio.wfdb_header_text import drop_listed_segments, is_master_header

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
    PhysioNet layout) and is expanded. The segments (and layout header) a multi-segment
    master lists are left out: they are read as part of the master. Returns sorted,
    de-duplicated POSIX paths without extension, relative to ``root``.
    """
    root = Path(root)
    return drop_listed_segments(root, _listed_records(root))


def _listed_records(root: Path) -> list[str]:
    """Every record ``RECORDS`` lists (sub-databases expanded), else every ``*.hea``."""
    records_file = root / "RECORDS"
    if records_file.is_file():
        names: list[str] = []
        for line in records_file.read_text().splitlines():
            entry = line.strip()
            if not entry or entry.startswith("#"):
                continue
            if entry.endswith("/"):
                names += [f"{entry.rstrip('/')}/{sub}" for sub in _listed_records(root / entry)]
            else:
                names.append(entry)
        return sorted(set(names))
    headers = [p for p in root.rglob("*.hea") if not any(s.startswith(".") for s in p.parts)]
    return sorted({p.relative_to(root).with_suffix("").as_posix() for p in headers})


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


def read_digital_record(record_path: Path):
    """The whole record as digital samples, frames unsmoothed, its files checked.

    Every signal keeps its own rate (``samps_per_frame``); ``rec`` carries its header's fields,
    so the record costs one header parse (wfdb parses headers with pandas lookups, ~4 ms each),
    and the sizes are checked against them after the read.

    Raises:
        EmptyRecordError, TruncatedDataError, HeaderMismatchError, UnsupportedFormatError,
            UnreadableFileError: see ``wfdb_checks``.
        Exception: whatever wfdb raises when the files show no reason (the caller quarantines).
    """
    import wfdb

    try:
        rec = wfdb.rdrecord(str(record_path), smooth_frames=False, physical=False)
    except Exception:
        # Say what is wrong with the files when the header or the sizes show it (wfdb alone
        # reports "Samples were not loaded correctly"), else wfdb's own error.
        explain_read_failure(record_path)
        raise
    check_data_file_sizes(rec, record_path.parent)
    if not rec.sig_len:
        raise EmptyRecordError(f"zero-length record: {record_path.name} holds no samples")
    return rec


def physical_signals(rec) -> list[tuple[np.ndarray, float]]:
    """Per signal of a digital record: float64 samples in physical units (invalid -> NaN) and
    the signal's own rate (``fs * samps_per_frame``)."""
    physical = rec.dac(expanded=True, return_res=64)
    spf = rec.samps_per_frame or [1] * rec.n_sig
    return [
        (np.asarray(physical[i], dtype=np.float64), float(rec.fs) * int(spf[i]))
        for i in range(rec.n_sig)
    ]


def read_wfdb_record(root: str | Path, record: str, beats: bool = True) -> RawRecording:
    """Read one WFDB record's canonical channels, annotations and length.

    A multi-segment record (a master header) is read as one record, its segments joined and
    its gaps NaN (``wfdb_multisegment.py``).

    Args:
        root: Raw corpus folder.
        record: Record path relative to ``root`` without extension (``S01/S01_r1``).
        beats: Read the beat annotations (``beat_times_s``); the ingest skips them when
            ``labels.csv`` labels the record (parsing an ``.atr`` file was a sixth of a sample
            record's decode, for beats nothing used).

    Returns:
        The record with every mapped channel at its own rate (``fs * samps_per_frame``).

    Raises:
        EmptyRecordError, TruncatedDataError, HeaderMismatchError, UnsupportedFormatError,
            UnreadableFileError: see ``wfdb_checks.py``.
        ChecksumMismatchError: a channel's samples disagree with its header's checksum.
        MissingSegmentError: a segment of a multi-segment record is missing.
        Exception: whatever wfdb raises for an unreadable file (the caller quarantines it).
    """
    record_path = Path(root) / record
    if is_master_header(record_path.with_name(f"{record_path.name}.hea")):
        from crossmodal_ray.pipelines.physio.wfdb_multisegment import read_multisegment_record

        return read_multisegment_record(root, record, beats=beats)
    rec = read_digital_record(record_path)
    mapping = map_signal_names(list(rec.sig_name))
    warnings = verify_checksums(rec, mapping.values())
    signals = physical_signals(rec)
    return RawRecording(
        record=record,
        source=record,
        subject=folder_subject(record),
        channels={channel: signals[i] for channel, i in mapping.items()},
        beat_times_s=read_beat_annotations(record_path, float(rec.fs)) if beats else None,
        duration_s=rec.sig_len / float(rec.fs),
        warnings=warnings,
    )
