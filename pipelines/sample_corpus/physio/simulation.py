"""Simulate one subject's multi-modal physiological record with per-second ground truth.

What is simulated, and why each piece is there (MBSL needs the modalities to share structure):

- Heart rate: subject's resting rate (55-80 beats/min) + activity offset through a first-order
  lag (tau 20-30 s) + slow Ornstein-Uhlenbeck drift + respiratory sinus arrhythmia (RSA,
  breathing-locked) + an arousal surge after each apnea.
- Respiration rate: resting 11-18 breaths/min, activity offset (run: 25-35/min), drift and
  breath-to-breath variability. Apnea (10-40 s, rest/sleep only): breathing stops.
- ECG, PPG, RESP: neurokit2 waveforms time-warped onto the beat and breath trajectories (see
  ``cycle_warp``). The PPG pulse follows each R peak after a pulse arrival time that shortens
  as the heart rate rises. Breathing modulates ECG and PPG amplitude and baseline.
- Accelerometer (chest, g): gravity orientation of the posture + step/pedal cadence
  (walk 1.8-2 Hz 0.3 g, run 2.6-3 Hz 1 g, cycle 1.3 Hz small) + sensor noise.
- SpO2 (%): baseline 95-99, falls 3-10 % 10-20 s after an apnea starts, then recovers.
- Artefacts: Gaussian noise, baseline wander, motion artefacts scaled by activity intensity
  (step-locked in PPG, as in PPG-DaLiA), occasional spikes.

Everything is drawn from ``numpy.random.SeedSequence([seed, subject, record])``: the same config
gives bit-identical signals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal as sps

from crossmodal_ray.pipelines.physio.schema import ACTIVITIES
from crossmodal_ray.pipelines.sample_corpus.physio import cycle_warp

# WFDB signal names and units of the sample corpus (order of the .dat columns).
SIGNAL_NAMES: tuple[str, ...] = ("ECG", "PPG", "RESP", "ACC_X", "ACC_Y", "ACC_Z", "SpO2")
SIGNAL_UNITS: tuple[str, ...] = ("mV", "NU", "NU", "g", "g", "g", "%")

# Seconds simulated before and after the record so that the first and last cycles are whole.
_PAD_S = 5.0


@dataclass(frozen=True)
class PhysioSimulationConfig:
    """Everything that shapes the sample corpus; the corpus cache is keyed on all of it.

    Attributes:
        n_subjects: Subjects S01..Snn.
        records_per_subject: Records per subject (``S01_r1``, ``S01_r2``, ...).
        duration_s: Seconds per record (whole seconds: labels are per second).
        sample_rate_hz: One rate for every channel.
        seed: Root seed; subject ``i`` record ``r`` draws from ``SeedSequence([seed, i, r])``.
        segment_min_s: Shortest activity segment.
        segment_max_s: Longest activity segment.
        activities: Activities a schedule draws from (the first segment is always ``rest``).
        apnea_rate_per_min: Mean apneas per minute of rest or sleep of a typical subject.
        apnea_prone_fraction: Fraction of subjects with ``apnea_prone_factor`` times more apneas.
        apnea_prone_factor: Multiplier of the apnea rate of apnea-prone subjects.
        spike_rate_per_min: Mean spike artefacts per minute in each of ECG and PPG.
        noise_scale: Multiplier of every noise and artefact amplitude (0 gives clean signals).
    """

    n_subjects: int = 20
    records_per_subject: int = 1
    duration_s: int = 600
    sample_rate_hz: float = 128.0
    seed: int = 0
    segment_min_s: int = 60
    segment_max_s: int = 180
    activities: tuple[str, ...] = ACTIVITIES
    apnea_rate_per_min: float = 1.0
    apnea_prone_fraction: float = 0.25
    apnea_prone_factor: float = 3.0
    spike_rate_per_min: float = 0.5
    noise_scale: float = 1.0


@dataclass(frozen=True)
class ActivityProfile:
    """How one activity moves the physiology (ranges are drawn per segment)."""

    hr_delta_bpm: tuple[float, float]  # over resting heart rate
    rr_delta_bpm: tuple[float, float]  # over resting respiration rate
    rr_absolute_bpm: tuple[float, float] | None  # overrides the delta (run: 25-35/min)
    breath_depth: float  # tidal volume relative to rest
    intensity: float  # scales motion artefacts in ECG, PPG, RESP
    cadence_hz: tuple[float, float]  # step or pedal frequency; (0, 0) = none
    acc_amplitude_g: float  # vertical amplitude of the cadence oscillation
    rsa_scale: float  # RSA shrinks with exercise (vagal withdrawal)
    postures: tuple[tuple[float, float, float], ...]  # gravity directions, one drawn per segment


_UPRIGHT = (0.05, -0.97, 0.22)
ACTIVITY_PROFILES: dict[str, ActivityProfile] = {
    "rest": ActivityProfile((-2, 2), (0, 1), None, 1.0, 0.1, (0, 0), 0.0, 1.0, (_UPRIGHT,)),
    "walk": ActivityProfile(
        (25, 35), (4, 6), None, 1.3, 0.5, (1.8, 2.0), 0.3, 0.6, ((0.0, -0.99, 0.1),)
    ),
    "run": ActivityProfile(
        (60, 80), (0, 0), (25, 35), 2.0, 1.0, (2.6, 3.0), 1.0, 0.2, ((0.0, -0.96, 0.28),)
    ),
    "cycle": ActivityProfile(
        (40, 50), (7, 10), None, 1.6, 0.35, (1.2, 1.4), 0.06, 0.4, ((0.1, -0.8, 0.55),)
    ),
    # Lying: supine, left side, right side, prone.
    "sleep": ActivityProfile(
        (-10, -4),
        (-3, -1),
        None,
        0.9,
        0.03,
        (0, 0),
        0.0,
        1.3,
        ((0.0, 0.1, 0.99), (0.97, 0.1, 0.2), (-0.97, 0.1, 0.2), (0.0, 0.1, -0.99)),
    ),
}


@dataclass(frozen=True)
class SubjectTraits:
    """What stays the same across a subject's records."""

    subject: str
    age: int
    sex: str
    resting_hr_bpm: float
    resting_rr_bpm: float
    hr_lag_s: float
    rsa_bpm: float
    pulse_arrival_s: float
    spo2_baseline: float
    ecg_gain_mv: float
    ppg_gain: float
    resp_gain: float
    apnea_rate_per_min: float
    ecg_morphology: tuple[float, ...]
    waveform_seed: int


