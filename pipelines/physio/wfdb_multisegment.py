"""Read a multi-segment WFDB record (a master header and its segments) as one record.

MIMIC-III waveform records are multi-segment: a master header lists segment records in time
order, ``~`` gaps (no signal for that many frames) and, for a variable layout, a layout header
(length 0) naming every signal that any segment holds (``wfdb_header_text.py`` shows one).
Each segment is an ordinary record; its signals may differ from segment to segment.

The master becomes one ``RawRecording``:

- channels are chosen once for the whole record from the layout header's signal names (else
  the union of the segments' names, in order of appearance), so an ECG channel is one lead
  throughout;
- each channel is the segments' samples joined in order; a ``~`` gap, or a segment without
  that signal, is NaN for its length, so the usual NaN-gap rule applies (short runs
  interpolated, windows over runs longer than ``max_gap_s`` dropped and counted);
- each segment is read and checked like a single record (formats, sizes, checksums of the
  used signals); a segment whose files are missing rejects the master
  (``MissingSegmentError``), and so does one whose length or rate disagrees with the master.

wfdb's own ``rdrecord(..., m2s=True)`` joins segments too, but in digital units it refuses
segments whose gains differ (usual in MIMIC), it reports missing files without naming the
segment, and its checks see only the first error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossmodal_ray.pipelines.physio.errors import (
    EmptyRecordError,
    HeaderMismatchError,
    MissingSegmentError,
)
from crossmodal_ray.pipelines.physio.subjects import folder_subject
from crossmodal_ray.pipelines.physio.wfdb_checks import read_header, verify_checksums
from crossmodal_ray.pipelines.physio.wfdb_header_text import GAP_SEGMENT, signal_files
from crossmodal_ray.pipelines.physio.wfdb_reader import (
    RawRecording,
    map_signal_names,
    physical_signals,
    read_beat_annotations,
    read_digital_record,
)


@dataclass
class SegmentSignals:
    """One stretch of the master: a segment's signals by name, or a gap (``signals`` None).

    Attributes:
        name: Segment record name (``~`` for a gap).
        n_frames: Length in frames, as the master header gives it.
        signals: Signal name -> (physical samples, rate in Hz); None for a gap.
    """

    name: str
    n_frames: int
    signals: dict[str, tuple[np.ndarray, float]] | None


def check_segment_files(folder: Path, segment: str, record: str) -> None:
    """Raise when the segment's header or one of its signal files is missing.

    Raises:
        MissingSegmentError: naming the segment, the master and the missing file.
    """
    header = folder / f"{segment}.hea"
    missing = None
    if not header.is_file():
        missing = header.name
    else:
        missing = next((f for f in signal_files(header) if not (folder / f).is_file()), None)
    if missing is not None:
        raise MissingSegmentError(
            f"segment {segment} of multi-segment record {record} is missing: {missing} does not "
            "exist (fetch every file the master header lists)"
        )


@contextmanager
def naming_segment(segment: str, record: str) -> Iterator[None]:
    """Prefix the message of any error raised inside with the segment and its master."""
    try:
        yield
    except Exception as exc:
        exc.args = (f"segment {segment} of multi-segment record {record}: {exc}",)
        raise


def read_multisegment_record(root: str | Path, record: str, beats: bool = True) -> RawRecording:
    """Read the multi-segment record ``record`` (its master header) as one recording.

    Args:
        root: Raw corpus folder.
        record: The master's record path relative to ``root``, without extension.
        beats: Read beat annotations stored next to the master (``<record>.<ext>``).

    Raises:
        MissingSegmentError: a listed segment's header or signal file does not exist.
        HeaderMismatchError: segment lengths or rates disagree with the master header, or a
            signal's rate changes between segments.
        EmptyRecordError: the master lists no frames.
        IngestError: any check of a segment (``wfdb_reader.read_digital_record``,
            ``wfdb_checks.verify_checksums``), the segment named in the message.
    """
    master_path = Path(root) / record
    folder = master_path.parent
    master = read_header(master_path)
    fs = float(master.fs)
    lines = list(zip(master.seg_name, (int(n) for n in master.seg_len), strict=True))
    total = sum(n for _, n in lines)
    if master.sig_len is not None and int(master.sig_len) != total:
        raise HeaderMismatchError(
            f"header disagrees with its segments: {record} says {master.sig_len} frames but its "
            f"segments add up to {total}"
        )
    if total == 0:
        raise EmptyRecordError(f"zero-length record: multi-segment record {record} lists 0 frames")
    for name, _ in lines:
        if name != GAP_SEGMENT:
            check_segment_files(folder, name, record)
    digital = {}  # segment -> digital record (read once, in master order)
    for name, n_frames in lines:
        if name == GAP_SEGMENT or n_frames == 0:
            continue  # a gap, or the layout header (length 0)
        with naming_segment(name, record):
            rec = read_digital_record(folder / name)
        if int(rec.sig_len) != n_frames or float(rec.fs) != fs:
            raise HeaderMismatchError(
                f"header disagrees with its segments: segment {name} has {rec.sig_len} frames "
                f"at {float(rec.fs):g} Hz but master {record} lists {n_frames} at {fs:g} Hz"
            )
        digital[name] = rec
    # The layout header (a first segment of length 0) names every signal, in order; without
    # one (fixed layout) the segments' own names are used.
    names = list(read_header(folder / lines[0][0]).sig_name or []) if lines[0][1] == 0 else []
    for rec in digital.values():
        names += [s for s in rec.sig_name if s not in names]
    mapping = {channel: names[i] for channel, i in map_signal_names(names).items()}
    wanted = set(mapping.values())

    stretches: list[SegmentSignals] = []
    warnings: list[str] = []
    for name, n_frames in lines:
        if name == GAP_SEGMENT:
            stretches.append(SegmentSignals(name, n_frames, None))
        elif name in digital:
            rec = digital[name]
            used = [i for i, s in enumerate(rec.sig_name) if s in wanted]
            with naming_segment(name, record):
                warnings += [f"segment {name}: {w}" for w in verify_checksums(rec, used)]
            signals = physical_signals(rec)
            stretches.append(
                SegmentSignals(name, n_frames, {rec.sig_name[i]: signals[i] for i in used})
            )
    channels = {
        channel: joined
        for channel, signal in mapping.items()
        if (joined := join_signal(signal, stretches, fs)) is not None
    }
    return RawRecording(
        record=record,
        source=record,
        subject=folder_subject(record),
        channels=channels,
        beat_times_s=read_beat_annotations(master_path, fs) if beats else None,
        duration_s=total / fs,
        warnings=warnings,
    )


def join_signal(
    signal: str, stretches: list[SegmentSignals], fs: float
) -> tuple[np.ndarray, float] | None:
    """One signal over the whole master: segments in order, NaN where a stretch lacks it.

    Returns:
        (samples, rate in Hz), or None when no segment holds the signal.

    Raises:
        HeaderMismatchError: the signal's rate differs between segments.
    """
    rates = {s.signals[signal][1] for s in stretches if s.signals and signal in s.signals}
    if not rates:
        return None
    if len(rates) > 1:
        listed = ", ".join(f"{r:g}" for r in sorted(rates))
        raise HeaderMismatchError(
            f"header disagrees with its segments: signal {signal} runs at {listed} Hz in "
            "different segments"
        )
    rate = rates.pop()
    samples_per_frame = rate / fs
    pieces = []
    for stretch in stretches:
        if stretch.signals and signal in stretch.signals:
            pieces.append(stretch.signals[signal][0])
        else:
            pieces.append(np.full(int(round(stretch.n_frames * samples_per_frame)), np.nan))
    return np.concatenate(pieces), rate
