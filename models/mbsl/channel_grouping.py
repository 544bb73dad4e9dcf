"""Group physiological channels by inter-modal distance (MBSL's channel grouping).

MBSL (Guo, Xu, Wu, Wang) splits the channels into groups of related modalities and gives each
group its own encoder; the contrastive loss then aligns groups. This module measures a distance
between every pair of channels on training windows and clusters them.

The distance: spectral Jensen-Shannon
-------------------------------------
For each window and channel we take the Hann-windowed periodogram, drop the DC bin and
normalise it to a distribution ``P_c(f)`` over frequency. For two channels of the same window

    d_w(a, b) = sqrt( JS(P_a || P_b) ),   JS = 1/2 KL(P_a || M) + 1/2 KL(P_b || M),
    M = (P_a + P_b) / 2, logarithms base 2,

which lies in [0, 1] and is a metric (Endres and Schindelin, 2003). The channel distance is the
mean of ``d_w`` over the windows where both channels are present (and not flat).

Why spectral and not 1 - |Pearson|: modalities that share a physiological rhythm are what a
group encoder can exploit, and a shared rhythm shows up as shared spectral peaks. The spectrum
ignores phase and scale, so it is unaffected by the pulse transit time between ECG R peaks and
the PPG upstroke (tens to hundreds of ms, which makes zero-lag correlation of ECG and PPG small),
by the sign/orientation of accelerometer axes, and by units. Measured per window and averaged,
it also rewards channels whose rhythms move together (heart rate and step rate change over a
recording). Consequences on wearable data: ECG and PPG share the heart-rate fundamental and its
harmonics; the three accelerometer axes share the motion (step/pedal) frequency; respiration and
SpO2 concentrate below 0.5 Hz.

Clustering: average-linkage agglomerative clustering (``scipy.cluster.hierarchy``, UPGMA), as
average linkage uses the full distance matrix and is not pulled by one noisy pair the way
single linkage is. Without ``n_groups`` the count maximises the mean silhouette over
2..C-1 groups (ties: fewer groups); at least 2 groups always (the loss contrasts groups).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

METHOD = "spectral-js+average-linkage"
_EPS = 1e-12


def _normalised_spectra(signals: np.ndarray, min_freq_hz: float, sample_rate_hz: float):
    """[n, C, T] -> ([n, C, F] spectra summing to 1 over F, [n, C] non-flat flags)."""
    x = signals.astype(np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    t = x.shape[-1]
    power = np.abs(np.fft.rfft(x * np.hanning(t), axis=-1)) ** 2  # n x C x (T//2+1)
    freqs = np.fft.rfftfreq(t, d=1.0 / sample_rate_hz)
    power = power[..., freqs >= max(min_freq_hz, freqs[1])]  # drop DC (and below min_freq_hz)
    total = power.sum(axis=-1, keepdims=True)  # n x C x 1
    scale = max(float(np.median(total)), _EPS)
    non_flat = total[..., 0] > 1e-10 * scale
    return power / np.maximum(total, _EPS), non_flat


def _pairwise_js_distance(spectra: np.ndarray) -> np.ndarray:
    """[n, C, F] distributions -> [n, C, C] sqrt(JS divergence) in bits."""
    p = spectra[:, :, None, :]  # n x C x 1 x F
    q = spectra[:, None, :, :]  # n x 1 x C x F
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(
            a > 0, a * (np.log2(np.maximum(a, _EPS)) - np.log2(np.maximum(b, _EPS))), 0
        ).sum(-1)

    js = 0.5 * kl(p, m) + 0.5 * kl(q, m)
    return np.sqrt(np.clip(js, 0.0, 1.0))


def inter_modal_distance(
    signals: np.ndarray,
    channel_present: np.ndarray | None,
    sample_rate_hz: float,
    min_freq_hz: float = 0.05,
    chunk_size: int = 256,
) -> np.ndarray:
    """Mean per-window spectral Jensen-Shannon distance between channels.

    Args:
        signals: [N, C, T] windows (any float dtype).
        channel_present: optional bool [N, C]; windows where either channel is absent (or
            flat) are skipped for that pair.
        sample_rate_hz: sampling rate of the windows.
        min_freq_hz: lowest frequency kept (DC drift of a few windows is not a rhythm).
        chunk_size: windows per vectorised chunk (memory ~ chunk * C^2 * T/2 floats).

    Returns:
        [C, C] symmetric distances in [0, 1], zero diagonal. A pair that never co-occurs gets
        1.0 (the maximum), so channels never seen together are not grouped by accident.
    """
    signals = np.asarray(signals)
    if signals.ndim != 3:
        raise ValueError(f"signals must be [N, C, T], got shape {signals.shape}")
    n, c, _ = signals.shape
    present = (
        np.ones((n, c), bool) if channel_present is None else np.asarray(channel_present, bool)
    )
    total = np.zeros((c, c))
    count = np.zeros((c, c))
    for start in range(0, n, chunk_size):
        spectra, non_flat = _normalised_spectra(
            signals[start : start + chunk_size], min_freq_hz, sample_rate_hz
        )
        ok = present[start : start + chunk_size] & non_flat  # n x C
        both = ok[:, :, None] & ok[:, None, :]  # n x C x C
        d = _pairwise_js_distance(spectra)
        total += np.where(both, d, 0.0).sum(axis=0)
        count += both.sum(axis=0)
    distance = np.where(count > 0, total / np.maximum(count, 1), 1.0)
    distance = 0.5 * (distance + distance.T)
    np.fill_diagonal(distance, 0.0)
    return distance


def _silhouette(distance: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette (Rousseeuw, 1987) from a precomputed distance; singletons score 0."""
    scores = []
    for i in range(len(labels)):
        same = labels == labels[i]
        if same.sum() == 1:
            scores.append(0.0)
            continue
        a = distance[i, same & (np.arange(len(labels)) != i)].mean()
        b = min(
            distance[i, labels == other].mean() for other in np.unique(labels) if other != labels[i]
        )
        scores.append((b - a) / max(a, b, _EPS))
    return float(np.mean(scores))


