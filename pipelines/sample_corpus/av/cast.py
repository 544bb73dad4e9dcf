"""The people of a video: how each looks (drawn by ``faces``) and sounds (``speech``), whether
they ever speak, and whether they chew or smile when silent.

Voices of one cast differ: fundamentals (``min_f0``..``max_f0``, log-uniform) at least 12 %
apart where the range allows, and formants scaled with the fundamental (shorter vocal tracts
speak higher), so every speaker has a voice of its own, as TalkNet's audio stream must tell
speakers apart by their sound, not their position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.av.config import AVSampleConfig

# Skin tones from light to dark (RGB), then jittered per person.
SKIN_TONES = (
    (250, 222, 196),
    (241, 194, 160),
    (226, 176, 130),
    (198, 140, 96),
    (168, 112, 78),
    (128, 86, 60),
    (96, 64, 46),
    (236, 198, 176),
)
HAIR_COLOURS = ((30, 24, 20), (70, 46, 28), (120, 80, 40), (200, 170, 110), (150, 150, 150))
HAIR_STYLES = ("cap", "short", "long")
MIN_F0_RATIO = 1.12  # fundamentals of one cast at least this far apart (about two semitones)


@dataclass(frozen=True)
class Voice:
    """How a person sounds.

    Attributes:
        f0: mean fundamental frequency in Hz.
        formant_scale: factor on the vowel formants (1.0: an adult male vocal tract).
        intonation: relative f0 fall across an utterance (declination depth).
        breathiness: share of aspiration noise in the glottal source.
    """

    f0: float
    formant_scale: float
    intonation: float
    breathiness: float


@dataclass(frozen=True)
class Appearance:
    """How a person's face is drawn (colours RGB 0..255)."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    shirt: tuple[int, int, int]
    lips: tuple[int, int, int]
    hair_style: str
    aspect: float  # head height / width
    eye_spacing: float  # eye distance / head width
    mouth_width: float  # mouth width / head width


@dataclass(frozen=True)
class Person:
    """One cast member of a video."""

    index: int
    speaker: bool  # False: a listener, never speaks
    fidgets: bool  # chews or smiles when not speaking (mouth motion tied to no audio)
    voice: Voice
    appearance: Appearance


def draw_voice(rng: np.random.Generator, config: AVSampleConfig, f0: float | None = None) -> Voice:
    """A voice (fundamental ``f0`` when given, else log-uniform in the config's range)."""
    if f0 is None:
        f0 = float(np.exp(rng.uniform(np.log(config.min_f0), np.log(config.max_f0))))
    # 1.0 at 100 Hz, about 1.2 at 220 Hz: higher voices, shorter vocal tracts.
    formant_scale = float(np.clip((f0 / 100.0) ** 0.23 * rng.uniform(0.96, 1.04), 0.9, 1.3))
    return Voice(
        f0=f0,
        formant_scale=formant_scale,
        intonation=float(rng.uniform(0.05, 0.2)),
        breathiness=float(rng.uniform(0.02, 0.12)),
    )


def draw_fundamentals(rng: np.random.Generator, config: AVSampleConfig, n: int) -> list[float]:
    """``n`` fundamentals at least ``MIN_F0_RATIO`` apart where the f0 range allows it."""
    low, high = np.log(config.min_f0), np.log(config.max_f0)
    f0s: list[float] = []
    for _ in range(n):
        for _attempt in range(50):
            f0 = float(np.exp(rng.uniform(low, high)))
            if all(max(f0, g) / min(f0, g) >= MIN_F0_RATIO for g in f0s):
                break
        f0s.append(f0)
    return f0s


def _jitter(rng: np.random.Generator, colour: tuple[int, int, int], amount: int) -> tuple:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def draw_appearance(rng: np.random.Generator) -> Appearance:
    skin = _jitter(rng, SKIN_TONES[rng.integers(len(SKIN_TONES))], 10)
    # Lips: the skin darkened and reddened, so a closed mouth is a line, not a hole.
    lips = (int(skin[0] * 0.78), int(skin[1] * 0.5), int(skin[2] * 0.52))
    shirt = tuple(int(c) for c in rng.integers(30, 230, size=3))
    return Appearance(
        skin=skin,
        hair=_jitter(rng, HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], 12),
        shirt=shirt,
        lips=lips,
        hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
        aspect=float(rng.uniform(1.18, 1.36)),
        eye_spacing=float(rng.uniform(0.36, 0.44)),
        mouth_width=float(rng.uniform(0.36, 0.46)),
    )


def draw_cast(rng: np.random.Generator, config: AVSampleConfig) -> tuple[Person, ...]:
    """A video's cast: ``min_faces``..``max_faces`` people, at least one of them a speaker."""
    n = int(rng.integers(config.min_faces, config.max_faces + 1))
    speaker = rng.random(n) >= config.listener_share
    if not speaker.any():
        speaker[rng.integers(n)] = True
    fidgets = rng.random(n) < config.fidget_share
    f0s = draw_fundamentals(rng, config, n)
    return tuple(
        Person(
            index=i,
            speaker=bool(speaker[i]),
            fidgets=bool(fidgets[i]),
            voice=draw_voice(rng, config, f0s[i]),
            appearance=draw_appearance(rng),
        )
        for i in range(n)
    )
