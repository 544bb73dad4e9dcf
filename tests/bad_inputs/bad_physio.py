"""Bad-input corpora of the physiological readers: one WFDB folder, one PPG-DaLiA folder.

Each mixes good records with one record per kind of broken input (``BAD_WFDB``,
``BAD_PPG_DALIA``); ``ingest_physio --source <folder>`` must write the good ones and reject
each bad one at the stage and with the words given here. Built with the fixture helpers of
``tests/physio_fixtures.py`` (the constructions of ``test_physio_bad_inputs.py``, plus unknown
storage format, checksum mismatch, a multi-segment record missing a segment, and the pickle
kinds). ``MALICIOUS_MARKER`` is the file the malicious pickle would create if it ever ran.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import physio_fixtures as fx
from bad_input_kinds import BadCorpus, BadKind

JOB = "ingest_physio"
WFDB_FOLDER = "wfdb"
PPG_DALIA_FOLDER = "ppg_dalia"
MALICIOUS_MARKER = "malicious_pickle_ran"  # under the corpus root, beside the raw folders

GOOD_S = 20.0  # two whole records, (20 - 8) / 2 + 1 = 7 windows each
BAD_S = 12.0
GOOD_WFDB = ("S01/S01_r1", "S02/S02_r1")
# 40 s with a 3 s ECG NaN gap at 20 s: windows starting 14..22 s overlap it (5 rows), the rest
# are written.
GAP_RECORD = "S03/S03_gap"
# A multi-segment record (layout header, 10 s + 0.5 s gap + 9.5 s): valid, written whole (a
# 0.5 s gap is within max_gap_s and interpolated).
MULTISEGMENT_RECORD = "S04/S04_ms"
MISSING_SEGMENT_RECORD = "S10/S10_ms"

# name, record (source), stage, error type, words, rows
BAD_WFDB: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("truncated .dat", "S05/S05_truncated", "read", "TruncatedDataError", "truncated .dat", 1),
    ("header/data length mismatch", "S05/S05_wrong_length", "read", "HeaderMismatchError",
     "header disagrees with its data", 1),
    ("wrong signal count", "S05/S05_wrong_nsig", "read", "HeaderMismatchError",
     "header disagrees with its data", 1),
    ("all-NaN record", "S06/S06_all_nan", "decode", "FlatSignalError", "flat or NaN signals", 1),
    ("flat record", "S06/S06_flat", "decode", "FlatSignalError", "flat or NaN signals", 1),
    ("zero-length record", "S06/S06_zero_length", "read", "EmptyRecordError",
     "zero-length record", 1),
    ("no ECG or PPG channel", "S07/S07_no_ecg_ppg", "labels", "MissingChannelError",
     "missing channel", 1),
    ("record shorter than one window", "S07/S07_short", "window", "ShortRecordError",
     "shorter than one 8 s window", 1),
    ("listed record not there", "S08/S08_not_there", "list", "FileNotFoundError",
     "does not exist", 1),
    ("unknown storage format", "S09/S09_format_999", "read", "UnsupportedFormatError",
     "unknown storage format 999", 1),
    ("checksum mismatch", "S09/S09_checksum", "read", "ChecksumMismatchError",
     "checksum mismatch in channel ECG: the .dat is corrupt", 1),
    ("multi-segment record missing a segment", MISSING_SEGMENT_RECORD, "read",
     "MissingSegmentError", "segment S10_ms_0002 of multi-segment record S10/S10_ms is missing",
     1),
    ("long NaN gap", GAP_RECORD, "window", "NaNGapError", "NaN gap of 3.00 s > max_gap_s", 5),
)  # fmt: skip

GOOD_PPG_DALIA = ("S1/S1.pkl", "S2/S2.pkl")
DALIA_S = 30
BAD_PPG_DALIA: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("pickle missing a key", "S3/S3.pkl", "read", "MissingKeyError",
     "lacks signal/wrist/BVP: expected signal/wrist/BVP to hold an (N, 1) array", 1),
    ("1-D array where (N, 3) is needed", "S4/S4.pkl", "read", "WrongShapeError",
     "signal/chest/ACC has shape", 1),
    ("signal lengths disagree with rates", "S5/S5.pkl", "read", "WrongShapeError",
     "signal lengths do not match their rates", 1),
    ("truncated pickle", "S6/S6.pkl", "read", "UnreadableFileError",
     "the file ends early (truncated or partly downloaded)", 1),
    ("malicious pickle (os.system)", "S7/S7.pkl", "read", "UnsafePickleError",
     "refusing to run code from a data file", 1),
    ("not a pickle", "S8/S8.pkl", "read", "UnreadableFileError", "unreadable pickle S8/S8.pkl",
     1),
)  # fmt: skip


def _kinds(fmt: str, table) -> list[BadKind]:
    return [
        BadKind(name, fmt, src, stage, err, words, rows)
        for name, src, stage, err, words, rows in table
    ]


def write_bad_wfdb(raw: Path) -> BadCorpus:
    """The WFDB corpus: 2 good records, a good multi-segment record, one record per kind."""
    raw.mkdir(parents=True, exist_ok=True)
    for i, record in enumerate(GOOD_WFDB):
        fx.write_record(raw, record, GOOD_S, seed=i)
    fx.write_record(raw, GAP_RECORD, 40.0, nan_gaps=(("ECG", 20.0, 3.0),))
    fx.write_multisegment_record(raw, MULTISEGMENT_RECORD, segment_s=(10.0, 9.5), gap_s=0.5)
    for record in ("S05/S05_truncated", "S05/S05_wrong_length", "S05/S05_wrong_nsig"):
        fx.write_record(raw, record, BAD_S)
    fx.truncate_dat(raw, "S05/S05_truncated")
    fx.edit_header(raw, "S05/S05_wrong_length", n_samples=int(BAD_S * fx.FS) - 100)
    fx.edit_header(raw, "S05/S05_wrong_nsig", drop_last_signal=True)
    fx.write_record(raw, "S06/S06_all_nan", BAD_S, mode="nan")
    fx.write_record(raw, "S06/S06_flat", BAD_S, mode="flat")
    fx.write_zero_length_record(raw, "S06/S06_zero_length")
    fx.write_record(raw, "S07/S07_no_ecg_ppg", BAD_S, names=("RESP", "ACC_X", "ACC_Y", "ACC_Z"))
    fx.write_record(raw, "S07/S07_short", 5.0)
    fx.write_record(raw, "S09/S09_format_999", BAD_S)
    fx.set_storage_format(raw, "S09/S09_format_999", "999")
    fx.write_record(raw, "S09/S09_checksum", BAD_S)
    fx.corrupt_signal_samples(raw, "S09/S09_checksum", "ECG")
    segments = fx.write_multisegment_record(raw, MISSING_SEGMENT_RECORD, segment_s=(6.0, 6.0))
    fx.remove_segment(raw, segments[-1])
    bad_records = [source for _, source, *_ in BAD_WFDB]
    fx.write_records_file(raw, [*GOOD_WFDB, MULTISEGMENT_RECORD, *bad_records])
    fx.write_labels(raw, list(GOOD_WFDB), GOOD_S)  # the rest get signal labels (or fail them)
    return BadCorpus(
        format="wfdb",
        job=JOB,
        argv=["--source", str(raw), "--format", "wfdb"],
        raw=raw,
        kinds=_kinds("wfdb", BAD_WFDB),
        written_sources={*GOOD_WFDB, GAP_RECORD, MULTISEGMENT_RECORD},
        accepted_kinds={"multi-segment record (layout header, short gap)": MULTISEGMENT_RECORD},
    )


def write_bad_ppg_dalia(raw: Path, marker: Path) -> BadCorpus:
    """The PPG-DaLiA corpus: 2 good subjects, one pickle per kind; ``marker`` is the file the
    malicious pickle would create."""
    fx.make_ppg_dalia_corpus(raw, n_subjects=len(GOOD_PPG_DALIA), duration_s=DALIA_S)
    good = fx.read_dalia_dict(raw / GOOD_PPG_DALIA[0])

    missing_key = copy.deepcopy(good)
    del missing_key["signal"]["wrist"]["BVP"]
    fx.write_dalia_dict(raw / "S3/S3.pkl", missing_key)

    flat_acc = copy.deepcopy(good)
    flat_acc["signal"]["chest"]["ACC"] = flat_acc["signal"]["chest"]["ACC"].reshape(-1)
    fx.write_dalia_dict(raw / "S4/S4.pkl", flat_acc)

    # The wrist BVP stored at the chest's 700 Hz: 11x too long for its 64 Hz.
    wrong_rate = copy.deepcopy(good)
    bvp = wrong_rate["signal"]["wrist"]["BVP"].reshape(-1)
    n700 = len(wrong_rate["signal"]["chest"]["ECG"])
    t700 = np.arange(n700) / 700.0
    wrong_rate["signal"]["wrist"]["BVP"] = np.interp(t700, np.arange(bvp.size) / 64.0, bvp)[:, None]
    fx.write_dalia_dict(raw / "S5/S5.pkl", wrong_rate)

    truncated = raw / "S6/S6.pkl"
    fx.write_dalia_dict(truncated, good)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])

    fx.write_malicious_pickle(raw / "S7/S7.pkl", marker)
    (raw / "S8").mkdir(exist_ok=True)
    (raw / "S8/S8.pkl").write_bytes(b"\x80\x04this is not a pickle at all")
    return BadCorpus(
        format="ppg_dalia",
        job=JOB,
        argv=["--source", str(raw), "--format", "ppg_dalia"],
        raw=raw,
        kinds=_kinds("ppg_dalia", BAD_PPG_DALIA),
        written_sources=set(GOOD_PPG_DALIA),
    )


def write_bad_corpora(root: Path) -> list[BadCorpus]:
    """Write ``<root>/wfdb`` and ``<root>/ppg_dalia`` and return their records."""
    root = Path(root)
    return [
        write_bad_wfdb(root / WFDB_FOLDER),
        write_bad_ppg_dalia(root / PPG_DALIA_FOLDER, root / MALICIOUS_MARKER),
    ]


def extra_checks(corpus: BadCorpus, outcome) -> list[str]:
    """The malicious pickle ran nothing; a multi-segment master is one input (its segments and
    layout header are never inputs of their own)."""
    failures = []
    if corpus.format == "ppg_dalia" and (corpus.raw.parent / MALICIOUS_MARKER).exists():
        failures.append("the malicious pickle ran: its marker file exists")
    if corpus.format == "wfdb":
        sources = outcome.written_sources | {row["source"] for row in outcome.rejected}
        for master in (MISSING_SEGMENT_RECORD, MULTISEGMENT_RECORD):
            parts = sorted(s for s in sources if s.startswith(f"{master}_"))
            if parts:
                failures.append(f"segments of {master} ingested on their own: {parts}")
        # One input per kind (the missing master and the gap record included), the good
        # records and the valid master.
        inputs = outcome.manifest["inputs"]["read"]
        expected = len(corpus.kinds) + len(GOOD_WFDB) + 1
        if inputs != expected:
            failures.append(f"wfdb: {inputs} inputs read, expected {expected}")
    return failures