@dataclass
class SimulatedRecording:
    """One record: signals at ``sample_rate_hz`` and per-second ground truth.

    Attributes:
        traits: The subject's constants (resting rates, age, sex, ...).
        record: Record path, e.g. ``S01/S01_r1``.
        signals: ``SIGNAL_NAMES`` -> float64 array of ``duration_s * sample_rate_hz`` samples.
        r_peak_samples: Sample index of every R peak (the ``.atr`` beats).
        hr_bpm: Per second: beats in that second x 60 (fractional beats of the warped ECG).
        rr_bpm: Per second: breaths x 60; 0 in apnea seconds.
        activity: Per second: a name from ``ACTIVITIES``.
        apnea: Per second: 1 in an apnea episode, else 0.
        apnea_episodes: ``(start_s, end_s)`` of each episode, whole seconds.
    """

    traits: SubjectTraits
    record: str
    sample_rate_hz: float
    signals: dict[str, np.ndarray]
    r_peak_samples: np.ndarray
    hr_bpm: np.ndarray
    rr_bpm: np.ndarray
    activity: np.ndarray
    apnea: np.ndarray
    apnea_episodes: list[tuple[int, int]] = field(default_factory=list)


def subject_id(subject_index: int) -> str:
    """``0 -> "S01"``."""
    return f"S{subject_index + 1:02d}"


def record_path(subject_index: int, record_index: int = 0) -> str:
    """``(0, 0) -> "S01/S01_r1"``."""
    sid = subject_id(subject_index)
    return f"{sid}/{sid}_r{record_index + 1}"


