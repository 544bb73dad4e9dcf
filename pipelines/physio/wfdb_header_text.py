"""What a WFDB header's text says, read without wfdb (no pandas parse: these run per record).

A header is comment lines (``#``), a record line, then one line per signal (single-segment
record) or per segment (multi-segment record). A multi-segment ("master") header's record line
names the segment count after a slash, ``3141595 3/2 125 1000``, and each segment line gives a
segment record and its length in frames; ``~`` is a gap (no signal for that many frames) and a
first segment of length 0 is the layout header, which lists the signals of a variable-layout
record (as in the MIMIC-III waveform database)::

    3141595 4/2 125 1000
    3141595_layout 0
    3141595_0001 400
    ~ 100
    3141595_0002 500
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GAP_SEGMENT = "~"


@dataclass(frozen=True)
class SegmentLine:
    """One segment line of a master header: the segment record (or ``~``) and its frames."""

    name: str
    n_frames: int


def header_lines(header: Path, limit: int | None = None) -> list[list[str]]:
    """The non-comment lines of ``header`` split into fields (at most ``limit`` lines).

    Raises:
        OSError: the file cannot be read.
    """
    lines: list[list[str]] = []
    with open(header, encoding="ascii", errors="replace") as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if fields:
                lines.append(fields)
                if limit is not None and len(lines) >= limit:
                    break
    return lines


def is_master_header(header: Path) -> bool:
    """True when ``header`` is a multi-segment record's header (``name/n_seg`` record line);
    False for a single-segment header or one that cannot be read."""
    try:
        first = header_lines(header, limit=1)
    except OSError:
        return False
    return bool(first) and "/" in first[0][0]


def master_segments(header: Path) -> list[SegmentLine] | None:
    """The segment lines of a master header in order (layout and ``~`` gaps included), or None
    for a single-segment header or one that cannot be read."""
    try:
        lines = header_lines(header)
    except OSError:
        return None
    if not lines or "/" not in lines[0][0]:
        return None
    segments = []
    for fields in lines[1:]:
        try:
            segments.append(SegmentLine(fields[0], int(fields[1])))
        except (IndexError, ValueError):
            break  # not a segment line: the segment list has ended
    return segments


def signal_files(header: Path) -> list[str]:
    """The signal (``.dat``) files a single-segment header names, in order, without repeats.

    Raises:
        OSError: the header cannot be read.
    """
    lines = header_lines(header)
    files: list[str] = []
    for fields in lines[1:]:
        if fields[0] != GAP_SEGMENT and fields[0] not in files:
            files.append(fields[0])
    return files


def drop_listed_segments(root: Path, records: list[str]) -> list[str]:
    """``records`` without the segment records (and layout headers) a master among them lists.

    A master's segments are parts of the master's record, read with it; listed alone they would
    be ingested twice. Segment names are relative to the master's folder.
    """
    parts: set[str] = set()
    for record in records:
        segments = master_segments(root / f"{record}.hea")
        folder = Path(record).parent
        for segment in segments or ():
            if segment.name != GAP_SEGMENT:
                parts.add((folder / segment.name).as_posix())
    return [record for record in records if record not in parts]
