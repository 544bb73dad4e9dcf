"""The config of the audio-visual sample corpus: sizes, who is on screen, how people talk, and
how many videos lose their audio-visual synchrony.

Defaults: 44 videos of 6-10 s at 25 fps (AVA's and TalkNet's frame rate), 192x144 px, 44.1 kHz
mono audio (as most real videos; the ingest resamples to TalkNet's 16 kHz. AAC pads its last
frame to 1,024 samples and decord 0.6 returns that padding: 23 ms at 44.1 kHz, under a video
frame, where it would be up to 64 ms at 16 kHz), casts of 1-2 people (10 % of them listeners
who never speak) in conversation: utterances of 1.5-4 s, 0.05-0.4 s between turns, lips that
lead or trail the voice by up to 80 ms per syllable (:mod:`.articulation`); shots of 1.5-3.5 s
(every shot starts new face tracks, as AVA's tracks end at shot boundaries), 15 % of the videos
desynchronised (half dubbed, half with audio shifted by 0.3-1.0 s). This gives 211 face tracks,
enough for the SyncTalkNet job's split by video.

Why these defaults: the paper's claim (Wuerkaixi et al., MLSP 2022) is that TalkNet, trained on
in-sync video, gets its clean results from "speech is heard and this mouth moves" and is fooled
when the audio is out of step. A corpus where mouths copy the loudness frame by frame, where
listeners chew while others talk, or where long silences separate the turns, makes
synchronisation an easy cue even without track exchange (measured: desync AUC within 0.03 of
SyncTalkNet's); conversation with little silence and lips that follow the voice loosely, as
on real video, does not. ``--lip-jitter-seconds 0 --fidget-share 0.35 --listener-share 0.3
--min-faces 2 --max-faces 4 --videos 24 --desync-share 0.3 --min-utterance-seconds 0.8
--max-utterance-seconds 2.6 --min-turn-gap-seconds 0.15 --max-turn-gap-seconds 1`` gives the
first version of this corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

SPEAKING_AUDIBLE = "SPEAKING_AUDIBLE"
SPEAKING_NOT_AUDIBLE = "SPEAKING_NOT_AUDIBLE"
NOT_SPEAKING = "NOT_SPEAKING"
LABELS = (SPEAKING_AUDIBLE, SPEAKING_NOT_AUDIBLE, NOT_SPEAKING)
IN_SYNC = "none"
DUBBED = "dubbed"  # the speakers' audio replaced by other voices with other timing
SHIFTED = "shifted"  # the soundtrack delayed or advanced against the picture
DESYNC_KINDS = (IN_SYNC, DUBBED, SHIFTED)


@dataclass(frozen=True)
class AVSampleConfig:
    """Size and content of the audio-visual sample corpus.

    Attributes:
        videos: number of videos.
        min_seconds: shortest video (seconds; rounded to whole frames).
        max_seconds: longest video.
        fps: video frame rate (AVA annotations and TalkNet run at 25 fps).
        width: frame width in pixels (even: yuv420p).
        height: frame height in pixels (a multiple of 4).
        sample_rate: audio sample rate in Hz (a multiple of fps: whole samples per frame).
        min_faces: fewest people in a video's cast.
        max_faces: most people in a video's cast (all of a shot's faces stand side by side).
        listener_share: chance that a cast member never speaks (at least one per video speaks).
        presence: chance that a cast member is on screen in a shot (at least one of the
            speakers is).
        min_shot_seconds: shortest shot; every shot starts new face tracks (new entity ids).
        max_shot_seconds: longest shot.
        reentry_share: chance that an on-screen face leaves for 0.4-1.0 s in the middle of a
            shot of 2.5 s or more and comes back (a new track, as in AVA).
        overlap_share: chance that a second speaker starts talking during an utterance (two
            speak at once; otherwise one speaker at a time).
        inaudible_share: share of utterances that are mouthed without sound, labelled
            SPEAKING_NOT_AUDIBLE (in synchronised videos).
        fidget_share: chance that a cast member chews or smiles while not speaking: mouth
            motion that follows no audio.
        desync_share: share of videos whose soundtrack is out of sync with the picture; their
            faces are all labelled NOT_SPEAKING, as the paper defines an active speaker.
        dubbed_share: share of the desynchronised videos that are dubbed (other voices, other
            timing); the rest have their soundtrack shifted.
        min_shift_seconds: smallest audio shift of a shifted video (either direction).
        max_shift_seconds: largest audio shift.
        min_f0: lowest voice fundamental in Hz.
        max_f0: highest voice fundamental in Hz.
        syllable_rate: mean syllables per second while speaking (the 4-5 Hz rhythm of speech).
        min_utterance_seconds: shortest utterance (a turn of one speaker).
        max_utterance_seconds: longest utterance.
        min_turn_gap_seconds: shortest silence between one utterance and the next.
        max_turn_gap_seconds: longest silence between turns.
        lip_jitter_seconds: the mouth's syllables start up to this much before or after the
            sound's (uniform, per syllable), last 0.75-1.3 times as long and open as wide as
            their vowel, not as loud as the sound: real lips lead or trail the voice by tens of
            milliseconds and their opening tells the loudness only loosely. 0 gives mouths
            that copy the sound's envelope exactly.
        crf: x264 constant rate factor of the video (lower is better quality).
        audio_bit_rate: AAC bit rate in bit/s.
        seed: base seed; video ``i`` is drawn from ``default_rng([seed, i, stream])``.
    """

    videos: int = 44
    min_seconds: float = 6.0
    max_seconds: float = 10.0
    fps: int = 25
    width: int = 192
    height: int = 144
    sample_rate: int = 44100
    min_faces: int = 1
    max_faces: int = 2
    listener_share: float = 0.1
    presence: float = 0.85
    min_shot_seconds: float = 1.5
    max_shot_seconds: float = 3.5
    reentry_share: float = 0.2
    overlap_share: float = 0.15
    inaudible_share: float = 0.05
    fidget_share: float = 0.0
    desync_share: float = 0.15
    dubbed_share: float = 0.5
    min_shift_seconds: float = 0.3
    max_shift_seconds: float = 1.0
    min_f0: float = 90.0
    max_f0: float = 250.0
    syllable_rate: float = 4.5
    min_utterance_seconds: float = 1.5
    max_utterance_seconds: float = 4.0
    min_turn_gap_seconds: float = 0.05
    max_turn_gap_seconds: float = 0.4
    lip_jitter_seconds: float = 0.08
    crf: int = 20
    audio_bit_rate: int = 64000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.videos < 1:
            raise ValueError(f"videos must be at least 1, got {self.videos}")
        if not 1.0 <= self.min_seconds <= self.max_seconds:
            raise ValueError("need 1 <= min_seconds <= max_seconds")
        if self.fps < 1 or self.sample_rate % self.fps:
            raise ValueError("sample_rate must be a positive multiple of fps")
        if self.width % 2 or self.height % 4 or min(self.width, self.height) < 64:
            # yuv420p halves both sides for chroma, whose rows PyAV takes in pairs per luma row.
            raise ValueError("width must be even, height a multiple of 4, both at least 64")
        if not 1 <= self.min_faces <= self.max_faces <= 6:
            raise ValueError("need 1 <= min_faces <= max_faces <= 6")
        if self.width / self.max_faces < 24:
            raise ValueError("max_faces leaves less than 24 px per face: raise width")
        if not 0.5 <= self.min_shot_seconds <= self.max_shot_seconds:
            raise ValueError("need 0.5 <= min_shot_seconds <= max_shot_seconds")
        shares = {
            "listener_share": self.listener_share,
            "presence": self.presence,
            "reentry_share": self.reentry_share,
            "overlap_share": self.overlap_share,
            "inaudible_share": self.inaudible_share,
            "fidget_share": self.fidget_share,
            "desync_share": self.desync_share,
            "dubbed_share": self.dubbed_share,
        }
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {share}")
        if not 0.0 < self.min_shift_seconds <= self.max_shift_seconds:
            raise ValueError("need 0 < min_shift_seconds <= max_shift_seconds")
        if not 50.0 <= self.min_f0 <= self.max_f0 <= 400.0:
            raise ValueError("need 50 <= min_f0 <= max_f0 <= 400 Hz")
        if not 2.0 <= self.syllable_rate <= 8.0:
            raise ValueError("syllable_rate must be 2..8 per second")
        if not 0.3 <= self.min_utterance_seconds <= self.max_utterance_seconds:
            raise ValueError("need 0.3 <= min_utterance_seconds <= max_utterance_seconds")
        if not 0.0 <= self.min_turn_gap_seconds <= self.max_turn_gap_seconds <= 5.0:
            raise ValueError("need 0 <= min_turn_gap_seconds <= max_turn_gap_seconds <= 5")
        if not 0.0 <= self.lip_jitter_seconds <= 0.2:
            raise ValueError("lip_jitter_seconds must be 0..0.2")
        if not 0 <= self.crf <= 51:
            raise ValueError("crf must be 0..51")

    def video_frames(self, seconds: float) -> int:
        """Whole frames of a video of ``seconds``."""
        return max(1, round(seconds * self.fps))

    @property
    def samples_per_frame(self) -> int:
        return self.sample_rate // self.fps
