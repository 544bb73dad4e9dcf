"""The image-text ingest's own rejection reasons (one class per reason, named in ``_rejected/``)."""

from __future__ import annotations

from crossmodal_ray.pipelines.core.quarantine import IngestError


class MalformedAnnotationError(IngestError):
    """An annotation file is not valid JSON, or not the structure its format prescribes."""


class UnknownImageError(IngestError):
    """An annotation names an image id that the corpus's image list does not hold."""


class MissingImageError(IngestError):
    """The image file of a listed image does not exist."""


class NotAnImageError(IngestError):
    """The file is not an image PIL can identify (a text file named ``.jpg``)."""


class CorruptImageError(IngestError):
    """The file starts like an image but cannot be decoded (truncated, broken data)."""


class ZeroPixelImageError(IngestError):
    """The image has no pixels (a width or height of 0)."""


class ImageTooLargeError(IngestError):
    """The image's header gives more pixels than ``--max-image-pixels`` (decompression bombs)."""


class EmptyCaptionError(IngestError):
    """A caption or region phrase is empty (or only whitespace)."""


class BadUtf8Error(IngestError):
    """A caption or region phrase holds bytes that are not UTF-8."""


class NoCaptionError(IngestError):
    """An image has no usable caption left (COCO) or no object and no region (Visual Genome)."""


class BoxOutsideImageError(IngestError):
    """A box reaches beyond the image by more than the tolerance."""


class BadBoxError(IngestError):
    """A box is empty (width or height <= 0), not four finite numbers, or missing."""


class DroppedEndpointError(IngestError):
    """A relation whose subject or object was rejected is dropped with it."""
