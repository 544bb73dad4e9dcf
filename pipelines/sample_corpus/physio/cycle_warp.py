"""Lay neurokit2 reference waveforms onto drifting beat and breath trajectories.

``nk.ecg_simulate``, ``nk.ppg_simulate`` and ``nk.rsp_simulate`` each take one constant rate.
A 600 s record whose heart and breathing rates drift would need one call per beat. Instead each
waveform is simulated once at a reference rate (60 beats/min, 15 breaths/min), cut into cycles
at known boundaries, and reference cycle ``j = (k + offset) mod n`` is stretched onto output
cycle ``k``. The cost of a whole record is one ``np.interp``.

ECG cycles are warped non-linearly: the P-QRS-T part scales with ``sqrt(RR)`` (Bazett's
QT ~ sqrt(RR)) and the T-P gap absorbs the rest, so a QRS at 150 beats/min is not 2.5x narrower
than at 60 beats/min, as it would be under a plain linear stretch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import neurokit2 as nk
import numpy as np

# Reference ECG at 60 beats/min (1 s cycles): a cycle starts 0.35 s before the R peak (in the
# T-P baseline, before the P wave) and the T wave has ended 0.42 s after it.
ECG_PRE_R_S = 0.35
ECG_PQRST_FRACTION = 0.77  # (0.35 + 0.42) s of the 1 s reference cycle
ECG_MAX_PQRST_FRACTION = 0.92  # at high rates the T wave runs into the next P wave


@dataclass(frozen=True)
class ReferenceWaveform:
    """One constant-rate waveform cut into cycles.

    Attributes:
        signal: The waveform, made seamless: the last cycle ends on the first cycle's start value.
        boundaries: Cycle starts in reference samples, ``n_cycles + 1`` increasing values.
    """

    signal: np.ndarray
    boundaries: np.ndarray

    @property
    def n_cycles(self) -> int:
        """Number of whole cycles between the first and the last boundary."""
        return len(self.boundaries) - 1


def _seamless(signal: np.ndarray, boundaries: np.ndarray) -> ReferenceWaveform:
    """Ramp the last cycle so that it ends where the first begins (no jump when cycles wrap)."""
    signal = np.asarray(signal, dtype=np.float64).copy()
    b = np.asarray(boundaries, dtype=np.int64)
    first, last_start, last_end = b[0], b[-2], b[-1]
    ramp = np.linspace(0.0, 1.0, last_end - last_start + 1)
    signal[last_start : last_end + 1] += ramp * (signal[first] - signal[last_end])
    return ReferenceWaveform(signal=signal, boundaries=b.astype(np.float64))


@lru_cache(maxsize=64)  # ECGSYN integrates an ODE (~0.1 s); a subject's records share it
def ecg_reference(
    seed: int, morphology: tuple[float, ...], n_beats: int = 20, sample_rate_hz: int = 512
) -> ReferenceWaveform:
    """ECGSYN beats at exactly 60 beats/min, one cycle per beat, unit R amplitude.

    Args:
        seed: Random state of ``nk.ecg_simulate``.
        morphology: Five multipliers of ECGSYN's P, Q, R, S, T amplitudes (subject's morphology).
            A tuple so that the reference can be cached; the returned arrays must not be mutated.
        n_beats: Reference beats; output beat ``k`` reuses reference beat ``k mod n_beats``.
        sample_rate_hz: Reference rate; high so that warping to any output rate stays smooth.
    """
    ai = np.array([1.2, -5.0, 30.0, -7.5, 0.75]) * np.asarray(morphology)
    ecg = nk.ecg_simulate(
        duration=n_beats + 3,
        sampling_rate=sample_rate_hz,
        heart_rate=60,
        heart_rate_std=0,
        noise=0,
        method="ecgsyn",
        random_state=seed,
        ai=tuple(ai),
    )
    _, info = nk.ecg_peaks(ecg, sampling_rate=sample_rate_hz)
    starts = np.asarray(info["ECG_R_Peaks"]) - round(ECG_PRE_R_S * sample_rate_hz)
    starts = starts[starts >= 0][: n_beats + 1]
    ecg = ecg - np.median(ecg)
    ecg = ecg / np.max(ecg)
    return _seamless(ecg, starts)


def ppg_reference(seed: int, n_beats: int = 24, sample_rate_hz: int = 512) -> ReferenceWaveform:
    """Clean neurokit2 PPG pulses at exactly 60 beats/min, scaled to the range [0, 1].

    Without frequency modulation and inter-beat randomness the pulse onsets fall on whole seconds.
    """
    ppg = nk.ppg_simulate(
        duration=n_beats + 2,
        sampling_rate=sample_rate_hz,
        heart_rate=60,
        frequency_modulation=0,
        ibi_randomness=0,
        drift=0,
        motion_amplitude=0,
        powerline_amplitude=0,
        burst_number=0,
        burst_amplitude=0,
        random_state=seed,
    )
    ppg = (ppg - np.min(ppg)) / np.ptp(ppg)
    return _seamless(ppg, np.arange(n_beats + 1) * sample_rate_hz)


def rsp_reference(seed: int, n_breaths: int = 20, sample_rate_hz: int = 128) -> ReferenceWaveform:
    """Breathmetrics respiration at 15 breaths/min cut at inhalation onsets, unit std."""
    rsp = nk.rsp_simulate(
        duration=4 * n_breaths + 16,
        sampling_rate=sample_rate_hz,
        respiratory_rate=15,
        method="breathmetrics",
        noise=0,
        random_state=seed,
    )
    _, info = nk.rsp_peaks(rsp, sampling_rate=sample_rate_hz)
    troughs = np.asarray(info["RSP_Troughs"])[: n_breaths + 1]
    rsp = (rsp - np.mean(rsp)) / np.std(rsp)
    return _seamless(rsp, troughs)


def cycle_starts(t: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Times at which a strictly increasing cycle phase crosses each integer."""
    ks = np.arange(np.ceil(phase[0]), np.floor(phase[-1]) + 1)
    return np.interp(ks, phase, t)


