"""Loose lips (``lip_jitter_seconds``): the mouths keep the voice's syllable rhythm and its
pauses, move each syllable by at most the jitter, and no longer copy the loudness frame by
frame; with jitter 0 they copy the sound's envelope exactly."""

from __future__ import annotations

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.av.articulation import articulate
from crossmodal_ray.pipelines.sample_corpus.av.config import AVSampleConfig
from crossmodal_ray.pipelines.sample_corpus.av.envelope import frame_means, syllable_envelope
from crossmodal_ray.pipelines.sample_corpus.av.motion import STEPS_PER_FRAME, mouth_openings
from crossmodal_ray.pipelines.sample_corpus.av.plan import plan_video

LOOSE = AVSampleConfig(fidget_share=0.0, lip_jitter_seconds=0.08, max_faces=2)
EXACT = AVSampleConfig(fidget_share=0.0, lip_jitter_seconds=0.0, max_faces=2)


def sound_envelope(plan, person: int) -> np.ndarray:
    """[frames] mean loudness envelope of ``person``'s own syllables (the sound, unmoved)."""
    rate = plan.fps * STEPS_PER_FRAME
    syllables = [s for u in plan.utterances if u.speaker == person for s in u.syllables]
    envelope = syllable_envelope(syllables, 0.0, plan.frames * STEPS_PER_FRAME, rate)
    return frame_means(envelope, plan.frames)


def lagged(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    n = len(a)
    return float(
        np.corrcoef(a[max(0, -lag) : n - max(0, lag)], b[max(0, lag) : n - max(0, -lag)])[0, 1]
    )


def speaker_pairs(config: AVSampleConfig, videos: int = 6):
    for index in range(videos):
        plan = plan_video(config, index)
        for person in plan.cast:
            if person.speaker:
                yield plan, person.index


def test_zero_jitter_keeps_the_sound_syllables():
    plan = plan_video(EXACT, 0)
    assert plan.articulation == plan.utterances
    rng = np.random.default_rng(0)
    assert articulate(rng, plan.utterances, 0.0) is plan.utterances


def test_jittered_syllables_stay_within_the_jitter_and_keep_speakers_and_turns():
    plan = plan_video(LOOSE, 1)
    assert len(plan.articulation) == len(plan.utterances)
    moved = []
    for said, mouthed in zip(plan.utterances, plan.articulation, strict=True):
        assert (said.speaker, said.start, said.end) == (mouthed.speaker, mouthed.start, mouthed.end)
        assert len(said.syllables) == len(mouthed.syllables)
        for s, m in zip(said.syllables, mouthed.syllables, strict=True):
            shift = (m.onset + m.duration / 2) - (s.onset + s.duration / 2)
            assert abs(shift) <= LOOSE.lip_jitter_seconds + 1e-9
            assert 0.75 * s.duration - 1e-9 <= m.duration <= 1.3 * s.duration + 1e-9
            assert m.vowel == s.vowel
            moved.append(shift)
    assert np.std(moved) > 0.02  # the syllables did move


def test_loose_lips_follow_the_voice_less_exactly_but_best_at_lag_zero():
    exact, loose = [], []
    for config, out in ((EXACT, exact), (LOOSE, loose)):
        for plan, person in speaker_pairs(config):
            mouth, sound = mouth_openings(plan, person), sound_envelope(plan, person)
            if sound.std() == 0:
                continue
            out.append([lagged(mouth, sound, lag) for lag in range(-5, 6)])
    exact, loose = np.asarray(exact), np.asarray(loose)
    assert len(exact) >= 4 and len(loose) >= 4
    assert exact[:, 5].mean() > 0.9  # lag 0 of range(-5, 6): the exact copy
    assert 0.3 < loose[:, 5].mean() < exact[:, 5].mean() - 0.1
    # The rhythm is kept: the mean correlation peaks within a frame of lag 0.
    assert abs(int(np.argmax(loose.mean(axis=0))) - 5) <= 1
