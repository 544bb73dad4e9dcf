"""Everything about a video before a pixel or a sample is made: its cast, who speaks when, its
shots and face tracks, and whether (and how) its soundtrack is out of sync.

Videos are planned independently (video ``i`` from ``default_rng([seed, i, stream])``), so a
corpus can be built in parallel and any video re-planned for a test. Speech is planned over
``[-max_shift, duration + max_shift]``: a shifted soundtrack is then speech everywhere, and a
video may begin or end in the middle of an utterance.

Tracks follow AVA: a track is one face seen continuously within one shot; a new shot, or a face
that leaves and comes back, starts a new entity id ``<video_id>:<k>`` (k in order of first
frame, then left to right). Each shot lines up the cast members present side by side, in a
random order, with a head size of its own (the camera moved), so a person's tracks differ in
place and size while the voice stays the same.

Which videos are desynchronised is dealt over the corpus: ``round(videos * desync_share)`` of
them by a seeded permutation, ``round(that * dubbed_share)`` dubbed (every speaker re-voiced
with another voice and another timing), the rest shifted by ``min_shift_seconds``..
``max_shift_seconds`` either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.av.articulation import articulate
from crossmodal_ray.pipelines.sample_corpus.av.cast import Person, Voice, draw_cast, draw_voice
from crossmodal_ray.pipelines.sample_corpus.av.config import (
    DUBBED,
    IN_SYNC,
    SHIFTED,
    AVSampleConfig,
)
from crossmodal_ray.pipelines.sample_corpus.av.faces import face_geometry
from crossmodal_ray.pipelines.sample_corpus.av.turns import Utterance, draw_turns

CAST_STREAM = 0
TURN_STREAM = 1
SHOT_STREAM = 2
DUB_STREAM = 3
MOTION_STREAM = 4
LIPS_STREAM = 5
DESYNC_STREAM = 1_000_003  # the corpus-level deal of desynchronised videos
REENTRY_MIN_SHOT = 2.5  # seconds: shorter shots keep their faces on screen throughout
MIN_TRACK = 0.6  # seconds: the shortest part of a face track split by a re-entry
HEAD_MARGIN = 4.0  # pixels kept between a head box and the frame edge (head motion fits)
MAX_DRIFT = 2.0  # pixels of slow head motion, each way


@dataclass(frozen=True)
class Shot:
    index: int
    first_frame: int
    end_frame: int  # exclusive
    wall: tuple[int, int, int]
    floor: tuple[int, int, int]
    horizon: float  # share of the frame height above the floor
    picture: tuple[float, float, float, float]  # a frame on the wall: x, y, w, h (shares)


@dataclass(frozen=True)
class Track:
    """One continuous face track: ``person`` on screen from ``first_frame`` to ``end_frame``."""

    entity_id: str
    person: int
    shot: int
    first_frame: int
    end_frame: int  # exclusive
    centre_x: float  # head centre at rest, pixels
    centre_y: float
    head_width: float
    drift: tuple[float, float, float, float, float, float]  # ax, fx, phase_x, ay, fy, phase_y


@dataclass(frozen=True)
class Fidget:
    """A stretch of chewing or smiling: the mouth opens ``depth`` at ``rate`` Hz, no sound."""

    person: int
    start: float
    end: float
    rate: float
    depth: float


@dataclass(frozen=True)
class VideoPlan:
    video_id: str
    index: int
    frames: int
    fps: int
    cast: tuple[Person, ...]
    utterances: tuple[Utterance, ...]  # what the faces say (the labels follow these)
    articulation: tuple[Utterance, ...]  # how their lips move saying it (the mouths follow)
    desync: str  # IN_SYNC, DUBBED or SHIFTED
    shift: float  # seconds the soundtrack is delayed (negative: advanced); 0 unless SHIFTED
    dub_voices: tuple[Voice, ...]  # per cast member; empty unless DUBBED
    dub_utterances: tuple[Utterance, ...]  # what the dubbed soundtrack says
    shots: tuple[Shot, ...]
    tracks: tuple[Track, ...]
    fidgets: tuple[Fidget, ...]
    blinks: tuple[tuple[float, ...], ...]  # per cast member, blink times in seconds

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @property
    def in_sync(self) -> bool:
        return self.desync == IN_SYNC

    def sound(self) -> tuple[tuple[Voice, ...], tuple[Utterance, ...]]:
        """The voices and utterances the soundtrack is made of (the cast's own, or the dub's)."""
        if self.desync == DUBBED:
            return self.dub_voices, self.dub_utterances
        return tuple(p.voice for p in self.cast), self.utterances


def video_id_for(index: int) -> str:
    return f"av_sample_{index:03d}"


def video_rng(config: AVSampleConfig, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, index, stream])


def desync_kinds(config: AVSampleConfig) -> list[str]:
    """The desync kind of every video, by index."""
    n_desync = round(config.videos * config.desync_share)
    n_dubbed = round(n_desync * config.dubbed_share)
    order = np.random.default_rng([config.seed, DESYNC_STREAM]).permutation(config.videos)
    kinds = [IN_SYNC] * config.videos
    for rank, index in enumerate(order[:n_desync]):
        kinds[int(index)] = DUBBED if rank < n_dubbed else SHIFTED
    return kinds


def shot_bounds(rng: np.random.Generator, config: AVSampleConfig, frames: int) -> list[int]:
    """Frame indices where shots start, then ``frames``: shots of about ``min_shot_seconds``..
    ``max_shot_seconds`` (the last one takes what is left)."""
    low = config.video_frames(config.min_shot_seconds)
    high = max(low, config.video_frames(config.max_shot_seconds))
    bounds = [0]
    while frames - bounds[-1] > high:
        length = min(int(rng.integers(low, high + 1)), frames - bounds[-1] - low)
        bounds.append(bounds[-1] + max(1, length))
    return [*bounds, frames]


def _draw_shot(rng: np.random.Generator, index: int, first: int, end: int) -> Shot:
    wall = tuple(int(c) for c in rng.integers(70, 210, size=3))
    floor = tuple(int(c * rng.uniform(0.45, 0.7)) for c in wall)
    picture = (
        float(rng.uniform(0.05, 0.7)),
        float(rng.uniform(0.05, 0.2)),
        float(rng.uniform(0.12, 0.25)),
        float(rng.uniform(0.1, 0.2)),
    )
    return Shot(index, first, end, wall, floor, float(rng.uniform(0.72, 0.85)), picture)


def _drift(rng: np.random.Generator) -> tuple[float, float, float, float, float, float]:
    return (
        float(rng.uniform(0.5, MAX_DRIFT)),
        float(rng.uniform(0.1, 0.5)),
        float(rng.uniform(0.0, 2 * np.pi)),
        float(rng.uniform(0.3, MAX_DRIFT * 0.6)),
        float(rng.uniform(0.1, 0.5)),
        float(rng.uniform(0.0, 2 * np.pi)),
    )


def _spans(
    rng: np.random.Generator, config: AVSampleConfig, first: int, end: int
) -> list[tuple[int, int]]:
    """The on-screen frame spans of one face in a shot: the whole shot, or two parts around
    an absence of 0.4-1.0 s."""
    fps = config.fps
    if (end - first) / fps < REENTRY_MIN_SHOT or rng.random() >= config.reentry_share:
        return [(first, end)]
    gap = config.video_frames(rng.uniform(0.4, 1.0))
    shortest = config.video_frames(MIN_TRACK)
    leave = int(rng.integers(first + shortest, max(first + shortest, end - shortest - gap) + 1))
    return [(first, leave), (min(leave + gap, end - shortest), end)]


def _place_faces(
    rng: np.random.Generator, config: AVSampleConfig, cast: tuple[Person, ...], present: list[int]
) -> list[tuple[int, float, float, float]]:
    """(person, centre x, centre y, head width) of the faces of a shot, left to right."""
    order = [present[i] for i in rng.permutation(len(present))]
    slot = config.width / len(order)
    # The tallest head box (hair up to 1.17 b above the centre, aspect up to 1.36: 1.48 head
    # widths high) must fit above a chin at 58 % of the frame height.
    largest = min(0.72 * slot, (0.58 * config.height - HEAD_MARGIN) / 1.48)
    head_width = float(rng.uniform(0.75, 1.0) * largest)
    chin = rng.uniform(0.58, 0.72) * config.height
    placed = []
    for k, person in enumerate(order):
        g = face_geometry(cast[person].appearance, head_width)
        left, top, right, bottom = g.box
        low = -left + HEAD_MARGIN
        high = config.width - right - HEAD_MARGIN
        x = float(np.clip((k + 0.5 + rng.uniform(-0.06, 0.06)) * slot, low, high))
        y = float(np.clip(chin - bottom, -top + HEAD_MARGIN, config.height - bottom - HEAD_MARGIN))
        placed.append((person, x, y, head_width))
    return placed


def _plan_tracks(
    rng: np.random.Generator,
    config: AVSampleConfig,
    video_id: str,
    cast: tuple[Person, ...],
    shots: list[Shot],
) -> tuple[Track, ...]:
    pending = []
    for shot in shots:
        present = [p.index for p in cast if rng.random() < config.presence]
        if not any(cast[i].speaker for i in present):
            # The camera shows at least one of the people who talk (others may be off screen).
            speakers = [p.index for p in cast if p.speaker]
            present.append(speakers[int(rng.integers(len(speakers)))])
        for order, (person, x, y, width) in enumerate(_place_faces(rng, config, cast, present)):
            for first, end in _spans(rng, config, shot.first_frame, shot.end_frame):
                pending.append((first, order, person, shot.index, end, x, y, width, _drift(rng)))
    pending.sort(key=lambda t: (t[0], t[1]))
    return tuple(
        Track(f"{video_id}:{k}", person, shot, first, end, x, y, width, drift)
        for k, (first, _, person, shot, end, x, y, width, drift) in enumerate(pending)
    )


def _plan_fidgets(
    rng: np.random.Generator, cast: tuple[Person, ...], seconds: float
) -> tuple[Fidget, ...]:
    fidgets = []
    for person in cast:
        if not person.fidgets:
            continue
        t = rng.uniform(0.0, 1.5)
        while t < seconds:
            length = rng.uniform(0.6, 2.0)
            fidgets.append(
                Fidget(
                    person.index,
                    float(t),
                    float(t + length),
                    rate=float(rng.uniform(1.2, 3.0)),
                    depth=float(rng.uniform(0.15, 0.4)),
                )
            )
            t += length + rng.uniform(0.5, 2.5)
    return tuple(fidgets)


def _plan_blinks(
    rng: np.random.Generator, cast: tuple[Person, ...], seconds: float
) -> tuple[tuple[float, ...], ...]:
    blinks = []
    for _ in cast:
        times, t = [], rng.uniform(0.3, 3.0)
        while t < seconds:
            times.append(float(t))
            t += rng.uniform(2.0, 5.0)
        blinks.append(tuple(times))
    return tuple(blinks)


def plan_video(config: AVSampleConfig, index: int, desync: str | None = None) -> VideoPlan:
    """The plan of video ``index`` (``desync``: its kind, from ``desync_kinds`` if None)."""
    desync = desync_kinds(config)[index] if desync is None else desync
    video_id = video_id_for(index)
    rng = video_rng(config, index, CAST_STREAM)
    frames = config.video_frames(rng.uniform(config.min_seconds, config.max_seconds))
    seconds = frames / config.fps
    cast = draw_cast(rng, config)
    speakers = [p.index for p in cast if p.speaker]
    margin = config.max_shift_seconds
    utterances = draw_turns(
        video_rng(config, index, TURN_STREAM),
        speakers,
        -margin,
        seconds + margin,
        config.syllable_rate,
        config.overlap_share,
        config.inaudible_share,
        (config.min_utterance_seconds, config.max_utterance_seconds),
        (config.min_turn_gap_seconds, config.max_turn_gap_seconds),
    )
    shift, dub_voices, dub_utterances = 0.0, (), ()
    dub_rng = video_rng(config, index, DUB_STREAM)
    if desync == SHIFTED:
        magnitude = dub_rng.uniform(config.min_shift_seconds, config.max_shift_seconds)
        shift = round(float(magnitude) * (1.0 if dub_rng.random() < 0.5 else -1.0), 3)
    elif desync == DUBBED:
        dub_voices = tuple(draw_voice(dub_rng, config) for _ in cast)
        dub_utterances = draw_turns(
            dub_rng,
            speakers,
            -margin,
            seconds + margin,
            config.syllable_rate,
            config.overlap_share,
            utterance_seconds=(config.min_utterance_seconds, config.max_utterance_seconds),
            turn_gap_seconds=(config.min_turn_gap_seconds, config.max_turn_gap_seconds),
        )
    shot_rng = video_rng(config, index, SHOT_STREAM)
    bounds = shot_bounds(shot_rng, config, frames)
    shots = [_draw_shot(shot_rng, i, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    motion_rng = video_rng(config, index, MOTION_STREAM)
    return VideoPlan(
        video_id=video_id,
        index=index,
        frames=frames,
        fps=config.fps,
        cast=cast,
        utterances=utterances,
        articulation=articulate(
            video_rng(config, index, LIPS_STREAM), utterances, config.lip_jitter_seconds
        ),
        desync=desync,
        shift=shift,
        dub_voices=dub_voices,
        dub_utterances=dub_utterances,
        shots=tuple(shots),
        tracks=_plan_tracks(shot_rng, config, video_id, cast, shots),
        fidgets=_plan_fidgets(motion_rng, cast, seconds),
        blinks=_plan_blinks(motion_rng, cast, seconds),
    )


def plan_corpus(config: AVSampleConfig) -> list[VideoPlan]:
    """Every video's plan, by index."""
    kinds = desync_kinds(config)
    return [plan_video(config, i, kinds[i]) for i in range(config.videos)]