def _labels_to_groups(labels: np.ndarray) -> list[list[int]]:
    """Cluster labels -> groups of sorted channel indices, ordered by their first channel."""
    groups = [sorted(np.flatnonzero(labels == k).tolist()) for k in np.unique(labels)]
    return sorted(groups, key=lambda g: g[0])


def group_channels(
    distance: np.ndarray, n_groups: int | None = None, max_groups: int | None = None
) -> list[list[int]]:
    """Average-linkage clustering of channels.

    Args:
        distance: [C, C] symmetric distance matrix (C >= 2).
        n_groups: number of groups; None chooses it by the best mean silhouette over
            2..min(C - 1, max_groups) (C = 2 gives 2 groups).
        max_groups: upper bound for the automatic choice.

    Returns:
        Groups of channel indices (each sorted, groups ordered by first channel).
    """
    d = np.asarray(distance, dtype=np.float64)
    c = d.shape[0]
    if d.shape != (c, c) or c < 2:
        raise ValueError(f"distance must be [C, C] with C >= 2, got {d.shape}")
    d = 0.5 * (d + d.T)
    np.fill_diagonal(d, 0.0)
    tree = linkage(squareform(d, checks=False), method="average")

    def cut(k: int) -> np.ndarray:
        return fcluster(tree, t=k, criterion="maxclust")

    if n_groups is not None:
        if not 1 <= n_groups <= c:
            raise ValueError(f"n_groups must be in 1..{c}, got {n_groups}")
        return _labels_to_groups(cut(n_groups))
    upper = c - 1 if c > 2 else 2
    if max_groups is not None:
        upper = max(2, min(upper, max_groups))
    best_labels, best_score = None, -np.inf
    for k in range(2, upper + 1):
        labels = cut(k)
        if len(np.unique(labels)) < 2:
            continue
        score = _silhouette(d, labels)
        if score > best_score + 1e-9:  # strict: ties keep fewer groups
            best_labels, best_score = labels, score
    if best_labels is None:  # degenerate (all distances equal): split off the last channel
        best_labels = np.array([1] * (c - 1) + [2])
    return _labels_to_groups(best_labels)


@dataclass
class ChannelGrouping:
    """A channel grouping to persist with a checkpoint.

    Attributes:
        groups: channel indices per group.
        distance: [C, C] distance matrix it was computed from (list of lists when loaded).
        method: how (``"spectral-js+average-linkage"``, or ``"fixed"`` for a hand-set one).
        channel_names: optional names in channel order (``pipelines.physio.schema.CHANNELS``).
    """

    groups: list[list[int]]
    distance: np.ndarray | None = None
    method: str = METHOD
    channel_names: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        signals: np.ndarray,
        channel_present: np.ndarray | None,
        sample_rate_hz: float,
        n_groups: int | None = None,
        max_groups: int | None = None,
        channel_names: Sequence[str] | None = None,
    ) -> ChannelGrouping:
        """Distance on ``signals`` then clustering (see the module docstring)."""
        distance = inter_modal_distance(signals, channel_present, sample_rate_hz)
        groups = group_channels(distance, n_groups=n_groups, max_groups=max_groups)
        names = tuple(channel_names) if channel_names is not None else None
        return cls(groups=groups, distance=distance, channel_names=names)

    def as_tuple(self) -> tuple[tuple[int, ...], ...]:
        """Groups in ``MBSLConfig.groups`` form."""
        return tuple(tuple(g) for g in self.groups)

    def named_groups(self) -> list[list[str]] | None:
        """Groups as channel names, None without names."""
        if self.channel_names is None:
            return None
        return [[self.channel_names[i] for i in g] for g in self.groups]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "groups": [list(map(int, g)) for g in self.groups],
            "distance": None if self.distance is None else np.asarray(self.distance).tolist(),
            "method": self.method,
            "channel_names": None if self.channel_names is None else list(self.channel_names),
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChannelGrouping:
        """Inverse of :meth:`to_dict`."""
        distance = data.get("distance")
        names = data.get("channel_names")
        return cls(
            groups=[list(map(int, g)) for g in data["groups"]],
            distance=None if distance is None else np.asarray(distance, dtype=np.float64),
            method=data.get("method", METHOD),
            channel_names=None if names is None else tuple(names),
            extra=dict(data.get("extra", {})),
        )
