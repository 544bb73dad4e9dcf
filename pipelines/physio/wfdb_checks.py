"""Checks of a WFDB record's files against its header, with messages that say what is wrong.

wfdb-python alone reports a truncated file as "Samples were not loaded correctly", an unknown
format with a bare ``ValueError`` and never compares checksums. These checks name the reason:

- ``check_storage_formats``: every signal's format is one WFDB defines and wfdb decodes;
- ``check_data_file_sizes``: each fixed-width ``.dat`` holds exactly the bytes its header needs
  (a truncated file, a wrong sample count and a wrong number of signals);
- ``verify_checksums``: the 16-bit sum of each signal's samples equals the header's checksum.
  A mismatch in a signal the ingest uses rejects the record (the ``.dat`` is corrupt); one in
  a signal it ignores is a warning. Skewed signals are not compared: wfdb shifts them by the
  skew and pads the end (03700181's RESP, ``212:4``), so their sum cannot be the header's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

from crossmodal_ray.pipelines.physio.errors import (
    ChecksumMismatchError,
    EmptyRecordError,
    HeaderMismatchError,
    TruncatedDataError,
    UnreadableFileError,
    UnsupportedFormatError,
)

# The storage formats of the WFDB specification that wfdb-python decodes.
WFDB_FORMATS: tuple[str, ...] = (
    "8", "16", "24", "32", "61", "80", "160", "212", "310", "311", "508", "516", "524",
)  # fmt: skip
# Bits per sample of the fixed-width formats whose file size follows from the header.
FORMAT_BITS = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12}


def read_header(record_path: Path):
    """``wfdb.rdheader`` of ``record_path`` (no extension).

    Raises:
        UnreadableFileError: the header cannot be parsed (wfdb's reason in the message).
    """
    import wfdb

    try:
        return wfdb.rdheader(str(record_path))
    except Exception as exc:  # noqa: BLE001 - any parse failure: the header is unreadable
        raise UnreadableFileError(
            f"unreadable header {record_path.name}.hea: {type(exc).__name__}: {exc}"
        ) from exc


def check_storage_formats(header) -> None:
    """Raise when a signal's storage format is not one of ``WFDB_FORMATS``.

    Raises:
        UnsupportedFormatError: naming the signal, its file and the format.
    """
    for i, fmt in enumerate(header.fmt or ()):
        if str(fmt) not in WFDB_FORMATS:
            name = header.sig_name[i] if header.sig_name else f"#{i}"
            raise UnsupportedFormatError(
                f"unknown storage format {fmt} for signal {name} in {header.file_name[i]}: "
                f"WFDB formats are {', '.join(WFDB_FORMATS)}; the header is wrong or the file "
                "is not WFDB"
            )


def check_data_file_sizes(header, record_dir: Path) -> None:
    """Raise when a fixed-width ``.dat`` file's size disagrees with its header.

    Args:
        header: A ``wfdb.Record`` from ``wfdb.rdheader`` or ``wfdb.rdrecord``.
        record_dir: Folder of the header (``.dat`` names are relative to it).

    Raises:
        EmptyRecordError: the header says zero samples.
        TruncatedDataError: a file is shorter than the header needs.
        HeaderMismatchError: a file is longer than the header accounts for (wrong sample count
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
        bits = FORMAT_BITS.get(str(entry["fmt"]))
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


def explain_read_failure(record_path: Path) -> None:
    """After wfdb failed to read a record: raise the reason its files show, if they show one.

    Returns without raising when the header and sizes look right (the caller re-raises wfdb's
    own error).
    """
    header = read_header(record_path)
    check_storage_formats(header)
    check_data_file_sizes(header, record_path.parent)


def _as_header_writes(value: int, header_value: int) -> int:
    """``value`` modulo 2**16 written the way the header writes its checksum (headers use
    signed or unsigned 16-bit numbers), so the two numbers in a message compare."""
    unsigned = value % 65536
    return unsigned - 65536 if header_value < 0 and unsigned >= 32768 else unsigned


def verify_checksums(record, used: Iterable[int]) -> list[str]:
    """Compare each signal's checksum with its header's; return warnings for ignored signals.

    Args:
        record: A digital ``wfdb.Record`` read whole (``physical=False``, frames unsmoothed).
        used: Indices of the signals the ingest keeps.

    Raises:
        ChecksumMismatchError: a kept signal's samples disagree with its header's checksum.
    """
    if not record.checksum:
        return []
    computed = record.calc_checksum(expanded=True)
    skews = record.skew or [0] * record.n_sig
    used = set(used)
    warnings = []
    for i, (want, got) in enumerate(zip(record.checksum, computed, strict=False)):
        if want is None or skews[i] or (int(want) - int(got)) % 65536 == 0:
            continue
        name = record.sig_name[i]
        if i in used:
            raise ChecksumMismatchError(
                f"checksum mismatch in channel {name}: the .dat is corrupt (its samples sum to "
                f"{_as_header_writes(int(got), int(want))}, the header of {record.record_name} says {int(want)}); "
                f"download {record.file_name[i]} again"
            )
        warnings.append(f"checksum of {name} differs from the header (signal not used)")
    return warnings