def subject_traits(subject_index: int, config: PhysioSimulationConfig) -> SubjectTraits:
    """Draw a subject's constants from ``SeedSequence([seed, subject_index])``."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, subject_index]))
    age = int(rng.integers(20, 71))
    prone = rng.random() < config.apnea_prone_fraction
    return SubjectTraits(
        subject=subject_id(subject_index),
        age=age,
        sex=str(rng.choice(["F", "M"])),
        resting_hr_bpm=float(rng.uniform(55, 80)),
        resting_rr_bpm=float(rng.uniform(11, 18)),
        hr_lag_s=float(rng.uniform(20, 30)),
        rsa_bpm=float(rng.uniform(2, 6) * (1.3 - age / 100)),  # RSA fades with age
        pulse_arrival_s=float(rng.uniform(0.18, 0.26)),
        spo2_baseline=float(rng.uniform(95, 99)),
        ecg_gain_mv=float(rng.uniform(0.8, 1.8)),
        ppg_gain=float(rng.uniform(0.6, 1.4)),
        resp_gain=float(rng.uniform(0.7, 1.3)),
        apnea_rate_per_min=config.apnea_rate_per_min
        * (config.apnea_prone_factor if prone else 1.0)
        * float(rng.uniform(0.5, 1.5)),
        ecg_morphology=tuple(float(x) for x in rng.uniform(0.6, 1.4, size=5)),
        waveform_seed=int(rng.integers(2**31 - 1)),
    )


def _activity_schedule(
    rng: np.random.Generator, config: PhysioSimulationConfig
) -> list[tuple[int, int, str]]:
    """Segments ``(start_s, end_s, activity)``: rest, then rounds of sleep, shuffled exercise, rest.

    Sleep always follows rest (nobody falls asleep straight after a run, and the lagging heart
    rate would make such sleep look like exercise). Rounds rather than independent draws make a
    record of a few segments already cover several activities: small test corpora stay useful.
    """
    exercise = [a for a in config.activities if a not in ("rest", "sleep")]
    order = ["rest"]
    segments: list[tuple[int, int, str]] = []
    start = 0
    while start < config.duration_s:
        if not order:
            order = ["sleep"] if "sleep" in config.activities else []
            order += [str(a) for a in rng.permutation(exercise)] + ["rest"]
        length = int(rng.integers(config.segment_min_s, config.segment_max_s + 1))
        end = min(start + length, config.duration_s)
        if config.duration_s - end < config.segment_min_s // 2:
            end = config.duration_s  # no stub segment at the end
        segments.append((start, end, order.pop(0)))
        start = end
    return segments


def _apnea_episodes(
    rng: np.random.Generator, segments: list[tuple[int, int, str]], rate_per_min: float
) -> list[tuple[int, int]]:
    """Non-overlapping 10-40 s episodes inside rest and sleep segments, Poisson counts."""
    episodes: list[tuple[int, int]] = []
    for start, end, activity in segments:
        if activity not in ("rest", "sleep"):
            continue
        # Keep 3 s of normal breathing at both segment edges and 15 s between episodes.
        cursor, stop = start + 3, end - 3
        for _ in range(rng.poisson(rate_per_min * (end - start) / 60)):
            room = stop - cursor
            if room < 10:
                break
            duration = int(rng.integers(10, min(40, room) + 1))
            onset = cursor + int(rng.integers(0, min(room - duration, 60) + 1))
            episodes.append((onset, onset + duration))
            cursor = onset + duration + 15
    return episodes


def _lag(x: np.ndarray, tau_s: float, fs: float) -> np.ndarray:
    """First-order low-pass (exponential lag) starting at ``x[0]``."""
    a = 1.0 - np.exp(-1.0 / (tau_s * fs))
    y, _ = sps.lfilter([a], [1.0, a - 1.0], x, zi=[x[0] * (1.0 - a)])
    return y


def _ou(rng: np.random.Generator, n: int, fs: float, tau_s: float, std: float) -> np.ndarray:
    """Stationary Ornstein-Uhlenbeck noise: slow drift with correlation time ``tau_s``."""
    rho = np.exp(-1.0 / (tau_s * fs))
    e = rng.standard_normal(n) * std * np.sqrt(1.0 - rho**2)
    y, _ = sps.lfilter([1.0], [1.0, -rho], e, zi=[rho * rng.normal(0.0, std)])
    return y


def _band_noise(rng: np.random.Generator, n: int, fs: float, lo: float, hi: float) -> np.ndarray:
    """Unit-std Gaussian noise band-limited to ``[lo, hi]`` Hz."""
    sos = sps.butter(2, [lo, min(hi, 0.45 * fs)], btype="band", fs=fs, output="sos")
    x = sps.sosfilt(sos, rng.standard_normal(n))
    return x / (np.std(x) + 1e-12)


def _spikes(rng: np.random.Generator, n: int, fs: float, rate_per_min: float) -> np.ndarray:
    """Sparse 10-30 ms spikes of unit-to-triple amplitude and random sign (electrode pops)."""
    out = np.zeros(n)
    for _ in range(rng.poisson(rate_per_min * n / fs / 60)):
        at = int(rng.integers(0, n))
        width = max(1, int(rng.uniform(0.01, 0.03) * fs))
        out[at : at + width] += rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 3.0)
    return out


def _per_sample(values_per_second: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Hold per-second values over the sample grid (padding takes the edge seconds)."""
    second = np.clip(np.floor(t).astype(np.int64), 0, len(values_per_second) - 1)
    return values_per_second[second]


