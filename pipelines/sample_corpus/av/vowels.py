"""The vowels syllables are built on: formants for the voice, openness for the mouth.

Formants F1-F3 (Hz) are Peterson and Barney's (1952) adult male means; ``Voice.formant_scale``
raises them for higher voices. Openness is how far the jaw drops on the vowel relative to /a/:
the mouth of a face opens by the syllable envelope times this, so the picture and the sound of
a syllable rise and fall together.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Vowel:
    name: str
    formants: tuple[float, float, float]
    openness: float


VOWELS = (
    Vowel("a", (730.0, 1090.0, 2440.0), 1.0),
    Vowel("e", (530.0, 1840.0, 2480.0), 0.75),
    Vowel("i", (270.0, 2290.0, 3010.0), 0.5),
    Vowel("o", (570.0, 840.0, 2410.0), 0.8),
    Vowel("u", (300.0, 870.0, 2240.0), 0.55),
)
