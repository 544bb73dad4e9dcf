"""What the lips do while a voice speaks: the sound's syllables, loosely.

Real lips do not copy the loudness of the voice. Articulation leads or trails the sound by tens
of milliseconds (the lips close for a /b/ before it is heard, open for a vowel while its sound
is still rising), and how wide the mouth opens depends on the vowel and the speaker, not on how
loud the syllable is. The audio-visual synchrony an active speaker detector checks is therefore
a matter of rhythm (syllable by syllable, pause by pause), not of a frame-exact copy; a model
can also get far on clean data by asking only "is there speech, and does this mouth move", the
shortcut SyncTalkNet (Wuerkaixi et al., MLSP 2022) removes.

Each of an utterance's syllables becomes a mouth syllable whose onset moves by up to
``jitter`` seconds either way (uniform), whose duration is 0.75-1.3 times the sound's, and
whose peak opening is drawn anew (0.6-1.0, times the vowel's openness in
:mod:`.motion`). ``jitter`` 0 keeps the sound's syllables: mouths then follow the envelope
exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.av.turns import Syllable, Utterance

MIN_STRETCH = 0.75
MAX_STRETCH = 1.3


def articulate(
    rng: np.random.Generator, utterances: tuple[Utterance, ...], jitter: float
) -> tuple[Utterance, ...]:
    """The mouths' version of ``utterances`` (same speakers, starts and ends; see the module
    docstring); ``utterances`` itself when ``jitter`` is 0."""
    if jitter <= 0.0:
        return utterances
    mouthed = []
    for utterance in utterances:
        syllables = []
        for s in utterance.syllables:
            stretch = float(rng.uniform(MIN_STRETCH, MAX_STRETCH))
            duration = s.duration * stretch
            centre = s.onset + s.duration / 2 + float(rng.uniform(-jitter, jitter))
            syllables.append(
                Syllable(
                    onset=centre - duration / 2,
                    duration=duration,
                    peak=float(rng.uniform(0.6, 1.0)),
                    vowel=s.vowel,
                )
            )
        mouthed.append(dataclasses.replace(utterance, syllables=tuple(syllables)))
    return tuple(mouthed)
