"""The driver's side of the AV ingest: annotation CSVs + video files -> one input per video.

    *.csv (annotations.py: bad rows rejected, stage csv) -> good rows by video id
    videos/<id>.<ext> or <id>.<ext> in the folder        -> the video of each id
    sync_labels.csv (sync_labels.py)                     -> in_sync of each track
    -> an InputItem per annotated video that exists (group key: the video id, so no video is
       in two splits); one rejection per annotated video that does not exist (stage list);
       videos nobody annotates are skipped with a warning.

The item's payload carries the video's good rows by entity, as compact lists
``[timestamp, x1, y1, x2, y2, speaking, file_index, line]`` (the video's CSVs named once in its
``files``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crossmodal_ray.pipelines.av.annotations import (
    Annotation,
    AnnotationTable,
    read_annotations,
    rows_by_entity,
)
from crossmodal_ray.pipelines.av.errors import MissingVideoError
from crossmodal_ray.pipelines.av.schema import LABELS, VIDEO_EXTENSIONS
from crossmodal_ray.pipelines.av.sync_labels import SyncLabels, read_sync_labels
from crossmodal_ray.pipelines.core.quarantine import rejected_row
from crossmodal_ray.pipelines.core.source import InputItem

VIDEOS_DIR = "videos"


@dataclass
class AVListing:
    """What the listing found: the inputs, the rejections, facts and warnings."""

    items: list[InputItem] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def find_videos(root: Path) -> tuple[dict[str, Path], list[str]]:
    """``video_id -> file`` from ``root/videos/`` and ``root`` (the first extension of
    ``VIDEO_EXTENSIONS`` wins, ``videos/`` before the folder itself), and warnings."""
    found: dict[str, Path] = {}
    warnings = []
    for folder in (root / VIDEOS_DIR, root):
        if not folder.is_dir():
            continue
        for ext in VIDEO_EXTENSIONS:
            for path in sorted(folder.glob(f"*{ext}")):
                if not path.is_file():
                    continue
                if path.stem in found:
                    warnings.append(
                        f"{path.relative_to(root)} ignored: {found[path.stem].relative_to(root)} "
                        f"is the video of {path.stem}"
                    )
                    continue
                found[path.stem] = path
    return found, warnings


def entity_payload(
    rows: list[Annotation], in_sync: bool, file_slot: dict[int, int]
) -> dict[str, Any]:
    """``file_slot``: the corpus-wide CSV index -> its index in the payload's ``files``."""
    return {
        "in_sync": in_sync,
        "rows": [
            [a.timestamp, *a.box, LABELS[a.label], file_slot[a.file_index], a.line] for a in rows
        ],
    }


def estimated_row_bytes(rows: list[Annotation], fps: float, frame_size: int) -> int:
    """Bytes of the rows the video will give: frames of its entities' spans (gaps included,
    an over-estimate) times crop and MFCC bytes."""
    per_frame = frame_size * frame_size + 4 * 13 * 4 + 1
    frames = 0
    for entity_rows in rows_by_entity(rows).values():
        frames += int((entity_rows[-1].timestamp - entity_rows[0].timestamp) * fps) + 1
    return frames * per_frame


def list_av_inputs(root: Path, fps: float, frame_size: int, box_tolerance: float) -> AVListing:
    """Every annotated video of the corpus at ``root`` (see the module docstring)."""
    table: AnnotationTable = read_annotations(root, box_tolerance)
    sync: SyncLabels = read_sync_labels(root)
    videos, warnings = find_videos(root)
    listing = AVListing(rejected=list(table.rejected), warnings=warnings + sync.warnings)
    rows_of_absent_videos = 0
    for video_id in sorted(table.by_video):
        rows = table.by_video[video_id]
        path = videos.get(video_id)
        if path is None:
            rows_of_absent_videos += len(rows)
            csvs = sorted({table.files[a.file_index] for a in rows})
            error = MissingVideoError(
                f"video {video_id} is annotated ({len(rows)} rows in {', '.join(csvs)}) but "
                f"no video file {video_id}.{'|'.join(e[1:] for e in VIDEO_EXTENSIONS)} exists "
                f"in the folder or in {VIDEOS_DIR}/"
            )
            listing.rejected.append(rejected_row(video_id, "list", error))
            continue
        entities = rows_by_entity(rows)
        used_files = sorted({a.file_index for a in rows})
        file_slot = {index: slot for slot, index in enumerate(used_files)}
        listing.items.append(
            InputItem(
                source=path.relative_to(root).as_posix(),
                group_key=video_id,
                size_bytes=estimated_row_bytes(rows, fps, frame_size),
                payload={
                    "video_id": video_id,
                    "files": [table.files[i] for i in used_files],
                    "rows": len(rows),
                    "entities": {
                        eid: entity_payload(ers, sync.of(video_id, eid), file_slot)
                        for eid, ers in entities.items()
                    },
                },
            )
        )
    unannotated = sorted(set(videos) - set(table.by_video))
    if unannotated:
        shown = ", ".join(unannotated[:10]) + (" ..." if len(unannotated) > 10 else "")
        listing.warnings.append(
            f"{len(unannotated)} videos have no annotation rows and were skipped: {shown}"
        )
    unused_sync = {v for v, e in sync.in_sync if v not in table.by_video}
    if unused_sync:
        listing.warnings.append(f"sync labels name {len(unused_sync)} videos without annotations")
    at_listing = sum(r["stage"] == "csv" for r in table.rejected)
    listing.facts = {
        "annotation_files": table.files,
        "annotation_files_unreadable": sum(r["stage"] == "list" for r in table.rejected),
        "annotation_rows_read": table.rows_read,
        "annotation_rows_rejected_at_listing": at_listing,
        "annotation_rows_of_listed_videos": sum(item.payload["rows"] for item in listing.items),
        "annotation_rows_of_absent_videos": rows_of_absent_videos,
        "header_rows_skipped": table.header_rows_skipped,
        "video_files_found": len(videos),
        "videos_annotated": len(table.by_video),
        "videos_absent": len(table.by_video) - len(listing.items),
        "videos_unannotated": len(unannotated),
        "sync_label_files": sync.files,
        "sync_labels_listed": len(sync.in_sync),
        "sync_labels_out_of_sync": sum(not v for v in sync.in_sync.values()),
        "sync_label_rows_skipped": sync.rows_skipped,
    }
    return listing
