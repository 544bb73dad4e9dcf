"""``sync_labels.csv``: which face tracks have their soundtrack out of sync (SyncTalkNet).

Optional, in the corpus folder (or its ``annotations/`` folder): rows ``video_id, entity_id,
in_sync`` with ``in_sync`` one of 1/0, true/false, yes/no (any case); a header row naming the
columns is skipped. A track not listed is in sync. A row that cannot be read is skipped with a
warning in the manifest (it labels no segment, so nothing is rejected), and a pair listed twice
with different values is a warning too (the later row wins).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from crossmodal_ray.pipelines.av.annotations import ANNOTATIONS_DIR
from crossmodal_ray.pipelines.av.schema import SYNC_LABELS_FILE

TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f"}
HEADER = ["video_id", "entity_id", "in_sync"]
# Warnings listed by line; beyond this many only counted.
MAX_WARNINGS = 20


@dataclass
class SyncLabels:
    """``(video_id, entity_id) -> in_sync`` of the listed tracks.

    Attributes:
        files: The sync label files read (relative to the corpus root).
        in_sync: The listed pairs.
        rows_skipped: Unreadable rows.
        warnings: Messages for the manifest.
    """

    files: list[str] = field(default_factory=list)
    in_sync: dict[tuple[str, str], bool] = field(default_factory=dict)
    rows_skipped: int = 0
    warnings: list[str] = field(default_factory=list)

    def of(self, video_id: str, entity_id: str) -> bool:
        return self.in_sync.get((video_id, entity_id), True)

    def warn(self, message: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)


def parse_flag(text: str) -> bool | None:
    word = text.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def read_sync_labels(root: Path) -> SyncLabels:
    """The sync labels of the corpus at ``root`` (none: every track in sync)."""
    labels = SyncLabels()
    for path in (root / SYNC_LABELS_FILE, root / ANNOTATIONS_DIR / SYNC_LABELS_FILE):
        if not path.is_file():
            continue
        name = path.relative_to(root).as_posix()
        labels.files.append(name)
        lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
        for number, fields in enumerate(csv.reader(lines), start=1):
            if not fields or not "".join(fields).strip():
                continue
            fields = [f.strip() for f in fields]
            if number == 1 and [f.lower() for f in fields] == HEADER:
                continue
            flag = parse_flag(fields[2]) if len(fields) == 3 else None
            if flag is None or not fields[0] or not fields[1]:
                labels.rows_skipped += 1
                labels.warn(f"{name}#line{number}: not 'video_id,entity_id,in_sync': {fields}")
                continue
            key = (fields[0], fields[1])
            if key in labels.in_sync and labels.in_sync[key] != flag:
                labels.warn(f"{name}#line{number}: {key} listed again with another value")
            labels.in_sync[key] = flag
    if labels.rows_skipped > MAX_WARNINGS:
        labels.warnings.append(f"{labels.rows_skipped} sync label rows skipped in all")
    return labels
