"""Write the audio-visual sample corpus in the AVA-ActiveSpeaker layout.

Layout::

    <out>/videos/<video_id>.mp4                      h264 (yuv420p, 25 fps) + AAC mono 44.1 kHz
    <out>/annotations/<video_id>-activespeaker.csv   AVA rows, no header (``annotations.py``)
    <out>/sync_labels.csv    video_id, entity_id, in_sync (header row; 0 for every track of a
                             dubbed or shifted video, 1 otherwise)
    <out>/_videos.csv        per video: seconds, frames, faces, speakers, shots, tracks,
                             utterances, desync kind, shift in seconds, label counts
    <out>/_tracks.csv        per track: person, role, fidgets, shot, frames, label counts
    <out>/_corpus.json       format version, config and counts, written last

Each video is planned (``plan.py``), voiced (``speech.py``), drawn (``render.py``) and encoded
(``encode.py``) on its own, so the corpus is a pure function of the config (same config,
byte-identical files) whatever the number of worker processes. It is built in a sibling
temporary folder and renamed into place; ``_corpus.json`` with the same config means "already
built". Default corpus: 44 videos (37 in sync, 4 dubbed, 3 shifted), 354 s, 8,843 frames, 211
face tracks, 11,497 label rows (6,066 SPEAKING_AUDIBLE), 4.4 MB. The first version (now
``lip_jitter_seconds=0`` and the other flags listed in :mod:`.config`), with mouths that copy
their voice's loudness: over its whole videos the summed mouth openings correlate with the
soundtrack's loudness best at lag 0 in all 17 synchronised videos (mean r = 0.80), at exactly
the shift in the 3 shifted ones, and weakly at any lag (r <= 0.3) in the dubbed ones; the
tests check this on such a corpus, and the loose lips of the default in
``tests/pipelines/sample_corpus/test_av_articulation.py``.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from crossmodal_ray.pipelines.sample_corpus.av.annotations import annotation_rows, track_labels
from crossmodal_ray.pipelines.sample_corpus.av.config import (
    DESYNC_KINDS,
    LABELS,
    SPEAKING_AUDIBLE,
    SPEAKING_NOT_AUDIBLE,
    AVSampleConfig,
)
from crossmodal_ray.pipelines.sample_corpus.av.encode import write_mp4
from crossmodal_ray.pipelines.sample_corpus.av.plan import VideoPlan, desync_kinds, plan_video
from crossmodal_ray.pipelines.sample_corpus.av.render import render_frames, track_placements
from crossmodal_ray.pipelines.sample_corpus.av.speech import soundtrack
from crossmodal_ray.pipelines.sample_corpus.publish import (
    config_as_json,
    marker_matches,
    publish_corpus,
)

SAMPLE_AV_DIR = "data/raw/av_sample"
CORPUS_FORMAT_VERSION = 2  # 2: loose lips (articulation), utterance lengths
CORPUS_MANIFEST = "_corpus.json"
VIDEOS_DIR = "videos"
ANNOTATIONS_DIR = "annotations"
SYNC_LABELS = "sync_labels.csv"
VIDEOS_TABLE = "_videos.csv"
TRACKS_TABLE = "_tracks.csv"
VIDEO_COLUMNS = (
    "video_id",
    "seconds",
    "frames",
    "faces",
    "speakers",
    "shots",
    "tracks",
    "utterances",
    "desync",
    "shift_seconds",
    *(label.lower() + "_rows" for label in LABELS),
)
TRACK_COLUMNS = (
    "entity_id",
    "video_id",
    "person",
    "role",
    "fidgets",
    "shot",
    "first_frame",
    "end_frame",
    "start_time",
    "end_time",
    "speaking_frames",
    "not_audible_frames",
    "in_sync",
)

Progress = Callable[[int, int, str, float], None]


def annotation_path(video_id: str) -> str:
    return f"{ANNOTATIONS_DIR}/{video_id}-activespeaker.csv"


def video_path(video_id: str) -> str:
    return f"{VIDEOS_DIR}/{video_id}.mp4"


def _csv_text(rows: list, header: tuple[str, ...] | None = None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _track_rows(plan: VideoPlan) -> list[dict]:
    rows = []
    for track in plan.tracks:
        person = plan.cast[track.person]
        counts = Counter(track_labels(plan, track))
        rows.append(
            {
                "entity_id": track.entity_id,
                "video_id": plan.video_id,
                "person": track.person,
                "role": "speaker" if person.speaker else "listener",
                "fidgets": int(person.fidgets),
                "shot": track.shot,
                "first_frame": track.first_frame,
                "end_frame": track.end_frame,
                "start_time": f"{track.first_frame / plan.fps:.2f}",
                "end_time": f"{track.end_frame / plan.fps:.2f}",
                "speaking_frames": counts[SPEAKING_AUDIBLE],
                "not_audible_frames": counts[SPEAKING_NOT_AUDIBLE],
                "in_sync": int(plan.in_sync),
            }
        )
    return rows


def write_video(root: Path, config: AVSampleConfig, index: int, desync: str) -> dict:
    """Plan, voice, draw and encode video ``index`` into ``root``; its table rows."""
    plan = plan_video(config, index, desync)
    placements = track_placements(plan)
    audio = soundtrack(plan, config)
    frames = render_frames(plan, config, placements)
    write_mp4(
        root / video_path(plan.video_id),
        frames,
        audio,
        config.fps,
        config.sample_rate,
        config.crf,
        config.audio_bit_rate,
    )
    rows = annotation_rows(plan, placements, config.width, config.height)
    (root / annotation_path(plan.video_id)).write_text(_csv_text(rows))
    labels = Counter(row[6] for row in rows)
    video = {
        "video_id": plan.video_id,
        "seconds": f"{plan.seconds:.2f}",
        "frames": plan.frames,
        "faces": len(plan.cast),
        "speakers": sum(p.speaker for p in plan.cast),
        "shots": len(plan.shots),
        "tracks": len(plan.tracks),
        "utterances": sum(u.start < plan.seconds and u.end > 0 for u in plan.utterances),
        "desync": plan.desync,
        "shift_seconds": f"{plan.shift:.3f}",
        **{label.lower() + "_rows": labels[label] for label in LABELS},
    }
    return {"video": video, "tracks": _track_rows(plan)}


def _counts(videos: list[dict], tracks: list[dict]) -> dict:
    return {
        "videos": len(videos),
        "seconds": round(sum(float(v["seconds"]) for v in videos), 2),
        "frames": sum(v["frames"] for v in videos),
        "tracks": len(tracks),
        "speaking_tracks": sum(t["speaking_frames"] > 0 for t in tracks),
        "out_of_sync_tracks": sum(t["in_sync"] == 0 for t in tracks),
        "labels": {label: sum(v[label.lower() + "_rows"] for v in videos) for label in LABELS},
        "desync": {kind: sum(v["desync"] == kind for v in videos) for kind in DESYNC_KINDS},
    }


def _write_corpus(
    root: Path, config: AVSampleConfig, progress: Progress | None, workers: int
) -> None:
    started = time.perf_counter()
    (root / VIDEOS_DIR).mkdir()
    (root / ANNOTATIONS_DIR).mkdir()
    kinds = desync_kinds(config)
    indices = range(config.videos)
    results: list[dict] = []

    def done(result: dict) -> None:
        results.append(result)
        if progress is not None:
            video_id = result["video"]["video_id"]
            progress(len(results), config.videos, video_id, time.perf_counter() - started)

    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            jobs = [pool.submit(write_video, root, config, i, kinds[i]) for i in indices]
            for job in jobs:
                done(job.result())
    else:
        for i in indices:
            done(write_video(root, config, i, kinds[i]))
    videos = [r["video"] for r in results]
    tracks = [t for r in results for t in r["tracks"]]
    (root / VIDEOS_TABLE).write_text(
        _csv_text([[v[c] for c in VIDEO_COLUMNS] for v in videos], VIDEO_COLUMNS)
    )
    (root / TRACKS_TABLE).write_text(
        _csv_text([[t[c] for c in TRACK_COLUMNS] for t in tracks], TRACK_COLUMNS)
    )
    sync_rows = [[t["video_id"], t["entity_id"], t["in_sync"]] for t in tracks]
    (root / SYNC_LABELS).write_text(_csv_text(sync_rows, ("video_id", "entity_id", "in_sync")))
    meta = {
        "format_version": CORPUS_FORMAT_VERSION,
        "generator": __name__,
        "config": config_as_json(config),
        "counts": _counts(videos, tracks),
        "videos": VIDEOS_DIR,
        "annotations": ANNOTATIONS_DIR,
        "sync_labels": SYNC_LABELS,
        "videos_table": VIDEOS_TABLE,
        "tracks_table": TRACKS_TABLE,
    }
    # No timings in here: the whole corpus, this file included, is a function of the config.
    (root / CORPUS_MANIFEST).write_text(json.dumps(meta, indent=2) + "\n")


def is_cached_corpus(out_dir: str | Path, config: AVSampleConfig) -> bool:
    """True when ``out_dir`` holds a finished corpus generated with exactly ``config``."""
    return marker_matches(out_dir, CORPUS_MANIFEST, CORPUS_FORMAT_VERSION, config)


def read_corpus_summary(out_dir: str | Path) -> dict:
    """The ``_corpus.json`` of a finished corpus (config and counts)."""
    return json.loads((Path(out_dir) / CORPUS_MANIFEST).read_text())


def make_av_corpus(
    out_dir: str | Path = SAMPLE_AV_DIR,
    config: AVSampleConfig | None = None,
    progress: Progress | None = None,
    workers: int = 1,
) -> Path:
    """Build the audio-visual sample corpus at ``out_dir`` unless it is already there.

    Args:
        out_dir: Corpus folder (default ``data/raw/av_sample``). An existing corpus with
            another config is replaced; a non-empty folder that is not a corpus is refused.
        config: Corpus config; ``AVSampleConfig()`` (44 videos, 211 tracks) if None.
        progress: Called after every video with (videos done, videos, video id, seconds since
            the start).
        workers: Processes encoding videos in parallel (the files do not depend on it).

    Returns:
        ``out_dir`` as a Path.

    Raises:
        FileExistsError: ``out_dir`` is a non-empty folder without ``_corpus.json``.
    """
    config = config or AVSampleConfig()
    return publish_corpus(
        Path(out_dir),
        CORPUS_MANIFEST,
        lambda out: is_cached_corpus(out, config),
        lambda tmp: _write_corpus(tmp, config, progress, workers),
    )
