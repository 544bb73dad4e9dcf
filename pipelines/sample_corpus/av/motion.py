"""What moves in a video, frame by frame: each person's mouth opening, blinks, head motion.

The mouth opening of frame ``n`` is the mean over the frame's 40 ms (the window TalkNet's four
MFCC frames of that video frame cover) of the person's own articulation envelope (the voice's
syllables, loosely: :mod:`.articulation`) times the vowel's openness, plus chewing or smiling while not speaking (``Fidget``: 1.2-3 Hz, a quarter of a full
opening or so, tied to no sound). Mouths follow what the faces say, even in dubbed or shifted
videos: only the soundtrack is changed there.
"""

from __future__ import annotations

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.av.envelope import frame_means, syllable_envelope
from crossmodal_ray.pipelines.sample_corpus.av.plan import Track, VideoPlan
from crossmodal_ray.pipelines.sample_corpus.av.vowels import VOWELS

STEPS_PER_FRAME = 40  # the envelope is averaged over 40 points per frame (1 ms at 25 fps)
BLINK_SECONDS = 0.12
SPEECH_GUARD = 0.15  # seconds around an utterance without chewing


def speech_mask(plan: VideoPlan, person: int, times: np.ndarray, guard: float) -> np.ndarray:
    """True where ``person`` is within ``guard`` seconds of one of its utterances."""
    mask = np.zeros(times.shape, bool)
    for u in plan.utterances:
        if u.speaker == person:
            mask |= (times >= u.start - guard) & (times < u.end + guard)
    return mask


def mouth_openings(plan: VideoPlan, person: int) -> np.ndarray:
    """[frames] float32 opening of ``person``'s mouth (0 closed, 1 a fully open /a/)."""
    rate = plan.fps * STEPS_PER_FRAME
    count = plan.frames * STEPS_PER_FRAME
    syllables = [s for u in plan.articulation if u.speaker == person for s in u.syllables]
    opening = syllable_envelope(
        syllables, 0.0, count, rate, weight=lambda s: VOWELS[s.vowel].openness
    )
    times = (np.arange(count) / rate).astype(np.float64)
    chew = np.zeros(count, np.float32)
    for f in plan.fidgets:
        if f.person != person:
            continue
        inside = (times >= f.start) & (times < f.end)
        phase = 2 * np.pi * f.rate * (times[inside] - f.start)
        chew[inside] = f.depth * 0.5 * (1.0 - np.cos(phase))
    chew[speech_mask(plan, person, times, SPEECH_GUARD)] = 0.0
    return frame_means(opening + chew, plan.frames).astype(np.float32)


def eyes_closed(plan: VideoPlan, person: int) -> np.ndarray:
    """[frames] bool: the person's eyes are shut (blinks of about 0.12 s)."""
    times = np.arange(plan.frames) / plan.fps
    closed = np.zeros(plan.frames, bool)
    for t in plan.blinks[person]:
        closed |= (times >= t) & (times < t + BLINK_SECONDS)
    return closed


def head_offsets(track: Track, fps: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole-pixel head motion (dx, dy) over the track's frames: slow sways of 0.1-0.5 Hz."""
    ax, fx, px, ay, fy, py = track.drift
    t = np.arange(track.first_frame, track.end_frame) / fps
    dx = np.rint(ax * np.sin(2 * np.pi * fx * t + px)).astype(np.int64)
    dy = np.rint(ay * np.sin(2 * np.pi * fy * t + py)).astype(np.int64)
    return dx, dy
