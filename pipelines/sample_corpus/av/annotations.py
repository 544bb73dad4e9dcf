"""AVA-ActiveSpeaker labels of a video: a row per visible face per video frame.

Rows (no header, as AVA's ``<video_id>-activespeaker.csv``): video_id, frame_timestamp
(seconds, 2 decimals: 0.00, 0.04, ...), entity_box_x1, y1, x2, y2 (normalised, 3 decimals),
label, entity_id. A face is SPEAKING_AUDIBLE while one of its utterances lasts (first syllable
to last, short pauses included, at the frame's centre time), SPEAKING_NOT_AUDIBLE while it
mouths an utterance that makes no sound, NOT_SPEAKING otherwise. In a desynchronised video
every face is NOT_SPEAKING, even though its mouth moves as a speaker's would: as Wuerkaixi et
al. (MLSP 2022) define it, a face whose lips are out of sync with the audio is not an active
speaker.
"""

from __future__ import annotations

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.av.config import (
    NOT_SPEAKING,
    SPEAKING_AUDIBLE,
    SPEAKING_NOT_AUDIBLE,
)
from crossmodal_ray.pipelines.sample_corpus.av.plan import Track, VideoPlan
from crossmodal_ray.pipelines.sample_corpus.av.render import TrackPlacement, track_boxes


def track_labels(plan: VideoPlan, track: Track) -> list[str]:
    """The label of each of the track's frames."""
    labels = [NOT_SPEAKING] * (track.end_frame - track.first_frame)
    if not plan.in_sync:
        return labels
    centres = (np.arange(track.first_frame, track.end_frame) + 0.5) / plan.fps
    for u in plan.utterances:
        if u.speaker != track.person:
            continue
        label = SPEAKING_NOT_AUDIBLE if u.inaudible else SPEAKING_AUDIBLE
        for k in np.flatnonzero((centres >= u.start) & (centres < u.end)):
            labels[int(k)] = label
    return labels


def annotation_rows(
    plan: VideoPlan, placements: list[TrackPlacement], width: int, height: int
) -> list[tuple[str, ...]]:
    """The CSV rows of a video, track by track (in entity order), frame by frame."""
    rows = []
    for p in sorted(placements, key=lambda p: int(p.track.entity_id.rsplit(":", 1)[1])):
        boxes = track_boxes(p, width, height)
        labels = track_labels(plan, p.track)
        for k, (box, label) in enumerate(zip(boxes, labels, strict=True)):
            rows.append(
                (
                    plan.video_id,
                    f"{(p.track.first_frame + k) / plan.fps:.2f}",
                    *(f"{v:.3f}" for v in box),
                    label,
                    p.track.entity_id,
                )
            )
    return rows
