"""AVA-ActiveSpeaker annotation CSVs: find, parse and check every row (on the driver).

A row is ``video_id, frame_timestamp, x1, y1, x2, y2, label, entity_id`` with the box normalised
to [0, 1]. AVA's files have no header row; a file whose first row names columns (no field a
number, one at least an AVA column name, as TalkNet's ``train_orig.csv``) is read by those
names instead: any order, extra columns (TalkNet's ``label_id``, ``instance_id``) ignored. A
header that lacks one of the eight columns, or names one twice, rejects the whole file (stage
``list``, source the file: one rejection, its rows are not read).
One CSV per video or one for all: every ``*.csv`` directly in the corpus folder or anywhere
under its ``annotations/`` folder, except ``sync_labels.csv`` and side tables (``_*.csv``).

Each bad row is rejected on its own (stage ``csv``, source ``<csv>#line<N>``) and the rest of
the file is kept: wrong column count, bytes that are not UTF-8, a timestamp or coordinate that
is not a finite number (or a negative timestamp), an empty id, an unknown label, a coordinate
outside [0, 1] by more than ``box_tolerance``, an inverted or empty box, and a second annotation
of an entity at a timestamp already seen. Blank lines are skipped. Coordinates within the
tolerance are clipped to [0, 1].
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from crossmodal_ray.pipelines.av.errors import (
    BadUtf8Error,
    BoxOutOfRangeError,
    DuplicateAnnotationError,
    EmptyIdError,
    InvertedBoxError,
    MalformedCsvFileError,
    MissingColumnsError,
    NonNumericFieldError,
    UnknownLabelError,
    WrongColumnCountError,
)
from crossmodal_ray.pipelines.av.schema import CSV_COLUMNS, LABELS, SYNC_LABELS_FILE
from crossmodal_ray.pipelines.core.quarantine import rejected_row

ANNOTATIONS_DIR = "annotations"
# Timestamps closer than this are the same annotation instant (AVA writes 2-3 decimals).
SAME_TIME_S = 1e-6


@dataclass(frozen=True, slots=True)
class Annotation:
    """One checked CSV row.

    Attributes:
        video_id, entity_id: The AVA ids.
        timestamp: Seconds in the video.
        box: ``(x1, y1, x2, y2)`` normalised, clipped to [0, 1], x1 < x2, y1 < y2.
        label: The AVA label name (a key of ``schema.LABELS``).
        file_index: Index of the CSV in :attr:`AnnotationTable.files`.
        line: 1-based line number in that CSV.
    """

    video_id: str
    entity_id: str
    timestamp: float
    box: tuple[float, float, float, float]
    label: str
    file_index: int
    line: int


@dataclass
class AnnotationTable:
    """Every checked row of the corpus, by video, and the rejected ones.

    Attributes:
        files: The CSVs read, relative to the corpus root (``file_index`` points here).
        by_video: Good rows per video id, in reading order.
        rejected: ``rejected_row`` dicts of the bad rows (stage ``csv``) and of the files
            rejected as a whole (stage ``list``: unreadable, or a header lacking a column).
        rows_read: Non-blank, non-header lines read (good + rejected rows).
        header_rows_skipped: First rows that named the columns (files read by their header).
    """

    files: list[str] = field(default_factory=list)
    by_video: dict[str, list[Annotation]] = field(default_factory=dict)
    rejected: list[dict] = field(default_factory=list)
    rows_read: int = 0
    header_rows_skipped: int = 0
    # (video, entity, timestamp) keys of the good rows, to reject repeated annotations.
    seen: set[tuple[str, str, int]] = field(default_factory=set, repr=False)

    @property
    def rows_kept(self) -> int:
        return sum(len(rows) for rows in self.by_video.values())

    def where(self, file_index: int, line: int) -> str:
        return f"{self.files[file_index]}#line{line}"


def find_annotation_files(root: Path) -> list[Path]:
    """``root/*.csv`` and ``root/annotations/**/*.csv``, sorted; not the sync labels, not side
    tables (names starting with ``_``, such as the sample corpus's ``_tracks.csv``) and not
    hidden files."""
    found = set(root.glob("*.csv"))
    if (root / ANNOTATIONS_DIR).is_dir():
        found |= set((root / ANNOTATIONS_DIR).rglob("*.csv"))
    return sorted(
        p
        for p in found
        if p.is_file() and p.name != SYNC_LABELS_FILE and not p.name.startswith(("_", "."))
    )


def parse_number(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise NonNumericFieldError(f"{name} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise NonNumericFieldError(f"{name} {text!r} is not a finite number")
    return value


def check_box(coords: list[float], tolerance: float) -> tuple[float, float, float, float]:
    """The box clipped to [0, 1]; raises when out of range or inverted."""
    names = CSV_COLUMNS[2:6]
    for name, value in zip(names, coords, strict=True):
        if not -tolerance <= value <= 1 + tolerance:
            raise BoxOutOfRangeError(
                f"{name} = {value} is outside [0, 1] (tolerance {tolerance}): boxes are "
                f"normalised to the frame"
            )
    x1, y1, x2, y2 = (min(1.0, max(0.0, v)) for v in coords)
    if x2 <= x1 or y2 <= y1:
        raise InvertedBoxError(
            f"box ({coords[0]}, {coords[1]}, {coords[2]}, {coords[3]}) is inverted or empty: "
            f"need x1 < x2 and y1 < y2"
        )
    return (x1, y1, x2, y2)


def parse_row(fields: list[str], file_index: int, line: int, box_tolerance: float) -> Annotation:
    """One CSV row, its fields in the AVA column order, as an :class:`Annotation`; raises the
    reason it is bad."""
    if len(fields) != len(CSV_COLUMNS):
        raise WrongColumnCountError(
            f"{len(fields)} columns, expected {len(CSV_COLUMNS)} ({', '.join(CSV_COLUMNS)})"
        )
    fields = [f.strip() for f in fields]
    video_id, label, entity_id = fields[0], fields[6], fields[7]
    if not video_id or not entity_id:
        empty = [n for n, v in (("video_id", video_id), ("entity_id", entity_id)) if not v]
        raise EmptyIdError(f"the {' and '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty")
    timestamp = parse_number(fields[1], "frame_timestamp")
    if timestamp < 0:
        raise NonNumericFieldError(f"frame_timestamp {timestamp} is negative")
    coords = [
        parse_number(text, name) for text, name in zip(fields[2:6], CSV_COLUMNS[2:6], strict=True)
    ]
    if label not in LABELS:
        raise UnknownLabelError(f"label {label!r} is not one of {', '.join(LABELS)}")
    box = check_box(coords, box_tolerance)
    return Annotation(video_id, entity_id, timestamp, box, label, file_index, line)


@dataclass(frozen=True)
class ColumnLayout:
    """Where the AVA columns sit in a file's rows.

    Attributes:
        width: Fields per row.
        positions: The index in a row of each of ``CSV_COLUMNS``, in their order.
        header: The names of a header row, empty when the file has none.
    """

    width: int = len(CSV_COLUMNS)
    positions: tuple[int, ...] = tuple(range(len(CSV_COLUMNS)))
    header: tuple[str, ...] = ()

    def ava_fields(self, fields: list[str]) -> list[str]:
        """The row's fields in the AVA column order; raises when it has the wrong width."""
        if len(fields) != self.width:
            if self.header:
                raise WrongColumnCountError(
                    f"{len(fields)} columns, the file's header row names {self.width}"
                )
            raise WrongColumnCountError(
                f"{len(fields)} columns, expected {len(CSV_COLUMNS)} ({', '.join(CSV_COLUMNS)})"
            )
        return [fields[i] for i in self.positions]


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def looks_like_header(fields: list[str]) -> bool:
    """A row naming columns: no field is a number and one at least is an AVA column name."""
    names = [f.strip().lower() for f in fields]
    return not any(is_number(n) for n in names) and any(n in CSV_COLUMNS for n in names)


def header_layout(fields: list[str]) -> ColumnLayout:
    """The layout a header row describes.

    Raises:
        MissingColumnsError: an AVA column is not named, or named twice.
    """
    names = tuple(f.strip().lower() for f in fields)
    missing = [c for c in CSV_COLUMNS if c not in names]
    twice = sorted({n for n in names if n in CSV_COLUMNS and names.count(n) > 1})
    if missing or twice:
        problem = (
            f"lacks the {', '.join(missing)} column{'s' if len(missing) > 1 else ''}"
            if missing
            else f"names {', '.join(twice)} twice"
        )
        raise MissingColumnsError(
            f"the header row {problem} (it names {', '.join(names)}); AVA annotation rows "
            f"need {', '.join(CSV_COLUMNS)}: no row of the file is read"
        )
    return ColumnLayout(len(names), tuple(names.index(c) for c in CSV_COLUMNS), names)


def read_annotation_file(
    path: Path, file_index: int, table: AnnotationTable, box_tolerance: float
) -> None:
    """Add one CSV's rows to ``table`` (good ones by video, bad ones rejected)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        error = MalformedCsvFileError(f"cannot read the annotation file: {exc}")
        table.rejected.append(rejected_row(table.files[file_index], "list", error))
        return
    layout = ColumnLayout()
    first = True
    for line_number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        fields, error = None, None
        try:
            fields = next(csv.reader([raw.decode("utf-8")]))
        except UnicodeDecodeError as exc:
            error = BadUtf8Error(f"bytes that are not UTF-8 at column {exc.start + 1}")
        if first and fields is not None and looks_like_header(fields):
            try:
                layout = header_layout(fields)
            except MissingColumnsError as exc:
                table.rejected.append(rejected_row(table.files[file_index], "list", exc))
                return
            table.header_rows_skipped += 1
            first = False
            continue
        first = False
        table.rows_read += 1
        try:
            if error is not None:
                raise error
            row = parse_row(layout.ava_fields(fields), file_index, line_number, box_tolerance)
            key = (row.video_id, row.entity_id, round(row.timestamp / SAME_TIME_S))
            if key in table.seen:
                raise DuplicateAnnotationError(
                    f"entity {row.entity_id} of {row.video_id} is already annotated at "
                    f"{row.timestamp} s"
                )
        except Exception as exc:  # noqa: BLE001 - a bad row drops that row only
            table.rejected.append(rejected_row(table.where(file_index, line_number), "csv", exc))
            continue
        table.seen.add(key)
        table.by_video.setdefault(row.video_id, []).append(row)


def read_annotations(root: Path, box_tolerance: float = 0.01) -> AnnotationTable:
    """Every annotation CSV of the corpus at ``root`` (see the module docstring)."""
    table = AnnotationTable()
    for path in find_annotation_files(root):
        table.files.append(path.relative_to(root).as_posix())
        read_annotation_file(path, len(table.files) - 1, table, box_tolerance)
    return table


def rows_by_entity(rows: list[Annotation]) -> dict[str, list[Annotation]]:
    """A video's rows grouped by entity, each sorted by timestamp."""
    grouped: dict[str, list[Annotation]] = defaultdict(list)
    for row in rows:
        grouped[row.entity_id].append(row)
    return {eid: sorted(rs, key=lambda a: a.timestamp) for eid, rs in sorted(grouped.items())}
