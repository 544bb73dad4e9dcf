"""The soundtrack's decoded frames are resampled in batches (one ``resample`` call per ~6 s
instead of one per AAC frame): the samples are exactly those of frame-by-frame resampling,
whatever the batch size, on the real talking-face clips (h264 + AAC)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from repo_paths import SHARED_DATA

from crossmodal_ray.pipelines.av import audio
from crossmodal_ray.pipelines.av.audio import read_with_pyav

CLIPS = sorted((SHARED_DATA / "talking_face").glob("*.mp4"))


def frame_by_frame(path: Path, rate: int) -> np.ndarray:
    """The reference: every decoded frame through the resampler on its own."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        out = []
        for frame in container.decode(container.streams.audio[0]):
            out += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out)


@pytest.mark.skipif(not CLIPS, reason="../shared/data/talking_face is absent")
@pytest.mark.parametrize("batch_samples", [1024, 5000, audio.RESAMPLE_BATCH_SAMPLES])
def test_batched_resampling_equals_frame_by_frame(monkeypatch, batch_samples):
    monkeypatch.setattr(audio, "RESAMPLE_BATCH_SAMPLES", batch_samples)
    for clip in CLIPS:
        samples, first = read_with_pyav(clip, 16000)
        assert first == 0.0  # these clips' audio starts at 0: nothing dropped or prepended
        assert np.array_equal(samples, frame_by_frame(clip, 16000))
