"""The pictures of a video: each shot's room, and every face track pasted where the plan puts
it, with its own mouth opening, blinks and head motion, frame by frame.

``track_placements`` is the one place the drawn positions come from, so the annotation boxes
(``track_boxes``) are exactly the drawn heads: the tight box around hair and head, chin
included, shoulders excluded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.av.config import AVSampleConfig
from crossmodal_ray.pipelines.sample_corpus.av.faces import (
    FaceSprite,
    draw_face_sprite,
    draw_mouth,
    paste_face,
)
from crossmodal_ray.pipelines.sample_corpus.av.motion import (
    eyes_closed,
    head_offsets,
    mouth_openings,
)
from crossmodal_ray.pipelines.sample_corpus.av.plan import Shot, Track, VideoPlan


@dataclass(frozen=True)
class TrackPlacement:
    """Where a track's face is drawn on each of its frames."""

    track: Track
    sprite: FaceSprite
    left: np.ndarray  # [n] int: sprite's top-left corner
    top: np.ndarray
    head_x: np.ndarray  # [n] float: head centre in pixels
    head_y: np.ndarray


def track_placements(plan: VideoPlan) -> list[TrackPlacement]:
    """Every track's sprite and per-frame position, sorted left to right (the drawing order)."""
    placements = []
    for track in sorted(plan.tracks, key=lambda t: (t.centre_x, t.entity_id)):
        base_x, base_y = math.floor(track.centre_x), math.floor(track.centre_y)
        sprite = draw_face_sprite(
            plan.cast[track.person].appearance,
            track.head_width,
            (track.centre_x - base_x, track.centre_y - base_y),
        )
        dx, dy = head_offsets(track, plan.fps)
        left = base_x - math.floor(sprite.cx) + dx
        top = base_y - math.floor(sprite.cy) + dy
        placements.append(
            TrackPlacement(track, sprite, left, top, left + sprite.cx, top + sprite.cy)
        )
    return placements


def track_boxes(placement: TrackPlacement, width: int, height: int) -> np.ndarray:
    """[n, 4] float64 head boxes (x1, y1, x2, y2) of the track's frames, normalised to [0, 1]."""
    left, top, right, bottom = placement.sprite.geometry.box
    boxes = np.stack(
        [
            (placement.head_x + left) / width,
            (placement.head_y + top) / height,
            (placement.head_x + right) / width,
            (placement.head_y + bottom) / height,
        ],
        axis=1,
    )
    return np.clip(boxes, 0.0, 1.0)


def shot_background(shot: Shot, width: int, height: int) -> np.ndarray:
    """[height, width, 3] float32 room: a lit wall with a picture on it above a floor."""
    rows = np.linspace(1.08, 0.85, height, dtype=np.float32)[:, None, None]
    room = np.broadcast_to(np.asarray(shot.wall, np.float32) * rows, (height, width, 3)).copy()
    room[int(shot.horizon * height) :] = np.asarray(shot.floor, np.float32)
    x, y, w, h = shot.picture
    x0, y0 = int(x * width), int(y * height)
    x1, y1 = x0 + max(2, int(w * width)), y0 + max(2, int(h * height))
    room[y0:y1, x0:x1] = np.asarray(shot.floor, np.float32) * 0.6
    room[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2] = np.asarray(shot.wall[::-1], np.float32)
    return np.clip(room, 0.0, 255.0)


def render_frames(
    plan: VideoPlan, config: AVSampleConfig, placements: list[TrackPlacement] | None = None
) -> Iterator[np.ndarray]:
    """The video's frames, [height, width, 3] uint8 RGB, in order (``placements``: those of
    ``track_placements(plan)``, computed if None)."""
    placements = track_placements(plan) if placements is None else placements
    openings = [mouth_openings(plan, p.index) for p in plan.cast]
    blinking = [eyes_closed(plan, p.index) for p in plan.cast]
    for shot in plan.shots:
        room = shot_background(shot, config.width, config.height)
        on_screen = [p for p in placements if p.track.shot == shot.index]
        for n in range(shot.first_frame, shot.end_frame):
            frame = room.copy()
            for p in on_screen:
                if not p.track.first_frame <= n < p.track.end_frame:
                    continue
                k = n - p.track.first_frame
                person = p.track.person
                paste_face(frame, p.sprite, int(p.left[k]), int(p.top[k]), blinking[person][n])
                draw_mouth(frame, p.sprite, p.head_x[k], p.head_y[k], openings[person][n])
            yield np.clip(frame + 0.5, 0.0, 255.0).astype(np.uint8)
