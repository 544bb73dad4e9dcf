"""Syllable envelopes: the loudness contour of a voice, shared by the sound and the mouth.

A syllable's envelope is ``peak * sin^2(pi * (t - onset) / duration)``: it rises from silence,
peaks in the vowel and falls back, about 4-5 times a second in running speech. The soundtrack
scales the voiced sound by ``envelope * loudness(vowel)`` and the mouth opens by
``envelope * openness(vowel)``, so the two rise and fall together, syllable by syllable: the
audio-visual synchrony an active speaker detector is meant to check (Wuerkaixi et al., 2022).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.av.turns import Syllable
from crossmodal_ray.pipelines.sample_corpus.av.vowels import VOWELS


def vowel_loudness(vowel: int) -> float:
    """Open vowels are louder (intrinsic vowel intensity): 0.65 for /i/ .. 1.0 for /a/."""
    return 0.3 + 0.7 * VOWELS[vowel].openness


def syllable_envelope(
    syllables: Iterable[Syllable],
    start: float,
    count: int,
    rate: float,
    weight: Callable[[Syllable], float] | None = None,
) -> np.ndarray:
    """[count] float32 envelope at times ``start + i / rate``, each syllable scaled by
    ``weight(syllable)`` (1 if None)."""
    envelope = np.zeros(count, np.float32)
    for syllable in syllables:
        i0 = max(0, int(np.ceil((syllable.onset - start) * rate)))
        i1 = min(count, int(np.ceil((syllable.onset + syllable.duration - start) * rate)))
        if i0 >= i1:
            continue
        t = start + np.arange(i0, i1) / rate - syllable.onset
        scale = syllable.peak * (1.0 if weight is None else weight(syllable))
        envelope[i0:i1] += (scale * np.sin(np.pi * t / syllable.duration) ** 2).astype(np.float32)
    return envelope


def frame_means(signal: np.ndarray, frames: int) -> np.ndarray:
    """[frames] means of ``signal`` over equal consecutive windows (its length a multiple)."""
    return signal.reshape(frames, -1).mean(axis=1)