def ecg_pqrst_duration_s(period_s: np.ndarray) -> np.ndarray:
    """Duration of the P-QRS-T part of a cycle of ``period_s`` seconds (QT ~ sqrt(RR))."""
    return np.minimum(ECG_PQRST_FRACTION * np.sqrt(period_s), ECG_MAX_PQRST_FRACTION * period_s)


def ecg_r_offset_s(period_s: np.ndarray) -> np.ndarray:
    """Seconds from a warped ECG cycle's start to its R peak."""
    return ECG_PRE_R_S / ECG_PQRST_FRACTION * ecg_pqrst_duration_s(period_s)


def ecg_within_cycle(fraction: np.ndarray, period_s: np.ndarray) -> np.ndarray:
    """Map a fraction of an output cycle to a fraction of the 1 s reference cycle."""
    tau = fraction * period_s
    pqrst = ecg_pqrst_duration_s(period_s)
    in_pqrst = tau < pqrst
    return np.where(
        in_pqrst,
        tau / pqrst * ECG_PQRST_FRACTION,
        ECG_PQRST_FRACTION
        + (tau - pqrst) / np.maximum(period_s - pqrst, 1e-9) * (1 - ECG_PQRST_FRACTION),
    )


def warp_reference(
    ref: ReferenceWaveform,
    starts: np.ndarray,
    t: np.ndarray,
    cycle_offset: int = 0,
    ecg_warp: bool = False,
) -> np.ndarray:
    """Sample ``ref`` so that its cycles begin at ``starts`` (seconds) on the time grid ``t``.

    Args:
        ref: Reference waveform.
        starts: Output cycle starts in seconds, increasing; must bracket ``t``.
        t: Output sample times in seconds.
        cycle_offset: Reference cycle laid onto output cycle 0 (varies records of one subject).
        ecg_warp: Use the non-linear ECG within-cycle warp instead of a linear stretch.
    """
    k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 2)
    period = starts[k + 1] - starts[k]
    fraction = np.clip((t - starts[k]) / period, 0.0, 1.0)
    if ecg_warp:
        fraction = ecg_within_cycle(fraction, period)
    j = (k + cycle_offset) % ref.n_cycles
    b = ref.boundaries
    position = b[j] + fraction * (b[j + 1] - b[j])
    return np.interp(position, np.arange(len(ref.signal)), ref.signal)
