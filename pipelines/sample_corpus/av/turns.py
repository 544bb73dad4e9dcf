"""Who speaks when: utterances made of syllables, with turns between a video's speakers.

Speech has a syllable rhythm of about 4-5 Hz (the amplitude modulation TalkNet's temporal
encoders pick up); syllables last 0.6-1.4 times the mean period, words are separated by short
gaps and phrases by 0.2-0.4 s pauses. Turns alternate between speakers with 0.15-1.0 s of
silence between them (the sample corpus's config sets both ranges); with ``overlap_share`` a second speaker starts during an utterance, so
one or sometimes two speak at a time. An utterance is labelled speaking from its first syllable
to its last, pauses included, as AVA's annotators label a speaking face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.av.vowels import VOWELS

MIN_UTTERANCE = 0.8  # seconds
MAX_UTTERANCE = 2.6
MIN_TURN_GAP = 0.15
MAX_TURN_GAP = 1.0
WORD_GAP_CHANCE = 0.2
PHRASE_PAUSE_CHANCE = 0.06


@dataclass(frozen=True)
class Syllable:
    onset: float  # seconds, video time
    duration: float
    peak: float  # envelope maximum, 0..1
    vowel: int  # index into VOWELS


@dataclass(frozen=True)
class Utterance:
    speaker: int  # cast index
    start: float
    end: float
    inaudible: bool  # mouthed without sound (SPEAKING_NOT_AUDIBLE)
    syllables: tuple[Syllable, ...]


def draw_syllables(
    rng: np.random.Generator, start: float, seconds: float, syllable_rate: float
) -> tuple[Syllable, ...]:
    """Syllables from ``start`` filling about ``seconds`` (at least one)."""
    period = 1.0 / syllable_rate
    syllables: list[Syllable] = []
    t = start
    while True:
        duration = period * rng.uniform(0.6, 1.4)
        if syllables and t + duration > start + seconds:
            break
        syllables.append(
            Syllable(
                onset=t,
                duration=duration,
                peak=float(rng.uniform(0.6, 1.0)),
                vowel=int(rng.integers(len(VOWELS))),
            )
        )
        t += duration
        gap = rng.random()
        if gap < PHRASE_PAUSE_CHANCE:
            t += rng.uniform(0.2, 0.4)
        elif gap < PHRASE_PAUSE_CHANCE + WORD_GAP_CHANCE:
            t += rng.uniform(0.04, 0.12)
    return tuple(syllables)


def draw_utterance(
    rng: np.random.Generator,
    speaker: int,
    start: float,
    seconds: float,
    syllable_rate: float,
    inaudible_share: float,
) -> Utterance:
    syllables = draw_syllables(rng, start, seconds, syllable_rate)
    last = syllables[-1]
    return Utterance(
        speaker=speaker,
        start=start,
        end=last.onset + last.duration,
        inaudible=bool(rng.random() < inaudible_share),
        syllables=syllables,
    )


def draw_turns(
    rng: np.random.Generator,
    speakers: list[int],
    start: float,
    end: float,
    syllable_rate: float,
    overlap_share: float,
    inaudible_share: float = 0.0,
    utterance_seconds: tuple[float, float] = (MIN_UTTERANCE, MAX_UTTERANCE),
    turn_gap_seconds: tuple[float, float] = (MIN_TURN_GAP, MAX_TURN_GAP),
) -> tuple[Utterance, ...]:
    """Utterances of ``speakers`` taking turns over ``[start, end)``, sorted by start; each
    lasts about ``utterance_seconds`` (low, high), with ``turn_gap_seconds`` (low, high) of
    silence before the next.

    The next speaker differs from the last one when there are two or more; a speaker never
    overlaps itself.
    """
    utterances: list[Utterance] = []
    t = start + rng.uniform(0.0, 0.6)
    last = -1
    while t < end:
        others = [s for s in speakers if s != last] or speakers
        who = int(others[rng.integers(len(others))])
        seconds = rng.uniform(*utterance_seconds)
        first = draw_utterance(rng, who, t, seconds, syllable_rate, inaudible_share)
        utterances.append(first)
        t_next, last = first.end, who
        partners = [s for s in speakers if s != who]
        if partners and rng.random() < overlap_share:
            # A second voice comes in while the first still talks (an interruption or a
            # back-channel): two speakers at once.
            other = int(partners[rng.integers(len(partners))])
            second_start = first.start + rng.uniform(0.3, max(0.4, first.end - first.start - 0.2))
            second = draw_utterance(
                rng, other, second_start, rng.uniform(0.5, 1.5), syllable_rate, inaudible_share
            )
            utterances.append(second)
            t_next, last = max(first.end, second.end), other
        t = t_next + rng.uniform(*turn_gap_seconds)
    return tuple(sorted(utterances, key=lambda u: (u.start, u.speaker)))
