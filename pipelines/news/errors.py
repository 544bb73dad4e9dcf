"""The news ingest's own rejection reasons (one class per reason, named in ``_rejected/``).

Images PIL cannot decode keep the image-text classes (``NotAnImageError``, ``CorruptImageError``,
``ZeroPixelImageError``, and ``ImageTooLargeError`` over ``--max-image-pixels``, from
``pipelines/image_text/errors.py``): one decoder, one vocabulary.
"""

from __future__ import annotations

from crossmodal_ray.pipelines.core.quarantine import IngestError


class MalformedFileError(IngestError):
    """A posts file that cannot be read as a whole (unreadable, no header naming the columns)."""


class MalformedLineError(IngestError):
    """A MediaEval line with the wrong column count, or a Weibo block that is not the three
    lines (metadata, image URLs, text) the EANN layout prescribes."""


class BadUtf8Error(IngestError):
    """A line of a post holds bytes that are not UTF-8."""


class DuplicatePostError(IngestError):
    """A post id already read (from an earlier file, or earlier in the same file)."""


class UnknownLabelError(IngestError):
    """A label that is not fake, real or humor (MediaEval), or no label at all."""


class HumorDroppedError(IngestError):
    """A MediaEval humor post, dropped as in the paper unless ``--keep-humor``."""


class EmptyTextError(IngestError):
    """The post's text is empty (or only whitespace)."""


class MissingImageError(IngestError):
    """No image file under the source for the post's image id (or URL file name)."""
