"""Why an annotation row, a video or a track segment is rejected: one class per reason.

``error_type`` in ``_rejected/`` is the class name. Each is an
:class:`~crossmodal_ray.pipelines.core.quarantine.IngestError`.
"""

from __future__ import annotations

from crossmodal_ray.pipelines.core.quarantine import IngestError


class MalformedCsvFileError(IngestError):
    """An annotation CSV that cannot be read at all (permissions, a folder named ``*.csv``)."""


class MissingColumnsError(IngestError):
    """An annotation CSV whose header row lacks one of the 8 AVA columns (or names one twice):
    the whole file is rejected."""


class WrongColumnCountError(IngestError):
    """An annotation row without exactly the 8 AVA columns (missing or extra columns), or,
    in a file with a header row, without as many fields as the header names."""


class BadUtf8Error(IngestError):
    """An annotation row holding bytes that are not UTF-8."""


class NonNumericFieldError(IngestError):
    """A timestamp or box coordinate that is not a finite number (or a negative timestamp)."""


class EmptyIdError(IngestError):
    """An annotation row with an empty video id or entity id."""


class UnknownLabelError(IngestError):
    """A label other than SPEAKING_AUDIBLE, SPEAKING_NOT_AUDIBLE, NOT_SPEAKING."""


class BoxOutOfRangeError(IngestError):
    """A normalised box coordinate outside [0, 1] by more than the tolerance."""


class InvertedBoxError(IngestError):
    """A box with x2 <= x1 or y2 <= y1 (inverted or empty)."""


class DuplicateAnnotationError(IngestError):
    """A second annotation of the same entity at the same timestamp."""


class MissingVideoError(IngestError):
    """A video id the CSVs annotate but no ``<video_id>.mp4|mkv|webm`` exists for."""


class CorruptVideoError(IngestError):
    """A video neither decord nor PyAV can open or decode (truncated, not a video)."""


class NoVideoStreamError(IngestError):
    """A file named as a video that holds no video stream (an audio-only file)."""


class EmptyVideoError(IngestError):
    """A video file with zero frames (or an empty file)."""


class NoAudioTrackError(IngestError):
    """A video without an audio stream (ASD needs the soundtrack)."""


class CorruptAudioError(IngestError):
    """An audio stream that cannot be decoded, or that holds no samples."""


class TimestampBeyondVideoError(IngestError):
    """An annotation timestamp after the end of its video."""


class ShortTrackError(IngestError):
    """A face track with fewer frames (at 25 fps) than ``min_track_frames``."""


class AudioTooShortError(IngestError):
    """The soundtrack ends more than ``max_audio_pad_s`` before a segment's last frame does."""
