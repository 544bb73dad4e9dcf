"""Speech-like voices and the soundtrack of a video.

A voice is a source-filter synthesiser (the classic formant model of speech): a glottal
sawtooth at the speaker's fundamental (90-250 Hz by default; rising at the start of an
utterance and falling towards its end, with a slight 5.5 Hz vibrato), mixed with aspiration
noise, filtered syllable by syllable through three resonators at the vowel's formants (scaled by
the voice's vocal tract), normalised and shaped by the syllable envelope (``envelope.py``).
Consonant-like noise bursts mark most syllable onsets. The harmonics, formants and 4-5 Hz
syllable rhythm give MFCCs that look like speech's, and every speaker's pitch and formants are
its own.

The soundtrack sums the cast's audible utterances (or, in a dubbed video, the dub's), delayed by
the plan's shift, over a faint room tone. Mouthed (inaudible) utterances make no sound.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from crossmodal_ray.pipelines.sample_corpus.av.cast import Voice
from crossmodal_ray.pipelines.sample_corpus.av.config import AVSampleConfig
from crossmodal_ray.pipelines.sample_corpus.av.envelope import syllable_envelope, vowel_loudness
from crossmodal_ray.pipelines.sample_corpus.av.plan import VideoPlan, video_rng
from crossmodal_ray.pipelines.sample_corpus.av.turns import Syllable, Utterance
from crossmodal_ray.pipelines.sample_corpus.av.vowels import VOWELS

AUDIO_STREAM = 5
VOICE_LEVEL = 0.1  # RMS of a voice at full envelope
ROOM_TONE = 0.002  # RMS of the background noise (about -54 dBFS)
BANDWIDTHS = (90.0, 110.0, 170.0)  # formant bandwidths in Hz
BURST_CHANCE = 0.6
VIBRATO_HZ = 5.5


def resonator(frequency: float, bandwidth: float, sample_rate: int) -> tuple[list, list]:
    """(b, a) of a two-pole resonator at ``frequency`` with unit gain at 0 Hz (Klatt's cascade
    formant synthesiser: in a cascade the formants' relative levels then come out right)."""
    r = float(np.exp(-np.pi * bandwidth / sample_rate))
    theta = 2.0 * np.pi * frequency / sample_rate
    a = [1.0, -2.0 * r * np.cos(theta), r * r]
    return [sum(a)], a


def _formant_filter(source: np.ndarray, vowel: int, voice: Voice, sample_rate: int) -> np.ndarray:
    out = source
    for formant, bandwidth in zip(VOWELS[vowel].formants, BANDWIDTHS, strict=True):
        frequency = min(formant * voice.formant_scale, 0.45 * sample_rate)
        b, a = resonator(frequency, bandwidth, sample_rate)
        out = lfilter(b, a, out)
    return out


def _glottal_source(
    voice: Voice,
    utterance: Utterance,
    times: np.ndarray,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Sawtooth at the voice's f0 contour over ``times`` (seconds), with aspiration noise."""
    progress = (times - utterance.start) / max(utterance.end - utterance.start, 1e-3)
    f0 = voice.f0 * (1.0 + voice.intonation * (0.5 - progress))
    f0 = f0 * (1.0 + 0.015 * np.sin(2 * np.pi * VIBRATO_HZ * times))
    cycles = np.cumsum(f0) / sample_rate
    saw = 2.0 * (cycles - np.floor(cycles)) - 1.0
    noise = rng.standard_normal(times.shape[0])
    return (1.0 - voice.breathiness) * saw + voice.breathiness * noise


def render_voice(
    voice: Voice,
    utterances: list[Utterance],
    start: float,
    count: int,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """[count] float32 samples of ``voice`` saying ``utterances`` at times
    ``start + i / sample_rate``."""
    out = np.zeros(count, np.float64)
    for utterance in utterances:
        i0 = max(0, int(np.floor((utterance.start - start) * sample_rate)))
        i1 = min(count, int(np.ceil((utterance.end - start) * sample_rate)) + 1)
        if i0 >= i1:
            continue
        times = start + np.arange(i0, i1) / sample_rate
        source = _glottal_source(voice, utterance, times, sample_rate, rng)
        for syllable in utterance.syllables:
            s0 = max(i0, int(np.floor((syllable.onset - start) * sample_rate)))
            s1 = min(i1, int(np.ceil((syllable.onset + syllable.duration - start) * sample_rate)))
            if s1 - s0 < 8:
                continue
            carrier = _formant_filter(source[s0 - i0 : s1 - i0], syllable.vowel, voice, sample_rate)
            carrier /= np.sqrt(np.mean(carrier**2)) + 1e-9
            envelope = syllable_envelope(
                [syllable], start + s0 / sample_rate, s1 - s0, sample_rate, weight=_loudness
            )
            out[s0:s1] += carrier * envelope
            if rng.random() < BURST_CHANCE:
                _add_burst(out, s0, syllable.peak, sample_rate, rng)
    return (VOICE_LEVEL * out).astype(np.float32)


def _loudness(syllable: Syllable) -> float:
    return vowel_loudness(syllable.vowel)


def _add_burst(
    out: np.ndarray, at: int, peak: float, sample_rate: int, rng: np.random.Generator
) -> None:
    """A consonant-like noise burst (high-passed, 20-50 ms) starting at sample ``at``."""
    length = min(int(rng.uniform(0.02, 0.05) * sample_rate), out.shape[0] - at)
    if length < 4:
        return
    noise = np.diff(rng.standard_normal(length + 1))
    out[at : at + length] += 0.15 * peak * np.hanning(length) * noise


def soundtrack(plan: VideoPlan, config: AVSampleConfig) -> np.ndarray:
    """[frames * samples_per_frame] float32 mono soundtrack of the video, in [-1, 1]."""
    count = plan.frames * config.samples_per_frame
    voices, utterances = plan.sound()
    start = -plan.shift  # audio heard at video time t was spoken at t - shift
    mix = np.zeros(count, np.float32)
    for person in plan.cast:
        said = [u for u in utterances if u.speaker == person.index and not u.inaudible]
        if not said:
            continue
        rng = video_rng(config, plan.index, AUDIO_STREAM * 100 + person.index)
        mix += render_voice(voices[person.index], said, start, count, config.sample_rate, rng)
    room_rng = video_rng(config, plan.index, AUDIO_STREAM * 100 + 99)
    room = lfilter([0.1], [1.0, -0.9], room_rng.standard_normal(count))
    mix += (ROOM_TONE * room / (np.std(room) + 1e-9)).astype(np.float32)
    return np.clip(mix, -1.0, 1.0)