def _desaturation(
    t: np.ndarray, rng: np.random.Generator, episodes: list[tuple[int, int]]
) -> np.ndarray:
    """SpO2 drop: falls 3-10 % from 10-20 s after onset, nadir at end + lag, recovers (tau 8 s)."""
    drop = np.zeros_like(t)
    for start, end in episodes:
        depth, lag = rng.uniform(3, 10), rng.uniform(10, 20)
        x = np.clip((t - start - lag) / (end - start), 0.0, 1.0)
        falling = depth * x * x * (3 - 2 * x)  # smoothstep
        recovering = depth * np.exp(-np.maximum(t - end - lag, 0.0) / 8.0)
        drop += np.where(t < end + lag, falling, recovering)
    return drop


def simulate_subject(
    subject_index: int, config: PhysioSimulationConfig, record_index: int = 0
) -> SimulatedRecording:
    """Simulate record ``record_index`` of subject ``subject_index``.

    Args:
        subject_index: 0-based; subject id ``S{subject_index + 1:02d}``.
        config: The corpus config (duration, rate, seed, ...).
        record_index: 0-based record of this subject; records share the subject's traits.

    Returns:
        The signals, R peaks and per-second ground truth.
    """
    fs = float(config.sample_rate_hz)
    n_seconds = int(config.duration_s)
    n = int(round(n_seconds * fs))
    traits = subject_traits(subject_index, config)
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, subject_index, record_index]))
    ns = config.noise_scale

    segments = _activity_schedule(rng, config)
    episodes = _apnea_episodes(rng, segments, traits.apnea_rate_per_min)

    # Per-second activity targets, drawn per segment.
    act = np.empty(n_seconds, dtype=object)
    hr_target, rr_target, depth_target, intensity, rsa_scale, cadence = (
        np.zeros(n_seconds) for _ in range(6)
    )
    gravity = np.zeros((n_seconds, 3))
    acc_amp = np.zeros(n_seconds)
    for start, end, name in segments:
        p = ACTIVITY_PROFILES[name]
        s = slice(start, end)
        act[s] = name
        hr_target[s] = rng.uniform(*p.hr_delta_bpm)
        rr_target[s] = (
            rng.uniform(*p.rr_absolute_bpm) - traits.resting_rr_bpm
            if p.rr_absolute_bpm
            else rng.uniform(*p.rr_delta_bpm)
        )
        depth_target[s], intensity[s], rsa_scale[s] = p.breath_depth, p.intensity, p.rsa_scale
        cadence[s] = rng.uniform(*p.cadence_hz) if p.cadence_hz[1] > 0 else 0.0
        acc_amp[s] = p.acc_amplitude_g * rng.uniform(0.85, 1.15)
        posture = np.asarray(p.postures[rng.integers(len(p.postures))])
        gravity[s] = posture + rng.normal(0, 0.05, 3)  # strap sits a little differently
    apnea = np.zeros(n_seconds, dtype=np.int8)
    for start, end in episodes:
        apnea[start:end] = 1

    # Padded time grid: phases start before 0 and end after the record so cycles are whole.
    n_pad = int(round(_PAD_S * fs))
    t = (np.arange(n + 2 * n_pad) - n_pad) / fs
    m = len(t)
    out = slice(n_pad, n_pad + n)
    t_out = t[out]

    # Apnea gate (breathing stops), post-apnea recovery (deep fast breaths, arousal tachycardia).
    in_apnea = _per_sample(apnea.astype(float), t) * (t >= 0) * (t < n_seconds)
    gate = _lag(1.0 - 0.97 * in_apnea, 0.5, fs)
    since_end = np.full(m, np.inf)
    for _, end in episodes:
        since_end = np.where(t >= end, np.minimum(since_end, t - end), since_end)
    recovery = np.exp(-since_end / 8.0)

    # Respiration rate and phase; breath-to-breath variability of ~6 %.
    rr = (
        traits.resting_rr_bpm
        + _lag(_per_sample(rr_target, t), 15.0, fs)
        + _ou(rng, m, fs, 120.0, 1.0)
        + 3.0 * recovery
    ) * (1.0 + _ou(rng, m, fs, 3.0, 0.06))
    rr = np.clip(rr, 6.0, 45.0)
    resp_phase = np.cumsum(rr / 60.0) / fs + rng.uniform(0, 1)
    rsp_ref = cycle_warp.rsp_reference(traits.waveform_seed)
    resp_starts = cycle_warp.cycle_starts(t, resp_phase)
    offset = int(rng.integers(0, 1000))
    depth = _lag(_per_sample(depth_target, t), 10.0, fs) * gate * (1.0 + 0.6 * recovery)
    breath = cycle_warp.warp_reference(rsp_ref, resp_starts, t_out, offset)  # unit std
    resp_norm = depth[out] * breath

    # Heart rate: rest + lagged activity offset + drift + RSA (rises on inspiration) + apnea.
    arousal = rng.uniform(6, 12) * recovery - 3.0 * in_apnea
    rsa = traits.rsa_bpm * _lag(_per_sample(rsa_scale, t), 5.0, fs) * gate
    hr = (
        traits.resting_hr_bpm
        + _lag(_per_sample(hr_target, t), traits.hr_lag_s, fs)
        + _ou(rng, m, fs, 90.0, 3.0)
        + arousal
        + rsa * np.sin(2 * np.pi * resp_phase)
    )
    hr = np.clip(hr, 35.0, 200.0)
    beat_phase = np.cumsum(hr / 60.0) / fs + rng.uniform(0, 1)
    beat_starts = cycle_warp.cycle_starts(t, beat_phase)
    periods = np.diff(beat_starts)
    r_times = beat_starts[:-1] + cycle_warp.ecg_r_offset_s(periods)
    ecg_ref = cycle_warp.ecg_reference(traits.waveform_seed, traits.ecg_morphology)
    ecg_clean = cycle_warp.warp_reference(ecg_ref, beat_starts, t_out, offset, ecg_warp=True)

    # PPG: the pulse foot arrives 0.18-0.26 s after the R peak, sooner at higher heart rates.
    hr_at_r = np.interp(r_times, t, hr)
    onsets = r_times + np.clip(traits.pulse_arrival_s - 0.001 * (hr_at_r - 70.0), 0.1, 0.35)
    ppg_ref = cycle_warp.ppg_reference(traits.waveform_seed)
    pulse = cycle_warp.warp_reference(ppg_ref, onsets, t_out, offset)

    # Accelerometer: gravity of the posture (smoothed over posture changes) + cadence.
    g = np.stack([_lag(_per_sample(gravity[:, i], t_out), 1.5, fs) for i in range(3)], axis=1)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    step_hz = _per_sample(cadence, t_out) * (1.0 + _ou(rng, n, fs, 10.0, 0.02))
    step_phase = 2 * np.pi * np.cumsum(step_hz) / fs
    amp = _lag(_per_sample(acc_amp, t_out), 1.5, fs)
    vertical = amp * (np.sin(step_phase) + 0.35 * np.sin(2 * step_phase + 0.6))
    dynamic = np.stack(
        [0.4 * amp * np.sin(0.5 * step_phase), vertical, 0.5 * amp * np.sin(step_phase + 1.0)],
        axis=1,
    )
    inten = _lag(_per_sample(intensity, t_out), 2.0, fs)
    acc = g + dynamic + 0.004 * resp_norm[:, None] * g  # chest rise moves along gravity
    acc += ns * (0.003 + 0.01 * inten)[:, None] * rng.standard_normal((n, 3))

    # Motion artefacts share the step rhythm (as in PPG-DaLiA), scaled by activity intensity.
    step_artefact = vertical / max(float(np.max(np.abs(vertical))), 1e-3)

    ecg = traits.ecg_gain_mv * ecg_clean * (1.0 + 0.08 * np.clip(resp_norm, -2, 2))
    ecg += 0.06 * resp_norm  # respiration-induced baseline wander
    ecg += ns * (
        _ou(rng, n, fs, 3.0, 0.04)
        + 0.015 * rng.standard_normal(n)
        + inten * (0.08 * _band_noise(rng, n, fs, 1.0, 15.0) + 0.1 * step_artefact)
        + 0.8 * _spikes(rng, n, fs, config.spike_rate_per_min)
    )

    ppg = traits.ppg_gain * pulse * (1.0 + 0.1 * np.clip(resp_norm, -2, 2)) * (1 - 0.3 * inten)
    ppg += 0.1 * resp_norm  # respiration-induced intensity variation (venous return)
    ppg += ns * (
        _ou(rng, n, fs, 10.0, 0.08)
        + 0.01 * rng.standard_normal(n)
        + inten * (0.5 * step_artefact + 0.25 * _band_noise(rng, n, fs, 0.5, 4.0))
        + _spikes(rng, n, fs, config.spike_rate_per_min)
    )

    resp = traits.resp_gain * resp_norm
    resp += ns * (
        _ou(rng, n, fs, 20.0, 0.08) + 0.02 * rng.standard_normal(n) + 0.15 * inten * step_artefact
    )

    spo2 = traits.spo2_baseline + _ou(rng, n, fs, 60.0, 0.3) - _desaturation(t_out, rng, episodes)
    spo2 += ns * _lag(0.3 * rng.standard_normal(n), 0.5, fs)
    spo2 = np.minimum(spo2, 100.0)

    signals = dict(
        zip(SIGNAL_NAMES, (ecg, ppg, resp, acc[:, 0], acc[:, 1], acc[:, 2], spo2), strict=True)
    )

    # Ground truth per second, from the same phases that placed the beats and breaths.
    edges = np.arange(n_seconds + 1, dtype=np.float64)
    hr_bpm = 60.0 * np.diff(np.interp(edges, t, beat_phase))
    rr_bpm = np.where(apnea == 1, 0.0, 60.0 * np.diff(np.interp(edges, t, resp_phase)))
    r_samples = np.round(r_times * fs).astype(np.int64)
    r_samples = r_samples[(r_samples >= 0) & (r_samples < n)]

    return SimulatedRecording(
        traits=traits,
        record=record_path(subject_index, record_index),
        sample_rate_hz=fs,
        signals=signals,
        r_peak_samples=r_samples,
        hr_bpm=hr_bpm,
        rr_bpm=rr_bpm,
        activity=act.astype(str),
        apnea=apnea,
        apnea_episodes=episodes,
    )
