"""Why a physiological record or window is rejected: exception classes named for the reason.

``error_type`` in ``_rejected/`` is the class name, so ``TruncatedDataError`` tells a user more
than ``ValueError``. Each is an :class:`~crossmodal_ray.pipelines.core.quarantine.IngestError`.
"""

from __future__ import annotations

from crossmodal_ray.pipelines.core.quarantine import IngestError


class TruncatedDataError(IngestError):
    """A signal file holds fewer bytes than its header promises."""


class HeaderMismatchError(IngestError):
    """A header disagrees with its data (size, signal count, checksums)."""


class EmptyRecordError(IngestError):
    """A record with zero samples."""


class FlatSignalError(IngestError):
    """Every usable channel is entirely NaN or constant."""


class MissingChannelError(IngestError):
    """The record lacks the channel a label needs (no ECG/PPG for heart rate)."""


class NaNGapError(IngestError):
    """A window overlaps a NaN gap longer than ``max_gap_s``."""


class ShortRecordError(IngestError):
    """The record is shorter than one window."""


class UnreadableFileError(IngestError):
    """A file that cannot be decoded at all (corrupt pickle, unknown layout)."""


class SubjectConflictError(IngestError):
    """The label table gives one record rows of more than one subject."""


class ChecksumMismatchError(HeaderMismatchError):
    """A signal's samples do not add up to the checksum its header gives: the data is corrupt."""


class UnsupportedFormatError(IngestError):
    """A header declares a storage format no WFDB reader knows."""


class MissingSegmentError(IngestError):
    """A multi-segment record's master header lists a segment whose files are not there."""


class MissingKeyError(IngestError):
    """A PPG-DaLiA pickle lacks a key the reader needs."""


class WrongShapeError(IngestError):
    """A PPG-DaLiA array has the wrong shape, or a length its sample rate does not explain."""


class UnsafePickleError(IngestError):
    """A pickle asks to import or call something a data file never needs (code execution)."""
